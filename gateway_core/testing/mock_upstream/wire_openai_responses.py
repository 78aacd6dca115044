"""The OpenAI Responses wire (``POST .../responses``).

Non-stream: a ``response`` object. Its ``output`` holds a ``message`` item with one
``output_text`` part (when there is text) and one ``function_call`` item per call
(``id`` ``fc_…``, ``call_id`` the scenario's call id). The scenario's finish decides the status
(:data:`STATUS`): ``stop`` and ``tool_calls`` are ``completed``, ``length`` and ``content_filter``
are ``incomplete`` with that ``incomplete_details.reason``. ``usage`` is
``{input_tokens, input_tokens_details: {cached_tokens, cache_write_tokens}, output_tokens,
output_tokens_details: {reasoning_tokens}, total_tokens}``, ``null`` for ``usage=0``. The
request's own fields (``instructions``, ``tools``, ``text``, ``temperature``, …) are echoed.

Stream: every frame is ``event: <type>`` + ``data: {"type", "sequence_number", …}`` (numbers
from 0), the official event sequence::

    response.created, response.in_progress        the response, in_progress, output [], usage null
    response.output_item.added                    message (content []) / function_call (arguments "")
    response.content_part.added                   the message's output_text part, text ""
    response.output_text.delta                    {item_id, output_index, content_index: 0, delta, logprobs: []}
    response.function_call_arguments.delta        {item_id, output_index, delta}
    response.output_text.done, response.content_part.done, response.output_item.done
                                                  the message closes when the first call starts
    response.function_call_arguments.done, response.output_item.done
                                                  calls close at the finish
    response.completed | response.incomplete      the full response: output items and usage

There is no ``data: [DONE]``: the terminal event ends the stream, as on the real API. For
``tools_parallel`` the two ``function_call`` items stay open together and their argument deltas
interleave; the real API streams one item at a time, the gateway contract requires decoders to
cope anyway.

An in-band error is an ``error`` event ``{code, message, param: null}`` followed by
``response.failed`` (the response with ``status: failed`` and ``error: {code, message}``). HTTP
errors have the Chat Completions error body (:func:`.wire_openai.error_object`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .scenarios import (
    Completion,
    Event,
    Finish,
    RequestContext,
    StreamError,
    TextDelta,
    ToolCallArgs,
    ToolCallStart,
    Usage,
    dumps,
)
from .wire_openai import error_object

__all__ = ["STATUS", "WIRE", "OpenAIResponsesWire"]

#: Scenario finish reason -> (response ``status``, ``incomplete_details.reason``).
STATUS: Mapping[str, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _failure_code(status: int) -> str:
    # ``response.error.code`` is a closed set on the real API; these two cover the scenarios.
    return "rate_limit_exceeded" if status == 429 else "server_error"


def _response(
    ctx: RequestContext,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    *,
    reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = ctx.body
    reasoning = body.get("reasoning")
    return {
        "id": f"resp_mock{ctx.seq:020d}",
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None, **(reasoning if isinstance(reasoning, dict) else {})},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": _usage(usage),
    }


def _message_id(ctx: RequestContext) -> str:
    return f"msg_mock{ctx.seq:020d}"


def _item_id(call_id: str) -> str:
    return "fc_" + call_id.removeprefix("call_")


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [_text_part(text)] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _function_call(call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": _item_id(call_id),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


class _Stream:
    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        self._sequence = 0
        self._items: list[dict[str, Any]] = []  # by output_index; open items are replaced when they close
        self._message: tuple[int, str] | None = None  # (output_index, text so far) of the open message
        self._calls: dict[int, int] = {}  # scenario call index -> output_index
        self._open_calls: list[int] = []

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = dumps({"type": kind, "sequence_number": self._sequence, **data})
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + payload.encode() + b"\n\n"

    def _add(self, item: dict[str, Any]) -> tuple[int, bytes]:
        index = len(self._items)
        self._items.append(item)
        return index, self._event("response.output_item.added", {"output_index": index, "item": item})

    def _close_message(self) -> list[bytes]:
        if self._message is None:
            return []
        index, text = self._message
        self._message = None
        ids = {"item_id": _message_id(self._ctx), "output_index": index, "content_index": 0}
        self._items[index] = _message(_message_id(self._ctx), text)
        return [
            self._event("response.output_text.done", {**ids, "text": text, "logprobs": []}),
            self._event("response.content_part.done", {**ids, "part": _text_part(text)}),
            self._event("response.output_item.done", {"output_index": index, "item": self._items[index]}),
        ]

    def _close_calls(self) -> list[bytes]:
        frames: list[bytes] = []
        for index in self._open_calls:
            item = {**self._items[index], "status": "completed"}
            self._items[index] = item
            done = {"item_id": item["id"], "output_index": index, "name": item["name"], "arguments": item["arguments"]}
            frames.append(self._event("response.function_call_arguments.done", done))
            frames.append(self._event("response.output_item.done", {"output_index": index, "item": item}))
        self._open_calls.clear()
        return frames

    def start(self) -> list[bytes]:
        response = _response(self._ctx, "in_progress", [])
        return [
            self._event("response.created", {"response": response}),
            self._event("response.in_progress", {"response": response}),
        ]

    def event(self, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ToolCallStart):
            frames = self._close_message()
            index, frame = self._add(_function_call(event.id, event.name, "", "in_progress"))
            self._calls[event.index] = index
            self._open_calls.append(index)
            return [*frames, frame]
        if isinstance(event, ToolCallArgs):
            index = self._calls[event.index]
            item = self._items[index]
            self._items[index] = {**item, "arguments": item["arguments"] + event.arguments}
            delta = {"item_id": item["id"], "output_index": index, "delta": event.arguments}
            return [self._event("response.function_call_arguments.delta", delta)]
        if isinstance(event, Finish):
            frames = [*self._close_message(), *self._close_calls()]
            status, reason = STATUS[event.reason]
            response = _response(self._ctx, status, list(self._items), event.usage, reason=reason)
            return [*frames, self._event(f"response.{status}", {"response": response})]
        return self._failure(event)

    def _text(self, text: str) -> list[bytes]:
        frames: list[bytes] = []
        if self._message is None:
            index, frame = self._add(_message(_message_id(self._ctx), "", "in_progress"))
            ids = {"item_id": _message_id(self._ctx), "output_index": index, "content_index": 0}
            frames += [frame, self._event("response.content_part.added", {**ids, "part": _text_part("")})]
            self._message = (index, "")
        index, so_far = self._message
        self._message = (index, so_far + text)
        ids = {"item_id": _message_id(self._ctx), "output_index": index, "content_index": 0}
        return [*frames, self._event("response.output_text.delta", {**ids, "delta": text, "logprobs": []})]

    def _failure(self, error: StreamError) -> list[bytes]:
        wire = error_object(error.status, error.message)
        code = wire["code"] or wire["type"]
        failed = {"code": _failure_code(error.status), "message": error.message}
        response = _response(self._ctx, "failed", list(self._items), error=failed)
        return [
            self._event("error", {"code": code, "message": error.message, "param": None}),
            self._event("response.failed", {"response": response}),
        ]

    def end(self, *, errored: bool) -> list[bytes]:
        return []  # the terminal event (or response.failed) already ended the stream


class OpenAIResponsesWire:
    name = "openai-responses"

    def completion(self, ctx: RequestContext, result: Completion) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if result.text:
            output.append(_message(_message_id(ctx), result.text))
        output.extend(_function_call(c.id, c.name, c.arguments) for c in result.tool_calls)
        status, reason = STATUS[result.finish_reason]
        return _response(ctx, status, output, result.usage, reason=reason)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": error_object(status, message)}

    def stream(self, ctx: RequestContext) -> _Stream:
        return _Stream(ctx)


WIRE = OpenAIResponsesWire()

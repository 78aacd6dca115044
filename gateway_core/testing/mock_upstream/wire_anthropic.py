"""The Anthropic Messages wire (``POST .../v1/messages``).

Non-stream: a ``message`` object whose ``content`` holds a ``text`` block (when there is text)
and one ``tool_use`` block per call (``input`` is an object), ``stop_reason`` mapped from the
scenario's finish (:data:`STOP_REASONS`) and ``usage`` ``{input_tokens, output_tokens}``.

Stream: every frame is ``event: <type>`` + ``data: <json>`` like the real API::

    message_start        message with empty content; usage {input_tokens, output_tokens: 1}
    ping                 once, right after message_start
    content_block_start  per block: {"type":"text","text":""} or {"type":"tool_use","id","name","input":{}}
    content_block_delta  text_delta {text} / input_json_delta {partial_json}
    content_block_stop   a text block closes when a tool block starts; tool blocks at the finish
    message_delta        {"delta":{"stop_reason","stop_sequence":null},"usage":{"output_tokens"}}
    message_stop

For ``tools_parallel`` the two ``tool_use`` blocks stay open together and their
``input_json_delta`` frames interleave, each with its own block ``index``. The real API never
interleaves blocks; the gateway contract requires decoders to cope anyway.

An in-band error is ``event: error`` with ``{"type":"error","error":{"type","message"}}`` and
ends the stream. HTTP errors carry the same body with the error type of :data:`ERRORS`.

Usage is omitted everywhere for ``usage=0``. When the request carries a ``cache_control``
marker anywhere (top level or on any block), usage also reports prompt-cache tokens, carved out
of the input tokens: half as ``cache_read_input_tokens``, a quarter as
``cache_creation_input_tokens`` (Anthropic counts the three separately; their sum is the
prompt size).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .scenarios import (
    Completion,
    Event,
    Finish,
    RequestContext,
    TextDelta,
    ToolCallArgs,
    ToolCallStart,
    Usage,
    dumps,
    parse_model,
    sse_data,
)

__all__ = ["ERRORS", "STOP_REASONS", "WIRE", "AnthropicWire", "error_type"]

#: HTTP status -> Anthropic ``error.type``; other 4xx are ``invalid_request_error``, other 5xx ``api_error``.
ERRORS: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

#: Scenario finish reason -> Anthropic ``stop_reason``.
STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def error_type(status: int) -> str:
    return ERRORS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\n" + sse_data({"type": kind, **data})


def _wants_cache(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_wants_cache(v) for v in value.values())
    if isinstance(value, list):
        return any(_wants_cache(v) for v in value)
    return False


def _input_tokens(body: Mapping[str, Any]) -> int:
    # The count scenarios.py puts in Finish.usage; message_start needs it before the finish.
    return math.ceil(len(dumps(body.get("messages", [])).encode()) / 4)


def _usage(input_tokens: int, output_tokens: int, cached: bool) -> dict[str, int]:
    if not cached:
        return {"input_tokens": input_tokens, "output_tokens": output_tokens}
    read, creation = input_tokens // 2, input_tokens // 4
    return {
        "input_tokens": input_tokens - read - creation,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
        "output_tokens": output_tokens,
    }


def _message_id(ctx: RequestContext) -> str:
    return f"msg_mock{ctx.seq:020d}"


def _tool_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


class _Stream:
    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx
        # The server parsed this model string already; only the usage switch matters here.
        self._with_usage = parse_model(ctx.model).number("usage", 1) != 0
        self._cached = _wants_cache(ctx.body)
        self._blocks = 0
        self._text_block: int | None = None
        self._tool_blocks: dict[int, int] = {}
        self._open: list[int] = []

    def _start_block(self, block: dict[str, Any]) -> tuple[int, bytes]:
        index, self._blocks = self._blocks, self._blocks + 1
        self._open.append(index)
        return index, _event("content_block_start", {"index": index, "content_block": block})

    def _stop_block(self, index: int) -> bytes:
        self._open.remove(index)
        return _event("content_block_stop", {"index": index})

    def start(self) -> list[bytes]:
        message: dict[str, Any] = {
            "id": _message_id(self._ctx),
            "type": "message",
            "role": "assistant",
            "model": self._ctx.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if self._with_usage:
            message["usage"] = _usage(_input_tokens(self._ctx.body), 1, self._cached)
        return [_event("message_start", {"message": message}), _event("ping", {})]

    def event(self, event: Event) -> list[bytes]:
        frames: list[bytes] = []
        if isinstance(event, TextDelta):
            if self._text_block is None:
                self._text_block, frame = self._start_block({"type": "text", "text": ""})
                frames.append(frame)
            delta = {"type": "text_delta", "text": event.text}
            frames.append(_event("content_block_delta", {"index": self._text_block, "delta": delta}))
        elif isinstance(event, ToolCallStart):
            if self._text_block is not None:
                frames.append(self._stop_block(self._text_block))
                self._text_block = None
            block = {"type": "tool_use", "id": _tool_id(event.id), "name": event.name, "input": {}}
            self._tool_blocks[event.index], frame = self._start_block(block)
            frames.append(frame)
        elif isinstance(event, ToolCallArgs):
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            frames.append(_event("content_block_delta", {"index": self._tool_blocks[event.index], "delta": delta}))
        elif isinstance(event, Finish):
            frames.extend(self._stop_block(index) for index in list(self._open))
            data: dict[str, Any] = {"delta": {"stop_reason": STOP_REASONS[event.reason], "stop_sequence": None}}
            if event.usage is not None:
                data["usage"] = {"output_tokens": event.usage.output_tokens}
            frames += [_event("message_delta", data), _event("message_stop", {})]
        else:  # StreamError
            frames.append(_event("error", {"error": {"type": error_type(event.status), "message": event.message}}))
        return frames

    def end(self, *, errored: bool) -> list[bytes]:
        return []  # message_stop (or the error event) already ended the stream


class AnthropicWire:
    name = "anthropic"

    def completion(self, ctx: RequestContext, result: Completion) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if result.text:
            content.append({"type": "text", "text": result.text})
        content.extend(
            {"type": "tool_use", "id": _tool_id(c.id), "name": c.name, "input": json.loads(c.arguments or "{}")}
            for c in result.tool_calls
        )
        body: dict[str, Any] = {
            "id": _message_id(ctx),
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": content,
            "stop_reason": STOP_REASONS[result.finish_reason],
            "stop_sequence": None,
        }
        if result.usage is not None:
            usage: Usage = result.usage
            body["usage"] = _usage(usage.input_tokens, usage.output_tokens, _wants_cache(ctx.body))
        return body

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type(status), "message": message}}

    def stream(self, ctx: RequestContext) -> _Stream:
        return _Stream(ctx)


WIRE = AnthropicWire()

"""The OpenAI Chat Completions wire (``POST .../chat/completions``).

Non-stream: a ``chat.completion`` object. Stream: ``chat.completion.chunk`` frames -- a role
delta first, then ``content`` / ``tool_calls`` deltas (the first fragment of each call carries
``id``, ``type`` and ``function.name`` with empty ``arguments``; later fragments only
``index`` and ``function.arguments``), a chunk with ``finish_reason``, then -- only when the
request sets ``stream_options.include_usage`` -- a usage chunk with ``choices: []`` (and
``"usage": null`` on every other chunk, as OpenAI does), then ``data: [DONE]``.

An in-band error is a ``data: {"error": {...}}`` frame and ends the stream without
``[DONE]``. HTTP errors use ``{"error": {"message", "type", "param": null, "code"}}`` with
the type/code of :data:`ERRORS` (other 4xx: ``invalid_request_error``, 5xx: ``server_error``).
"""

from __future__ import annotations

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
    sse_data,
)

__all__ = ["ERRORS", "WIRE", "OpenAIWire"]

#: status -> (error.type, error.code)
ERRORS: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "overloaded"),
    504: ("server_error", "timeout"),
}


def error_object(status: int, message: str) -> dict[str, Any]:
    kind, code = ERRORS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"message": message, "type": kind, "param": None, "code": code}


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _completion_id(ctx: RequestContext) -> str:
    return f"chatcmpl-mock{ctx.seq:020d}"


class _Stream:
    def __init__(self, ctx: RequestContext) -> None:
        options = ctx.body.get("stream_options")
        self._include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self._base = {
            "id": _completion_id(ctx),
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "system_fingerprint": None,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            **self._base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return sse_data(chunk)

    def start(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": "", "refusal": None})]

    def event(self, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text})]
        if isinstance(event, ToolCallStart):
            call = {"index": event.index, "id": event.id, "type": "function"}
            return [self._chunk({"tool_calls": [{**call, "function": {"name": event.name, "arguments": ""}}]})]
        if isinstance(event, ToolCallArgs):
            return [self._chunk({"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]})]
        if isinstance(event, Finish):
            frames = [self._chunk({}, event.reason)]
            if self._include_usage and event.usage is not None:
                frames.append(sse_data({**self._base, "choices": [], "usage": _usage(event.usage)}))
            return frames
        return [sse_data({"error": error_object(event.status, event.message)})]

    def end(self, *, errored: bool) -> list[bytes]:
        return [] if errored else [sse_data("[DONE]")]


class OpenAIWire:
    name = "openai"

    def completion(self, ctx: RequestContext, result: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            # OpenAI sends null content when the model only called tools.
            "content": result.text if result.text or not result.tool_calls else None,
            "refusal": None,
        }
        if result.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in result.tool_calls
            ]
        body: dict[str, Any] = {
            "id": _completion_id(ctx),
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": result.finish_reason}],
            "system_fingerprint": None,
        }
        if result.usage is not None:
            body["usage"] = _usage(result.usage)
        return body

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": error_object(status, message)}

    def stream(self, ctx: RequestContext) -> _Stream:
        return _Stream(ctx)


WIRE = OpenAIWire()

"""The sandbox wire (``POST .../chat``): the gateway's own minimal provider format.

Non-stream body::

    {"text": str, "tool_calls": [{"id", "name", "arguments"}], "finish_reason": str,
     "usage": {"input_tokens": int, "output_tokens": int}}          # usage omitted when usage=0

Stream frames (``data: <compact json>``)::

    {"type":"text","text":...}
    {"type":"tool_call_start","index":i,"id":...,"name":...}
    {"type":"tool_call_args","index":i,"arguments":fragment}
    {"type":"finish","finish_reason":...,"usage":{...}?}
    [DONE]

An in-band error is ``{"type":"error","status":500,"message":...}`` and ends the stream
without ``[DONE]``. HTTP errors carry ``{"error":{"message":...,"type":...}}``.
"""

from __future__ import annotations

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

__all__ = ["WIRE", "SandboxWire"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def _usage(usage: Usage) -> dict[str, int]:
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


class _Stream:
    def start(self) -> list[bytes]:
        return []

    def event(self, event: Event) -> list[bytes]:
        frame: dict[str, Any]
        if isinstance(event, TextDelta):
            frame = {"type": "text", "text": event.text}
        elif isinstance(event, ToolCallStart):
            frame = {"type": "tool_call_start", "index": event.index, "id": event.id, "name": event.name}
        elif isinstance(event, ToolCallArgs):
            frame = {"type": "tool_call_args", "index": event.index, "arguments": event.arguments}
        elif isinstance(event, Finish):
            frame = {"type": "finish", "finish_reason": event.reason}
            if event.usage is not None:
                frame["usage"] = _usage(event.usage)
        else:  # StreamError
            frame = {"type": "error", "status": event.status, "message": event.message}
        return [sse_data(frame)]

    def end(self, *, errored: bool) -> list[bytes]:
        return [] if errored else [sse_data("[DONE]")]


class SandboxWire:
    name = "sandbox"

    def completion(self, ctx: RequestContext, result: Completion) -> dict[str, Any]:
        body: dict[str, Any] = {
            "text": result.text,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls],
            "finish_reason": result.finish_reason,
        }
        if result.usage is not None:
            body["usage"] = _usage(result.usage)
        return body

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type(status)}}

    def stream(self, ctx: RequestContext) -> _Stream:
        return _Stream()


WIRE = SandboxWire()

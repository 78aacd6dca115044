"""Translation between the canonical types and the sandbox wire format.

The sandbox wire format is deliberately tiny, so it doubles as a readable example of a wire
translation for plugin authors::

    POST /chat  {"model", "messages", "tools"?, "tool_choice"?, "response_format"?,
                 "temperature"?, "max_tokens", "stream"}
    200 JSON    {"text", "tool_calls": [{"id", "name", "arguments"}], "finish_reason",
                 "usage"?: {"input_tokens", "output_tokens"}}
    200 SSE     data: {"type": "text", "text"}
                data: {"type": "tool_call_start", "index", "id", "name"}
                data: {"type": "tool_call_args", "index", "arguments"}
                data: {"type": "finish", "finish_reason", "usage"?}
                data: {"type": "error", "status", "message"}
                data: [DONE]
    errors      {"error": {"message", "type"}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway_core.errors import ProviderError
from gateway_core.types import (
    Done,
    FunctionTool,
    Output,
    OutputToolCall,
    ProviderCall,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UpstreamFrame,
    Usage,
)

__all__ = ["SandboxDecoder", "parse_output", "request_body", "usage_from_wire"]


def request_body(call: ProviderCall) -> dict[str, Any]:
    """The JSON body of ``POST /chat`` for a chat call."""
    body: dict[str, Any] = {
        "model": call.upstream_model,
        "messages": [m.model_dump(mode="json", exclude_none=True, by_alias=True) for m in call.messages],
        "max_tokens": call.max_output_tokens,
        "stream": call.stream,
    }
    if call.tools:
        body["tools"] = [
            {"type": "function", "function": t.model_dump(exclude_none=True)} if isinstance(t, FunctionTool) else t
            for t in call.tools
        ]
    if call.tool_choice is not None:
        body["tool_choice"] = call.tool_choice.model_dump(exclude_none=True)
    if call.response_format is not None:
        body["response_format"] = call.response_format.model_dump(exclude_none=True, by_alias=True)
    if call.temperature is not None:
        body["temperature"] = call.temperature
    return body


def usage_from_wire(data: Any) -> Usage | None:
    if not isinstance(data, Mapping):
        return None
    prompt, completion = data.get("input_tokens"), data.get("output_tokens")
    total = prompt + completion if isinstance(prompt, int) and isinstance(completion, int) else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def parse_output(data: Mapping[str, Any]) -> Output:
    """A non-stream ``/chat`` answer -> :class:`Output`."""
    calls = [
        OutputToolCall(id=c.get("id"), name=c["name"], arguments=c.get("arguments") or "")
        for c in data.get("tool_calls") or ()
    ]
    return Output(
        content=data.get("text") or "",
        tool_calls=calls,
        finish_reason=data.get("finish_reason"),
        usage=usage_from_wire(data.get("usage")),
    )


class SandboxDecoder:
    """Sandbox SSE frames -> canonical events. Tool-call indices are the wire's own."""

    def __init__(self) -> None:
        self._done: Done | None = None

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        if frame.data == "[DONE]" or not frame.data:
            return ()
        event = frame.json()
        kind = event.get("type")
        if kind == "text":
            return (TextDelta(event["text"]),)
        if kind == "tool_call_start":
            return (ToolCallDelta(event["index"], id=event.get("id"), name=event.get("name")),)
        if kind == "tool_call_args":
            return (ToolCallDelta(event["index"], arguments=event.get("arguments", "")),)
        if kind == "finish":
            self._done = Done(event.get("finish_reason"), usage_from_wire(event.get("usage")))
            return ()
        if kind == "error":
            raise ProviderError(event.get("status"), event.get("message") or "Sandbox stream failed")
        return ()

    def close(self) -> Iterable[StreamEvent]:
        return (self._done or Done(),)

"""Encoding canonical stream events as ``chat.completion.chunk`` SSE frames (spec/chat.md §5).

The envelope of every chunk (id, object, created, model) is identical, so it is serialized
once per stream and each frame only serializes its delta: exact bytes, no per-chunk model
objects, no re-encoding of what is constant.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway_core.chat.completion import finish_reason, tool_call_id, usage_body
from gateway_core.streaming import sse_event
from gateway_core.types import (
    Done,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEvent,
    Usage,
)

__all__ = ["ChunkEncoder", "error_frame"]


class ChunkEncoder:
    """Frames for one chat stream. Feed events in order with :meth:`encode`."""

    def __init__(self, response_id: str, created: int, model: str) -> None:
        head = orjson.dumps({"id": response_id, "object": "chat.completion.chunk", "created": created, "model": model})
        # '{"id":…,"model":"m"' + ',"choices":…}' — the envelope without its closing brace.
        self._head = b"data: " + head[:-1]
        self._first = True
        self._has_tool_calls = False
        self._tool_ids: dict[int, str] = {}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if self._first:
            delta = {"role": "assistant", **delta}
            self._first = False
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return self._head + b',"choices":[' + orjson.dumps(choice) + b"]}\n\n"

    def encode(self, event: StreamEvent) -> bytes | None:
        """The frame for one event, or ``None`` for events this route ignores."""
        kind = type(event)
        if kind is TextDelta:
            text = event.text  # type: ignore[union-attr]
            return self._chunk({"content": text}) if text else None
        if kind is ReasoningDelta:
            text = event.text  # type: ignore[union-attr]
            return self._chunk({"reasoning_content": text}) if text else None
        if kind is ToolCallDelta:
            return self._chunk({"tool_calls": [self._tool_delta(event)]})  # type: ignore[arg-type]
        if kind is ToolCallEvent:
            return self._chunk({"tool_calls": [self._tool_call(event)]})  # type: ignore[arg-type]
        if kind is Done:
            reason = finish_reason(event.finish_reason, self._has_tool_calls)  # type: ignore[union-attr]
            return self._chunk({}, reason)
        return None  # image events are not part of chat streams

    def _tool_delta(self, event: ToolCallDelta) -> dict[str, Any]:
        self._has_tool_calls = True
        shaped: dict[str, Any] = {"index": event.index}
        if event.id or event.index not in self._tool_ids:
            # The first fragment of a call always carries an id (the provider's or a minted one),
            # so clients can key calls by id as OpenAI's do.
            shaped["id"] = self._tool_ids[event.index] = (
                event.id or self._tool_ids.get(event.index) or tool_call_id(None)
            )
        shaped["type"] = "function"
        function: dict[str, str] = {}
        if event.name:
            function["name"] = event.name
        if event.arguments:
            function["arguments"] = event.arguments
        shaped["function"] = function
        if event.provider_metadata:
            shaped["providerMetadata"] = event.provider_metadata
        return shaped

    def _tool_call(self, event: ToolCallEvent) -> dict[str, Any]:
        self._has_tool_calls = True
        shaped: dict[str, Any] = {
            "index": event.index,
            "id": tool_call_id(event.id),
            "type": "function",
            "function": {"name": event.name, "arguments": event.arguments},
        }
        if event.provider_metadata:
            shaped["providerMetadata"] = event.provider_metadata
        return shaped

    def usage(self, usage: Usage, usage_source: str) -> bytes:
        """The usage chunk that always follows the final chunk."""
        return self._head + b',"choices":[],"usage":' + orjson.dumps(usage_body(usage, usage_source)) + b"}\n\n"


def error_frame(code: str, message: str, type_: str) -> bytes:
    """The in-band ``compose.error`` frame of a stream that failed after it started."""
    error = {"message": message, "type": type_, "param": None, "code": code}
    return sse_event("compose.error", {"code": code, "message": message, "error": error})

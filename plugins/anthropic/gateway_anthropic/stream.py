"""Anthropic stream events -> canonical stream events, one frame at a time.

An Anthropic stream is ``message_start``, then per content block ``content_block_start`` /
``content_block_delta`` … / ``content_block_stop`` (each carrying the block's ``index``), then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``; ``ping`` may come at any
time and ``error`` ends a stream that fails after it started.

Tool calls: the OpenAI-style ``index`` of a call counts ``tool_use`` blocks in the order their
``content_block_start`` arrives, whatever text or thinking blocks sit between them, and each
block index keeps its call index for all its ``input_json_delta`` fragments, so interleaved
blocks still reassemble. A tool block that streamed no fragment closes with ``{}``, the input
it has in a non-stream answer.

Usage is ``message_start``'s, updated by each ``message_delta`` (its counts are cumulative).
Thinking ``signature_delta`` fragments are dropped: a stream cannot carry them back to the
client (canonical tool-call deltas have no provider metadata), so only non-stream answers
support thinking across a tool-use loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway_core import (
    Done,
    ProviderCall,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UpstreamFrame,
)

from .adapter import finish_reason, usage_from_wire
from .errors import error_from_wire
from .options import JSON_TOOL, json_tool_mode

__all__ = ["AnthropicDecoder"]

_NOTHING: tuple[StreamEvent, ...] = ()


class AnthropicDecoder:
    """The :class:`~gateway_core.types.StreamDecoder` of one Anthropic stream."""

    def __init__(self, call: ProviderCall) -> None:
        self._json_tool = json_tool_mode(call)
        # Anthropic block index -> what it is: text, thinking, tool, json (the forced JSON
        # tool, streamed as text) or other (redacted thinking, server tools: not forwarded).
        self._kinds: dict[int, str] = {}
        self._calls: dict[int, int] = {}  # block index -> tool-call index
        self._fragments: set[int] = set()  # tool/json blocks that streamed input
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._done = False

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        if not frame.data:
            return _NOTHING
        try:
            event = frame.json()
        except ValueError:
            raise ProviderError(None, "Anthropic sent a stream event that is not JSON") from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "content_block_delta":
            return self._delta(event["index"], event.get("delta") or {})
        if kind == "content_block_start":
            return self._start(event["index"], event.get("content_block") or {})
        if kind == "content_block_stop":
            return self._stop(event["index"])
        if kind == "message_start":
            self._add_usage((event.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            self._stop_reason = (event.get("delta") or {}).get("stop_reason", self._stop_reason)
            self._add_usage(event.get("usage"))
        elif kind == "message_stop":
            self._done = True
            usage = usage_from_wire(self._usage) if self._usage else None
            return (Done(finish_reason(self._stop_reason, self._json_tool), usage),)
        elif kind == "error":
            raise error_from_wire(event) or ProviderError(None, "Anthropic stream failed")
        return _NOTHING  # ping, and event types Anthropic may add later

    def close(self) -> Iterable[StreamEvent]:
        if not self._done:
            # A cut stream is not a short answer: never bill or show it as complete.
            raise ProviderError(None, "Anthropic stream ended before message_stop")
        return _NOTHING

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, Mapping):
            self._usage.update((k, v) for k, v in usage.items() if v is not None)

    def _start(self, index: int, block: Mapping[str, Any]) -> Iterable[StreamEvent]:
        kind = block.get("type")
        if kind == "text":
            self._kinds[index] = "other" if self._json_tool else "text"
            text = block.get("text")
            return (TextDelta(text),) if text and not self._json_tool else _NOTHING
        if kind == "thinking":
            self._kinds[index] = "thinking"
            thinking = block.get("thinking")
            return (ReasoningDelta(thinking),) if thinking else _NOTHING
        if kind == "tool_use" and self._json_tool and block.get("name") == JSON_TOOL:
            self._kinds[index] = "json"
            return _NOTHING
        if kind == "tool_use":
            self._kinds[index] = "tool"
            call = self._calls[index] = len(self._calls)
            return (ToolCallDelta(call, id=block.get("id"), name=block.get("name")),)
        self._kinds[index] = "other"
        return _NOTHING

    def _delta(self, index: int, delta: Mapping[str, Any]) -> Iterable[StreamEvent]:
        kind = self._kinds.get(index)
        dtype = delta.get("type")
        if dtype == "text_delta" and kind == "text":
            return (TextDelta(delta["text"]),) if delta.get("text") else _NOTHING
        if dtype == "thinking_delta" and kind == "thinking":
            return (ReasoningDelta(delta["thinking"]),) if delta.get("thinking") else _NOTHING
        if dtype == "input_json_delta" and delta.get("partial_json"):
            fragment = delta["partial_json"]
            if kind == "tool":
                self._fragments.add(index)
                return (ToolCallDelta(self._calls[index], arguments=fragment),)
            if kind == "json":
                self._fragments.add(index)
                return (TextDelta(fragment),)
        return _NOTHING  # signature_delta, citations_delta, empty fragments

    def _stop(self, index: int) -> Iterable[StreamEvent]:
        kind = self._kinds.get(index)
        if index in self._fragments or kind not in ("tool", "json"):
            return _NOTHING
        return (ToolCallDelta(self._calls[index], arguments="{}"),) if kind == "tool" else (TextDelta("{}"),)

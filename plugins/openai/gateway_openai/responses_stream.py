"""The stream decoder of the Responses API: official streaming events -> canonical stream events.

Every frame is ``event: <type>`` + ``data: {"type": <type>, "sequence_number": n, ...}``; the
stream ends after its terminal event, without ``[DONE]``::

    response.created / response.in_progress          (nothing to emit)
    response.output_item.added   {output_index, item}          function_call: ToolCallDelta(id=call_id, name)
    response.function_call_arguments.delta {item_id, output_index, delta}    ToolCallDelta(arguments)
    response.output_text.delta   {item_id, output_index, content_index, delta}   TextDelta
    response.refusal.delta       {..., delta}                   TextDelta; the finish becomes content_filter
    response.reasoning_summary_text.delta {item_id, summary_index, delta}    ReasoningDelta
    response.reasoning_text.delta {item_id, content_index, delta}            ReasoningDelta
    response.*.done, response.output_item.done     only text the deltas did not carry
    response.completed / response.incomplete {response}       Done(finish reason, usage)
    response.failed {response: {error}}, error {code, message, param}        ProviderError

Each ``function_call`` item gets the next tool-call ``index`` (0, 1, ...) when it is added and
keeps it for all its argument fragments, even when the fragments of several calls interleave.
Reasoning from different summary parts or items is separated by a blank line, as in the
non-stream translation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from gateway_core import Done, ProviderError, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, UpstreamFrame

from .errors import error_from_body, error_object
from .responses_wire import finish_reason, raise_if_failed, usage_from_responses

__all__ = ["ResponsesStreamDecoder"]

_DONE = "[DONE]"
#: A part of the output whose text is tracked: (kind, item, part index); arguments are
#: tracked per tool-call index.
_Key = tuple[str, str, int]


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _item_keys(item_id: Any, output_index: Any) -> list[str]:
    """The names a stream may use for one output item: its id and its position."""
    keys = [item_id] if isinstance(item_id, str) and item_id else []
    if isinstance(output_index, int):
        keys.append(f"#{output_index}")
    return keys


class ResponsesStreamDecoder:
    """Decodes one Responses stream; :meth:`feed` emits the :class:`Done` at its terminal event."""

    def __init__(self) -> None:
        self._calls: dict[str, int] = {}
        self._call_count = 0
        self._announced: set[int] = set()
        # Text already emitted per part, so a ``*.done`` event adds only what no delta carried.
        self._emitted: dict[_Key, str] = {}
        self._reasoning_part: _Key | None = None
        self._refused = False
        self._finished = False

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        if self._finished or not frame.data or frame.data == _DONE:
            return ()
        try:
            event: Any = orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            raise ProviderError(502, "Provider sent a malformed stream event") from None
        if not isinstance(event, Mapping):
            return ()
        kind = event.get("type") or frame.event
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            error = error_object(event)
            if error is not None:  # a bare {"error": {...}} frame from a proxy
                raise error_from_body(None, error)
            return ()  # lifecycle and hosted-tool events carry nothing to forward
        return handler(self, event)

    def close(self) -> Iterable[StreamEvent]:
        if not self._finished:
            # No terminal event: the answer was cut off, do not bill it as whole.
            raise ProviderError(502, "Provider stream ended before the answer was complete")
        return ()

    # -- bookkeeping -----------------------------------------------------------------------------

    def _emit(self, key: _Key, text: str) -> str:
        self._emitted[key] = self._emitted.get(key, "") + text
        return text

    def _rest(self, key: _Key, full: Any) -> str:
        """What ``full`` (a ``*.done`` text) adds to the deltas already emitted for ``key``."""
        emitted = self._emitted.get(key, "")
        if not isinstance(full, str) or not full.startswith(emitted):
            return ""
        self._emitted[key] = full
        return full[len(emitted) :]

    def _call_index(self, keys: list[str]) -> int:
        """The tool-call index of an item, a new one the first time it is seen. Every name the
        item is known by (id, position) is remembered, whichever one later events use."""
        index = next((self._calls[key] for key in keys if key in self._calls), None)
        if index is None:
            index, self._call_count = self._call_count, self._call_count + 1
        self._calls.update(dict.fromkeys(keys, index))
        return index

    # -- function calls --------------------------------------------------------------------------

    def _call_started(self, item: Mapping[str, Any], keys: list[str]) -> list[StreamEvent]:
        index = self._call_index(keys)
        call_id, name = _string(item.get("call_id")), _string(item.get("name"))
        # The id and name go out once, on the call's first event that knows them.
        announce = index not in self._announced and bool(call_id or name)
        if announce:
            self._announced.add(index)
        arguments = self._rest(("arguments", "", index), item.get("arguments"))
        if announce:
            return [ToolCallDelta(index, id=call_id or None, name=name or None, arguments=arguments or None)]
        return [ToolCallDelta(index, arguments=arguments)] if arguments else []

    def _item_added(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "function_call":
            return []
        return self._call_started(item, _item_keys(item.get("id"), event.get("output_index")))

    def _item_done(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        # Also completes a call whose item was never added or whose arguments never streamed.
        return self._item_added(event)

    def _arguments(self, event: Mapping[str, Any], *, done: bool) -> list[StreamEvent]:
        keys = _item_keys(event.get("item_id"), event.get("output_index"))
        index = self._call_index(keys)
        key = ("arguments", "", index)
        if done:
            fragment = self._rest(key, event.get("arguments"))
        else:
            fragment = self._emit(key, _string(event.get("delta")))
        return [ToolCallDelta(index, arguments=fragment)] if fragment else []

    # -- text and reasoning ----------------------------------------------------------------------

    @staticmethod
    def _part(event: Mapping[str, Any], kind: str, index_field: str) -> _Key:
        keys = _item_keys(event.get("item_id"), event.get("output_index"))
        return (kind, keys[0] if keys else "", _int(event.get(index_field)))

    def _text(self, event: Mapping[str, Any], *, refusal: bool, done: bool) -> list[StreamEvent]:
        key = self._part(event, "refusal" if refusal else "text", "content_index")
        if refusal:
            # A refusal is shown as content and ends as content_filter (README, "Refusals").
            self._refused = True
        if done:
            text = self._rest(key, event.get("refusal" if refusal else "text"))
        else:
            text = self._emit(key, _string(event.get("delta")))
        return [TextDelta(text)] if text else []

    def _reasoning(self, event: Mapping[str, Any], kind: str, index_field: str, *, done: bool) -> list[StreamEvent]:
        key = self._part(event, kind, index_field)
        text = self._rest(key, event.get("text")) if done else self._emit(key, _string(event.get("delta")))
        if not text:
            return []
        if self._reasoning_part is not None and key != self._reasoning_part:
            text = "\n\n" + text
        self._reasoning_part = key
        return [ReasoningDelta(text)]

    # -- the end ---------------------------------------------------------------------------------

    def _finished_response(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        response = event.get("response")
        if not isinstance(response, Mapping):
            raise ProviderError(502, "Provider sent a terminal stream event without its response")
        raise_if_failed(response)
        finish = finish_reason(response, tool_calls=self._call_count > 0, refused=self._refused)
        self._finished = True
        return [Done(finish, usage_from_responses(response.get("usage")))]

    def _failed(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        response = event.get("response")
        error = error_object(response) if isinstance(response, Mapping) else None
        raise error_from_body(None, error or {"message": "Provider response failed"})

    def _error(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        # The documented event has code/message/param at the top; some servers nest an ``error``.
        raise error_from_body(None, error_object(event) or event)


_Handler = Callable[[ResponsesStreamDecoder, Mapping[str, Any]], list[StreamEvent]]

_HANDLERS: Mapping[str, _Handler] = {
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.function_call_arguments.delta": lambda d, e: d._arguments(e, done=False),
    "response.function_call_arguments.done": lambda d, e: d._arguments(e, done=True),
    "response.output_text.delta": lambda d, e: d._text(e, refusal=False, done=False),
    "response.output_text.done": lambda d, e: d._text(e, refusal=False, done=True),
    "response.refusal.delta": lambda d, e: d._text(e, refusal=True, done=False),
    "response.refusal.done": lambda d, e: d._text(e, refusal=True, done=True),
    "response.reasoning_summary_text.delta": lambda d, e: d._reasoning(e, "summary", "summary_index", done=False),
    "response.reasoning_summary_text.done": lambda d, e: d._reasoning(e, "summary", "summary_index", done=True),
    "response.reasoning_text.delta": lambda d, e: d._reasoning(e, "reasoning", "content_index", done=False),
    "response.reasoning_text.done": lambda d, e: d._reasoning(e, "reasoning", "content_index", done=True),
    "response.completed": ResponsesStreamDecoder._finished_response,
    "response.incomplete": ResponsesStreamDecoder._finished_response,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._error,
}

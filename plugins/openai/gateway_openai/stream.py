"""The stream decoder: ``chat.completion.chunk`` SSE frames -> canonical stream events.

What a Chat Completions stream looks like (with ``stream_options.include_usage``)::

    data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}
    data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}
    data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",
           "function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}
    data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]}, ...}]}
    data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}
    data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21, ...}}
    data: [DONE]

The finish reason arrives before the usage chunk, so both are held and :meth:`close` emits the
one :class:`~gateway_core.Done`. An ``{"error": {...}}`` frame raises the mapped error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway_core import (
    Done,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UpstreamFrame,
    Usage,
)

from .adapter import usage_from_wire
from .errors import error_from_body, error_object

__all__ = ["ChatStreamDecoder"]

_DONE = "[DONE]"


class ChatStreamDecoder:
    """Decodes one stream. Only choice 0 is read: the gateway never asks for ``n > 1``."""

    def __init__(self) -> None:
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._refused = False
        self._ended = False

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        if frame.data == _DONE:
            self._ended = True
            return ()
        if not frame.data:
            return ()
        try:
            chunk: Any = orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            raise ProviderError(502, "Provider sent a malformed stream chunk") from None
        # ``type(...) is dict``, not ``isinstance(..., Mapping)``: orjson builds plain dicts,
        # and the ABC check is a measurable share of a stream's CPU at one per chunk.
        if type(chunk) is not dict:
            return ()
        if "error" in chunk:
            error = error_object(chunk)
            if error is not None:
                raise error_from_body(None, error)
        usage = chunk.get("usage")
        if usage:
            self._usage = usage_from_wire(usage)
        choices = chunk.get("choices")
        if not choices or type(choices) is not list or type(choices[0]) is not dict:
            return ()  # the usage chunk, or a keep-alive some servers send
        return self._choice(choices[0])

    def _choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        finish = choice.get("finish_reason")
        if type(finish) is str:
            self._finish = finish
        delta = choice.get("delta")
        if type(delta) is not dict:
            return []
        content = delta.get("content")
        if len(delta) == 1 and type(content) is str:  # most chunks: text and nothing else
            return [TextDelta(content)] if content else []
        events: list[StreamEvent] = []
        for key in ("reasoning_content", "reasoning"):
            if isinstance(delta.get(key), str) and delta[key]:
                events.append(ReasoningDelta(delta[key]))
                break
        if isinstance(delta.get("content"), str) and delta["content"]:
            events.append(TextDelta(delta["content"]))
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            # A refusal is shown as content and ends as content_filter (README, "Refusals").
            self._refused = True
            events.append(TextDelta(delta["refusal"]))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            if isinstance(call, Mapping):
                event = _tool_call_delta(call, position)
                if event is not None:
                    events.append(event)
        return events

    def close(self) -> Iterable[StreamEvent]:
        if not self._ended and self._finish is None:
            # Neither [DONE] nor a finish reason: the answer was cut off, do not bill it as whole.
            raise ProviderError(502, "Provider stream ended before the answer was complete")
        return (Done("content_filter" if self._refused else self._finish, self._usage),)


def _tool_call_delta(call: Mapping[str, Any], position: int) -> ToolCallDelta | None:
    function: Mapping[str, Any] = call["function"] if isinstance(call.get("function"), Mapping) else {}
    index = call.get("index")
    call_id, name, arguments = call.get("id"), function.get("name"), function.get("arguments")
    if not (call_id or name or arguments):
        return None
    return ToolCallDelta(
        index if isinstance(index, int) else position,
        id=call_id if isinstance(call_id, str) and call_id else None,
        name=name if isinstance(name, str) and name else None,
        arguments=arguments if isinstance(arguments, str) and arguments else None,
    )

"""Rebuild a complete :class:`Output` from stream events, as they pass.

Used to estimate usage when a provider reports none, to meter a stream the client left early,
and (later) to store what a stream produced. Cheap per event: strings are collected in lists
and joined once.
"""

from __future__ import annotations

from gateway_core.types import (
    Done,
    Output,
    OutputToolCall,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEvent,
)

__all__ = ["OutputAccumulator", "output_events"]


class OutputAccumulator:
    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, object]] = {}
        self.done: Done | None = None
        #: Whether any content (text, reasoning or tool call) was produced.
        self.has_content = False

    def add(self, event: StreamEvent) -> None:
        kind = type(event)
        if kind is TextDelta:
            self._text.append(event.text)  # type: ignore[union-attr]
            self.has_content = True
        elif kind is ReasoningDelta:
            self._reasoning.append(event.text)  # type: ignore[union-attr]
            self.has_content = True
        elif kind is ToolCallDelta or kind is ToolCallEvent:
            self._add_call(event)  # type: ignore[arg-type]
            self.has_content = True
        elif kind is Done:
            self.done = event  # type: ignore[assignment]

    def _add_call(self, event: ToolCallDelta | ToolCallEvent) -> None:
        call = self._calls.setdefault(event.index, {"id": None, "name": "", "arguments": [], "meta": None})
        if event.id:
            call["id"] = event.id
        if event.name:
            call["name"] = event.name
        args = call["arguments"]
        assert isinstance(args, list)
        if isinstance(event, ToolCallEvent):
            args[:] = [event.arguments]
        elif event.arguments:
            args.append(event.arguments)
        if event.provider_metadata:
            call["meta"] = event.provider_metadata

    def output(self) -> Output:
        calls = [
            OutputToolCall(
                id=c["id"],
                name=str(c["name"]),
                arguments="".join(c["arguments"]),  # type: ignore[arg-type]
                provider_metadata=c["meta"],
            )
            for _, c in sorted(self._calls.items())
        ]
        done = self.done or Done()
        return Output(
            content="".join(self._text),
            reasoning="".join(self._reasoning) or None,
            tool_calls=calls,
            finish_reason=done.finish_reason,
            usage=done.usage,
        )


def output_events(output: Output) -> list[StreamEvent]:
    """A complete output as stream events (for providers that cannot stream an operation)."""
    events: list[StreamEvent] = []
    if output.reasoning:
        events.append(ReasoningDelta(output.reasoning))
    if output.content:
        events.append(TextDelta(output.content))
    for index, call in enumerate(output.tool_calls):
        events.append(ToolCallEvent(index, call.id, call.name, call.arguments, call.provider_metadata))
    events.append(Done(output.finish_reason, output.usage))
    return events

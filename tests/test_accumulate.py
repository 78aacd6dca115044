"""Rebuilding an output from stream events."""

from __future__ import annotations

from gateway_core.accumulate import OutputAccumulator, output_events
from gateway_core.types import (
    Done,
    Output,
    OutputToolCall,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEvent,
    Usage,
)


def test_interleaved_tool_fragments_reassemble_by_index() -> None:
    acc = OutputAccumulator()
    events = [
        TextDelta("Let me check. "),
        ToolCallDelta(0, id="call_a", name="get_weather"),
        ToolCallDelta(1, id="call_b", name="get_time"),
        ToolCallDelta(0, arguments='{"city":'),
        ToolCallDelta(1, arguments='{"tz":"UTC"}'),
        ToolCallDelta(0, arguments='"Paris"}', provider_metadata={"anthropic": {"signature": "s"}}),
        ReasoningDelta("thinking"),
        Done("tool_calls", Usage(prompt_tokens=3, completion_tokens=4)),
    ]
    for event in events:
        acc.add(event)
    output = acc.output()
    assert output.content == "Let me check. " and output.reasoning == "thinking"
    assert [(c.id, c.name, c.arguments) for c in output.tool_calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "get_time", '{"tz":"UTC"}'),
    ]
    assert output.tool_calls[0].provider_metadata == {"anthropic": {"signature": "s"}}
    assert output.finish_reason == "tool_calls" and output.usage == Usage(prompt_tokens=3, completion_tokens=4)
    assert acc.has_content


def test_done_only_has_no_content() -> None:
    acc = OutputAccumulator()
    acc.add(Done())
    assert not acc.has_content and acc.output().content == ""


def test_output_events_round_trip() -> None:
    output = Output(
        content="hi",
        reasoning="r",
        tool_calls=[OutputToolCall(id="c", name="f", arguments="{}")],
        finish_reason="tool_calls",
    )
    events = output_events(output)
    assert isinstance(events[-1], Done)
    assert any(isinstance(e, ToolCallEvent) for e in events)
    acc = OutputAccumulator()
    for event in events:
        acc.add(event)
    assert acc.output() == output

"""The Responses stream decoder against hand-written official-event SSE fixtures, framed by the
core's own SSE splitter (in odd-sized reads, as a socket delivers them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from gateway_openai.responses_stream import ResponsesStreamDecoder

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
from gateway_core.streaming import iter_frames

FIXTURES = Path(__file__).parent / "fixtures"


def frames(name: str, read_size: int = 41) -> list[UpstreamFrame]:
    raw = (FIXTURES / name).read_bytes()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), read_size):
            yield raw[start : start + read_size]

    async def collect() -> list[UpstreamFrame]:
        return [frame async for frame in iter_frames(chunks(), "sse")]

    return asyncio.run(collect())


def feed(decoder: ResponsesStreamDecoder, stream: Sequence[UpstreamFrame]) -> list[StreamEvent]:
    return [event for frame in stream for event in decoder.feed(frame)]


def decode(name: str) -> list[StreamEvent]:
    decoder = ResponsesStreamDecoder()
    events = feed(decoder, frames(name))
    return [*events, *decoder.close()]


def event(data: str) -> UpstreamFrame:
    return UpstreamFrame(data, event=None)


def test_text_stream_ends_at_its_terminal_event() -> None:
    decoder = ResponsesStreamDecoder()
    events = feed(decoder, frames("responses_stream_text.sse"))
    assert events == [
        TextDelta("Hi"),
        TextDelta(" there"),
        TextDelta("!"),
        Done(
            "stop",
            Usage(prompt_tokens=37, completion_tokens=11, total_tokens=48, cached_input_tokens=0, reasoning_tokens=0),
        ),
    ]
    assert list(decoder.close()) == [], "the Done came with response.completed, not at close"


def test_parallel_tool_calls_keep_one_index_each() -> None:
    *deltas, done = decode("responses_stream_tools_parallel.sse")
    assert all(isinstance(d, ToolCallDelta) for d in deltas)
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert [(d.index, d.id, d.name, d.arguments) for d in calls] == [
        (0, "call_weather", "get_weather", None),
        (0, None, None, '{"ci'),
        (1, "call_time", "get_time", None),
        (1, None, None, '{"tz":'),
        (0, None, None, 'ty":"Paris"}'),
        (1, None, None, '"Europe/Paris"}'),
    ], "the done events add nothing the deltas already carried"
    assert done == Done(
        "tool_calls",
        Usage(prompt_tokens=94, completion_tokens=40, total_tokens=134, cached_input_tokens=64, reasoning_tokens=0),
    )


def test_reasoning_summary_parts_are_separated_and_incomplete_is_length() -> None:
    assert decode("responses_stream_reasoning.sse") == [
        ReasoningDelta("**Adding**"),
        ReasoningDelta(" 2 and 2."),
        ReasoningDelta("\n\nIt is 4."),
        TextDelta("4"),
        Done(
            "length",
            Usage(prompt_tokens=13, completion_tokens=64, total_tokens=77, cached_input_tokens=0, reasoning_tokens=62),
        ),
    ]


def test_refusal_streams_as_content_and_ends_content_filter() -> None:
    *texts, done = decode("responses_stream_refusal.sse")
    assert "".join(t.text for t in texts if isinstance(t, TextDelta)) == "I'm sorry, I can't help with that."
    assert isinstance(done, Done) and done.finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("fixture", "before", "status", "code"),
    [
        pytest.param("responses_stream_failed.sse", [TextDelta("Partial")], 429, "rate_limit_exceeded", id="failed"),
        pytest.param("responses_stream_error.sse", [], 400, "content_filter", id="error-event"),
    ],
)
def test_failures_raise_the_mapped_error(fixture: str, before: list[StreamEvent], status: int, code: str) -> None:
    decoder = ResponsesStreamDecoder()
    stream = frames(fixture)
    assert feed(decoder, stream[:-1]) == before
    with pytest.raises(ProviderError) as caught:
        decoder.feed(stream[-1])
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param('{"type":"error","error":{"code":"server_error","message":"boom"}}', id="nested-error-event"),
        pytest.param('{"error":{"message":"boom","type":"server_error"}}', id="bare-error-frame"),
        pytest.param('{"type":"response.failed","response":{"status":"failed","error":null}}', id="failed-no-error"),
    ],
)
def test_other_error_shapes(data: str) -> None:
    with pytest.raises(ProviderError) as caught:
        ResponsesStreamDecoder().feed(event(data))
    assert caught.value.status == 500


def test_truncated_stream_is_a_failure_not_a_complete_answer() -> None:
    decoder = ResponsesStreamDecoder()
    assert feed(decoder, frames("responses_stream_truncated.sse")) == [TextDelta("Cut")]
    with pytest.raises(ProviderError) as caught:
        decoder.close()
    assert caught.value.status == 502


def test_malformed_event_raises() -> None:
    with pytest.raises(ProviderError) as caught:
        ResponsesStreamDecoder().feed(event("{not json"))
    assert caught.value.status == 502


def test_done_events_complete_what_the_deltas_missed() -> None:
    decoder = ResponsesStreamDecoder()
    stream = [
        # A server that announces a call, then sends its arguments only when the item is done...
        '{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","call_id":"c1","name":"f"}}',
        '{"type":"response.output_item.done","output_index":0,'
        '"item":{"type":"function_call","id":"fc_1","call_id":"c1","name":"f","arguments":"{}"}}',
        # ...and text only in its done event, after one delta.
        '{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":0,"delta":"Hel"}',
        '{"type":"response.output_text.done","item_id":"m","output_index":1,"content_index":0,"text":"Hello"}',
        '{"type":"response.completed","response":{"status":"completed","usage":null}}',
    ]
    assert feed(decoder, [event(data) for data in stream]) == [
        ToolCallDelta(0, id="c1", name="f"),
        ToolCallDelta(0, arguments="{}"),
        TextDelta("Hel"),
        TextDelta("lo"),
        Done("tool_calls", None),
    ]


def test_frames_after_the_end_and_lifecycle_events_emit_nothing() -> None:
    decoder = ResponsesStreamDecoder()
    assert list(decoder.feed(event('{"type":"response.in_progress","response":{}}'))) == []
    assert list(decoder.feed(event('{"type":"response.web_search_call.searching","item_id":"ws"}'))) == []
    assert list(decoder.feed(event('{"type":"response.completed","response":{"status":"completed"}}'))) == [
        Done("stop")
    ]
    assert list(decoder.feed(event("[DONE]"))) == []
    assert list(decoder.feed(event('{"type":"response.output_text.delta","delta":"late"}'))) == []

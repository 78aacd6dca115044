"""The stream decoder against hand-written ``chat.completion.chunk`` SSE fixtures, framed by the
core's own SSE splitter (in odd-sized reads, as a socket delivers them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gateway_openai.stream import ChatStreamDecoder

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


def frames(name: str, read_size: int = 37) -> list[UpstreamFrame]:
    raw = (FIXTURES / name).read_bytes()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), read_size):
            yield raw[start : start + read_size]

    async def collect() -> list[UpstreamFrame]:
        return [frame async for frame in iter_frames(chunks(), "sse")]

    return asyncio.run(collect())


def decode(name: str) -> list[StreamEvent]:
    decoder = ChatStreamDecoder()
    events = [event for frame in frames(name) for event in decoder.feed(frame)]
    return [*events, *decoder.close()]


def test_text_stream() -> None:
    assert decode("stream_text.sse") == [
        TextDelta("Hello"),
        TextDelta(" there"),
        TextDelta("!"),
        Done(
            "stop",
            Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12, cached_input_tokens=0, reasoning_tokens=0),
        ),
    ]


def test_two_parallel_tool_calls_streamed_interleaved() -> None:
    events = decode("stream_tools_parallel.sse")
    *deltas, done = events
    assert all(isinstance(d, ToolCallDelta) for d in deltas)
    assert [d.index for d in deltas if isinstance(d, ToolCallDelta) and d.arguments] == [0, 1, 0, 1, 0]
    calls: dict[int, list[ToolCallDelta]] = {}
    for delta in deltas:
        assert isinstance(delta, ToolCallDelta)
        calls.setdefault(delta.index, []).append(delta)
    for index, (call_id, name, arguments) in {
        0: ("call_weather", "get_weather", '{"city":"Paris"}'),
        1: ("call_time", "get_time", '{"tz":"Europe/Paris"}'),
    }.items():
        first, *rest = calls[index]
        assert (first.id, first.name, first.arguments) == (call_id, name, None), "id and name on the first fragment"
        assert all(d.id is None and d.name is None for d in rest)
        assert "".join(d.arguments or "" for d in rest) == arguments
    assert done == Done(
        "tool_calls",
        Usage(prompt_tokens=84, completion_tokens=37, total_tokens=121, cached_input_tokens=64, reasoning_tokens=0),
    )


def test_refusal_streams_as_content_and_ends_content_filter() -> None:
    *texts, done = decode("stream_refusal.sse")
    assert "".join(t.text for t in texts if isinstance(t, TextDelta)) == "I'm sorry, I can't help with that."
    assert isinstance(done, Done) and done.finish_reason == "content_filter"


def test_reasoning_deltas_from_compatible_servers() -> None:
    assert decode("stream_reasoning.sse") == [
        ReasoningDelta("Two plus two"),
        ReasoningDelta(" is four."),
        TextDelta("4"),
        Done("length", None),
    ]


def test_finish_and_usage_are_held_until_close() -> None:
    decoder = ChatStreamDecoder()
    fed = [event for frame in frames("stream_text.sse") for event in decoder.feed(frame)]
    assert not any(isinstance(event, Done) for event in fed)
    (done,) = decoder.close()
    assert isinstance(done, Done) and done.finish_reason == "stop" and done.usage is not None


def test_midstream_error_frame_raises_mapped_error() -> None:
    decoder = ChatStreamDecoder()
    stream = frames("stream_error.sse")
    assert [event for frame in stream[:-1] for event in decoder.feed(frame)] == [TextDelta("Partial")]
    with pytest.raises(ProviderError) as caught:
        decoder.feed(stream[-1])
    assert caught.value.status == 500
    assert caught.value.message.startswith("The server had an error")


@pytest.mark.parametrize(
    ("data", "status", "retryable"),
    [
        pytest.param(
            '{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
            429,
            True,
            id="rate-limit",
        ),
        pytest.param(
            '{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}',
            429,
            False,
            id="insufficient-quota",
        ),
        pytest.param('{"error":"upstream model crashed"}', 500, None, id="string-error"),
    ],
)
def test_inband_error_status_comes_from_type_and_code(data: str, status: int, retryable: bool | None) -> None:
    with pytest.raises(ProviderError) as caught:
        ChatStreamDecoder().feed(UpstreamFrame(data))
    assert (caught.value.status, caught.value.retryable) == (status, retryable)


def test_truncated_stream_is_a_failure_not_a_complete_answer() -> None:
    decoder = ChatStreamDecoder()
    for frame in frames("stream_truncated.sse"):
        decoder.feed(frame)
    with pytest.raises(ProviderError) as caught:
        decoder.close()
    assert caught.value.status == 502


def test_malformed_chunk_raises() -> None:
    with pytest.raises(ProviderError) as caught:
        ChatStreamDecoder().feed(UpstreamFrame("{not json"))
    assert caught.value.status == 502


def test_tool_call_index_falls_back_to_position() -> None:
    frame = UpstreamFrame(
        '{"choices":[{"index":0,"delta":{"tool_calls":['
        '{"id":"a","function":{"name":"f","arguments":"{}"}},{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}'
    )
    assert [e.index for e in ChatStreamDecoder().feed(frame) if isinstance(e, ToolCallDelta)] == [0, 1]

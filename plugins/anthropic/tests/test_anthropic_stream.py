"""Anthropic SSE streams (hand-written fixtures) -> canonical stream events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gateway_anthropic.stream import AnthropicDecoder

from gateway_core import (
    Done,
    ProviderCall,
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


def make_call(**fields: Any) -> ProviderCall:
    base: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "row": {"modelId": "claude-test"},
        "model": "claude-test",
        "upstream_model": "claude-sonnet-4-5",
        "stream": True,
        "max_output_tokens": 4096,
    }
    return ProviderCall.model_validate({**base, **fields})


def frames_of(raw: bytes) -> list[UpstreamFrame]:
    """Split SSE bytes into frames exactly as the core does for a live stream."""

    async def split() -> list[UpstreamFrame]:
        async def chunks() -> AsyncIterator[bytes]:
            yield raw

        return [frame async for frame in iter_frames(chunks(), "sse")]

    return asyncio.run(split())


def decode(frames: list[UpstreamFrame], call: ProviderCall | None = None) -> list[StreamEvent]:
    decoder = AnthropicDecoder(call or make_call())
    events = [event for frame in frames for event in decoder.feed(frame)]
    return events + list(decoder.close())


def fixture(name: str) -> list[UpstreamFrame]:
    return frames_of((FIXTURES / name).read_bytes())


def frame(data: dict[str, Any]) -> UpstreamFrame:
    return UpstreamFrame(json.dumps(data), data["type"])


def test_thinking_text_and_interleaved_tool_blocks() -> None:
    assert decode(fixture("stream_interleaved.sse")) == [
        ReasoningDelta("Two tools, "),
        ReasoningDelta("in parallel."),
        TextDelta("Checking"),
        ToolCallDelta(0, id="toolu_01Weather", name="get_weather"),
        TextDelta(" both."),
        ToolCallDelta(1, id="toolu_01Time", name="get_time"),
        ToolCallDelta(1, arguments='{"tz": '),
        ToolCallDelta(0, arguments='{"city": '),
        ToolCallDelta(1, arguments='"Europe/Paris"}'),
        ToolCallDelta(0, arguments='"Paris"}'),
        ToolCallDelta(2, id="toolu_01Ping", name="ping_server"),
        ToolCallDelta(2, arguments="{}"),  # a block without input fragments has input {}
        Done("tool_calls", Usage(prompt_tokens=65, completion_tokens=89, total_tokens=154, cached_input_tokens=40)),
    ]


def test_forced_json_tool_streams_as_text() -> None:
    call = make_call(upstream_model="claude-3-5-haiku-20241022", response_format={"type": "json_object"})
    assert decode(fixture("stream_json_tool.sse"), call) == [
        TextDelta('{"city": "Par'),
        TextDelta('is", "country": "France"}'),
        Done("stop", Usage(prompt_tokens=380, completion_tokens=24, total_tokens=404)),
    ]


def test_the_same_tool_is_a_tool_call_without_response_format() -> None:
    events = decode(fixture("stream_json_tool.sse"))
    assert events[0] == ToolCallDelta(0, id="toolu_01Json", name="json_response")
    assert events[-1] == Done("tool_calls", Usage(prompt_tokens=380, completion_tokens=24, total_tokens=404))


def test_error_event_raises_after_the_content_before_it() -> None:
    decoder = AnthropicDecoder(make_call())
    frames = fixture("stream_error.sse")
    assert [e for f in frames[:-1] for e in decoder.feed(f)] == [TextDelta("Hello")]
    with pytest.raises(ProviderError) as caught:
        decoder.feed(frames[-1])
    assert (caught.value.status, caught.value.message, caught.value.retryable) == (529, "Overloaded", True)


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [
        pytest.param({"type": "api_error", "message": "Internal"}, 500, True, id="api_error"),
        pytest.param({"type": "rate_limit_error", "message": "Slow down"}, 429, True, id="rate_limit"),
        pytest.param({"type": "invalid_request_error", "message": "Bad"}, 400, False, id="invalid_request"),
        pytest.param({"type": "brand_new_error", "message": "?"}, 500, True, id="unknown"),
    ],
)
def test_error_event_types(error: dict[str, str], status: int, retryable: bool) -> None:
    with pytest.raises(ProviderError) as caught:
        AnthropicDecoder(make_call()).feed(frame({"type": "error", "error": error}))
    assert (caught.value.status, caught.value.retryable) == (status, retryable)


def test_stream_cut_before_message_stop_is_an_error() -> None:
    decoder = AnthropicDecoder(make_call())
    assert [e for f in fixture("stream_truncated.sse") for e in decoder.feed(f)] == [TextDelta("Hello")]
    with pytest.raises(ProviderError) as caught:
        decoder.close()
    assert caught.value.status is None


def test_no_usage_leaves_it_to_the_core() -> None:
    frames = [
        frame({"type": "message_start", "message": {"id": "m", "content": []}}),
        frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}}),
        frame({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}}),
        frame({"type": "message_stop"}),
    ]
    assert decode(frames) == [TextDelta("Hi"), Done("length", None)]


def test_message_delta_usage_is_cumulative() -> None:
    start_usage = {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}
    frames = [
        frame({"type": "message_start", "message": {"usage": start_usage}}),
        frame({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
        frame({"type": "message_delta", "delta": {}, "usage": {"input_tokens": 12, "output_tokens": 9}}),
        frame({"type": "message_stop"}),
    ]
    assert decode(frames) == [
        Done("stop", Usage(prompt_tokens=17, completion_tokens=9, total_tokens=26, cached_input_tokens=5))
    ]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"type": "ping"}, id="ping"),
        pytest.param({"type": "some_future_event", "x": 1}, id="unknown-event"),
        pytest.param(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "redacted_thinking", "data": "x"}},
            id="redacted-thinking",
        ),
        pytest.param(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
            id="signature",
        ),
    ],
)
def test_ignored_frames(data: dict[str, Any]) -> None:
    assert list(AnthropicDecoder(make_call()).feed(frame(data))) == []
    assert list(AnthropicDecoder(make_call()).feed(UpstreamFrame(""))) == []


def test_text_blocks_are_dropped_in_json_tool_mode() -> None:
    call = make_call(upstream_model="claude-3-5-haiku", response_format={"type": "json_object"})
    frames = [
        frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Sure: "}}),
        frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "here"}}),
        frame(
            {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "name": "json_response"}}
        ),
        frame({"type": "content_block_stop", "index": 1}),
        frame({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        frame({"type": "message_stop"}),
    ]
    assert decode(frames, call) == [TextDelta("{}"), Done("stop", None)]

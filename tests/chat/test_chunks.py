"""``chat.completion.chunk`` frames from canonical events (spec/chat.md §5.2)."""

from __future__ import annotations

import json
from typing import Any

from gateway_core.chat.chunks import ChunkEncoder, error_frame
from gateway_core.types import Done, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEvent, Usage


def _data(frame: bytes | None) -> Any:
    assert frame is not None and frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    return json.loads(frame[6:])


def test_envelope_role_on_first_chunk_only() -> None:
    encoder = ChunkEncoder("resp_1", 1767225600, 'model/"quoted"')
    first, second = _data(encoder.encode(TextDelta("a"))), _data(encoder.encode(TextDelta("b")))
    assert first == {
        "id": "resp_1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": 'model/"quoted"',
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}, "finish_reason": None}],
    }
    assert second["choices"][0]["delta"] == {"content": "b"}
    assert encoder.encode(TextDelta("")) is None


def test_done_first_carries_the_role() -> None:
    encoder = ChunkEncoder("resp_1", 1, "m")
    assert _data(encoder.encode(Done("stop")))["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant"},
        "finish_reason": "stop",
    }


def test_tool_deltas_keep_index_and_id() -> None:
    encoder = ChunkEncoder("resp_1", 1, "m")
    start = _data(encoder.encode(ToolCallDelta(1, name="f")))["choices"][0]["delta"]["tool_calls"][0]
    assert start["index"] == 1 and start["id"].startswith("call_") and start["function"] == {"name": "f"}
    more = _data(encoder.encode(ToolCallDelta(1, arguments="{}", provider_metadata={"k": "v"})))
    fragment = more["choices"][0]["delta"]["tool_calls"][0]
    assert fragment == {"index": 1, "type": "function", "function": {"arguments": "{}"}, "providerMetadata": {"k": "v"}}
    whole = _data(encoder.encode(ToolCallEvent(2, "call_x", "g", '{"a":1}')))["choices"][0]["delta"]["tool_calls"][0]
    assert whole == {"index": 2, "id": "call_x", "type": "function", "function": {"name": "g", "arguments": '{"a":1}'}}
    assert _data(encoder.encode(Done(None)))["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_usage_and_error_frames() -> None:
    encoder = ChunkEncoder("resp_1", 1, "m")
    assert _data(encoder.encode(ReasoningDelta("hmm")))["choices"][0]["delta"]["reasoning_content"] == "hmm"
    usage = _data(
        encoder.usage(Usage(prompt_tokens=2, completion_tokens=3, total_tokens=5, cached_input_tokens=1), "provider")
    )
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": 3,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 1},
        "usage_source": "provider",
    }
    frame = error_frame("upstream_error", "boom", "upstream_error")
    assert frame.startswith(b"event: compose.error\ndata: ")
    assert json.loads(frame.split(b"data: ")[1]) == {
        "code": "upstream_error",
        "message": "boom",
        "error": {"message": "boom", "type": "upstream_error", "param": None, "code": "upstream_error"},
    }

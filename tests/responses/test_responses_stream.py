"""Responses SSE events from canonical stream events (spec/responses.md §4).

Every official frame must parse with the ``openai`` SDK's own event models, both strictly
(``TypeAdapter.validate_python``) and the way the SDK's stream reader builds them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseFailedEvent, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway_core.accumulate import OutputAccumulator
from gateway_core.errors import GatewayError
from gateway_core.responses import ResponsesEventEncoder, normalize_responses_request, output_items
from gateway_core.types import Done, ReasoningDelta, StreamEvent, TextDelta, ToolCallDelta, ToolCallEvent, Usage

_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_USAGE = Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)


class _Ids:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count - 1}"


def _encoder() -> ResponsesEventEncoder:
    request = normalize_responses_request({"model": "sandbox-echo", "input": "hi"})
    return ResponsesEventEncoder(
        request, response_id="resp_1", created_at=1767225600, model="sandbox-echo", new_id=_Ids()
    )


def _parse(frame: bytes) -> tuple[str | None, Any]:
    assert frame.endswith(b"\n\n") and frame.count(b"\n\n") == 1
    lines = frame[:-2].split(b"\n")
    event = lines[0][len(b"event: ") :].decode() if lines[0].startswith(b"event: ") else None
    data = lines[-1]
    assert data.startswith(b"data: ") and len(lines) == (2 if event else 1)
    payload = data[len(b"data: ") :]
    return event, (payload.decode() if payload == b"[DONE]" else json.loads(payload))


def _run(events: list[StreamEvent]) -> tuple[list[tuple[str | None, Any]], ResponsesEventEncoder]:
    encoder = _encoder()
    frames = encoder.start()
    for event in events:
        frames += encoder.encode(event)
    frames += encoder.finish(_USAGE, "provider")
    frames += encoder.tail({"type": "compose.receipt", "object": "compose.receipt", "finalAmountWei": "9"})
    return [_parse(frame) for frame in frames], encoder


def _official(parsed: list[tuple[str | None, Any]]) -> list[dict[str, Any]]:
    return [data for event, data in parsed if event is not None and event.startswith("response.")]


def _check_official(parsed: list[tuple[str | None, Any]]) -> list[dict[str, Any]]:
    official = _official(parsed)
    for data in official:
        _EVENTS.validate_python(data)
        assert type(construct_type(type_=ResponseStreamEvent, value=data)).__name__.startswith("Response")
    for event, data in parsed:
        if event is not None:
            assert data["type"] == event
    assert [data["sequence_number"] for data in official] == list(range(len(official)))
    return official


_TEXT: list[StreamEvent] = [TextDelta("echo:"), TextDelta(""), TextDelta(" hi"), Done("stop")]
_REASONING_TEXT_CALLS: list[StreamEvent] = [
    ReasoningDelta("hmm"),
    TextDelta("calling"),
    ToolCallDelta(0, arguments='{"ci'),  # no name yet: buffered
    ToolCallDelta(0, id="call_a", name="get_weather"),
    ToolCallDelta(0, arguments='ty":"P"}'),
    ToolCallDelta(1, id="call_b", name="get_time", arguments="{"),
    ToolCallDelta(1, arguments="}", provider_metadata={"sig": "s"}),
    ToolCallEvent(2, "call_c", "noop", ""),
    Done("tool_calls"),
]
_LENGTH: list[StreamEvent] = [TextDelta("trunc"), Done("length")]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(_TEXT, id="text"),
        pytest.param(_REASONING_TEXT_CALLS, id="reasoning-text-calls"),
        pytest.param(_LENGTH, id="length"),
    ],
)
def test_completed_matches_non_stream_output(events: list[StreamEvent]) -> None:
    parsed, encoder = _run(events)
    official = _check_official(parsed)
    accumulator = OutputAccumulator()
    for event in events:
        accumulator.add(event)
    completed = official[-1]
    assert completed["type"] == "response.completed"
    assert completed["response"]["output"] == output_items(accumulator.output(), _Ids())
    assert completed["response"] == encoder.completed_response(_USAGE, "provider")
    # Each item's done event carries the item exactly as response.completed lists it.
    done_items = [data["item"] for data in official if data["type"] == "response.output_item.done"]
    assert done_items == completed["response"]["output"]
    assert "receipt" not in completed["response"]
    assert parsed[-2][0] == "compose.receipt" and "sequence_number" not in parsed[-2][1]
    assert parsed[-1] == (None, "[DONE]")


def test_text_stream_matches_spec_example() -> None:
    parsed, _ = _run(_TEXT)
    official = _check_official(parsed)
    assert [data["type"] for data in official] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = official[0]["response"]
    assert (created["status"], created["output"], created["usage"]) == ("in_progress", [], None)
    assert official[2] == {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 0,
        "item": {"type": "message", "id": "msg_0", "status": "in_progress", "role": "assistant", "content": []},
    }
    assert official[5] == {
        "type": "response.output_text.delta",
        "sequence_number": 5,
        "item_id": "msg_0",
        "output_index": 0,
        "content_index": 0,
        "delta": " hi",
        "logprobs": [],
    }
    assert official[6]["text"] == "echo: hi"
    assert official[9]["response"]["usage"]["total_tokens"] == 15


def test_tool_call_events_and_indexes() -> None:
    parsed, _ = _run(_REASONING_TEXT_CALLS)
    official = _check_official(parsed)
    summary = [
        (data["type"], data.get("output_index"), data.get("item_id") or data.get("item", {}).get("id"))
        for data in official[2:-1]
    ]
    assert summary == [
        ("response.output_item.added", 0, "rs_0"),
        ("response.reasoning_text.delta", 0, "rs_0"),
        ("response.reasoning_text.done", 0, "rs_0"),
        ("response.output_item.done", 0, "rs_0"),
        ("response.output_item.added", 1, "msg_1"),
        ("response.content_part.added", 1, "msg_1"),
        ("response.output_text.delta", 1, "msg_1"),
        ("response.output_text.done", 1, "msg_1"),
        ("response.content_part.done", 1, "msg_1"),
        ("response.output_item.done", 1, "msg_1"),
        ("response.output_item.added", 2, "fc_2"),
        ("response.function_call_arguments.delta", 2, "fc_2"),  # the buffered '{"ci'
        ("response.function_call_arguments.delta", 2, "fc_2"),
        ("response.function_call_arguments.done", 2, "fc_2"),
        ("response.output_item.done", 2, "fc_2"),
        ("response.output_item.added", 3, "fc_3"),
        ("response.function_call_arguments.delta", 3, "fc_3"),
        ("response.function_call_arguments.delta", 3, "fc_3"),
        ("response.function_call_arguments.done", 3, "fc_3"),
        ("response.output_item.done", 3, "fc_3"),
        ("response.output_item.added", 4, "fc_4"),  # complete call, empty arguments: no delta
        ("response.function_call_arguments.done", 4, "fc_4"),
        ("response.output_item.done", 4, "fc_4"),
    ]
    added_call = official[12]["item"]
    assert added_call == {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "call_a",
        "name": "get_weather",
        "arguments": "",
        "status": "in_progress",
    }
    assert official[13]["delta"] == '{"ci'
    assert official[15]["arguments"] == '{"city":"P"}' and official[15]["name"] == "get_weather"
    assert official[21]["item"]["providerMetadata"] == {"sig": "s"}
    assert official[5]["item"]["content"] == [{"type": "reasoning_text", "text": "hmm"}]


def test_text_after_a_call_opens_a_new_message() -> None:
    parsed, _ = _run([TextDelta("a"), ToolCallEvent(0, "c", "f", "{}"), TextDelta("b"), Done()])
    output = _check_official(parsed)[-1]["response"]["output"]
    assert [(item["type"], item["id"]) for item in output] == [
        ("message", "msg_0"),
        ("function_call", "fc_1"),
        ("message", "msg_2"),
    ]
    assert output[2]["content"][0]["text"] == "b"


def test_interleaved_call_fragments_keep_one_item_per_index() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c0", name="f", arguments="{"),
        ToolCallDelta(1, id="c1", name="g", arguments="{"),
        ToolCallDelta(0, arguments="}"),  # late: call 0 is already closed
        ToolCallDelta(1, arguments="}"),
        Done("tool_calls"),
    ]
    parsed, _ = _run(events)
    output = _check_official(parsed)[-1]["response"]["output"]
    accumulator = OutputAccumulator()
    for event in events:
        accumulator.add(event)
    assert output == output_items(accumulator.output(), _Ids())
    assert [(item["call_id"], item["arguments"]) for item in output] == [("c0", "{}"), ("c1", "{}")]


def test_nameless_call_still_becomes_an_item() -> None:
    parsed, _ = _run([ToolCallDelta(0, arguments="{}"), Done()])
    (item,) = _check_official(parsed)[-1]["response"]["output"]
    assert (item["name"], item["arguments"]) == ("", "{}")


def test_length_finish_is_completed_with_incomplete_details() -> None:
    parsed, _ = _run(_LENGTH)
    response = _check_official(parsed)[-1]["response"]
    assert response["status"] == "completed"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_finish_reason_argument_overrides_done() -> None:
    encoder = _encoder()
    encoder.start()
    encoder.encode(TextDelta("x"))
    encoder.encode(Done("stop"))
    (*_, completed) = encoder.finish(_USAGE, "estimated", finish_reason="content_filter")
    response = _parse(completed)[1]["response"]
    assert response["incomplete_details"] == {"reason": "content_filter"}
    assert response["usage"]["usage_source"] == "estimated"


def test_failure_mid_message() -> None:
    encoder = _encoder()
    frames = encoder.start() + encoder.encode(TextDelta("par"))
    frames += encoder.fail(GatewayError(504, "upstream_timeout", "Provider stream idle timeout"))
    parsed = [_parse(frame) for frame in frames]
    official = _official(parsed)
    assert [data["sequence_number"] for data in official] == list(range(len(official)))
    failed = official[-1]
    assert failed["type"] == "response.failed"
    response = failed["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": "upstream_timeout", "message": "Provider stream idle timeout"}
    assert response["output"] == [
        {
            "type": "message",
            "id": "msg_0",
            "status": "incomplete",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "par", "annotations": []}],
        }
    ]
    # The SDK's stream reader builds the event as is; its strict model only knows OpenAI's own
    # error codes, so the strict check runs with one of those in place of the gateway code.
    built = construct_type(type_=ResponseStreamEvent, value=failed)
    assert isinstance(built, ResponseFailedEvent) and built.response.error is not None
    assert str(built.response.error.code) == "upstream_timeout"
    _EVENTS.validate_python(
        {**failed, "response": {**response, "error": {**response["error"], "code": "server_error"}}}
    )
    for data in official[:-1]:
        _EVENTS.validate_python(data)
    assert parsed[-2] == (
        "compose.error",
        {
            "code": "upstream_timeout",
            "message": "Provider stream idle timeout",
            "error": {
                "message": "Provider stream idle timeout",
                "type": "upstream_error",
                "param": None,
                "code": "upstream_timeout",
            },
        },
    )
    assert parsed[-1] == (None, "[DONE]")


def test_failure_before_any_output() -> None:
    encoder = _encoder()
    frames = encoder.start() + encoder.fail(GatewayError(502, "upstream_error", "boom"))
    parsed = [_parse(frame) for frame in frames]
    assert [event for event, _ in parsed] == [
        "response.created",
        "response.in_progress",
        "response.failed",
        "compose.error",
        None,
    ]
    assert parsed[2][1]["response"]["output"] == [] and parsed[2][1]["sequence_number"] == 2


def test_settlement_failed_tail() -> None:
    encoder = _encoder()
    frames = encoder.settlement_failed(GatewayError(402, "settlement_failed", "no funds"))
    assert [_parse(frame)[0] for frame in frames] == ["compose.error", None]
    assert _parse(frames[0])[1]["error"]["type"] == "payment_error"


def test_tail_without_receipt_is_done_only() -> None:
    assert _encoder().tail() == [b"data: [DONE]\n\n"]


def test_output_property_tracks_open_item() -> None:
    encoder = _encoder()
    encoder.start()
    encoder.encode(TextDelta("x"))
    encoder.encode(TextDelta("y"))
    part = {"type": "output_text", "text": "xy", "annotations": []}
    # The open item with its text so far: what a background run's record shows while it runs.
    assert encoder.output == [
        {"type": "message", "id": "msg_0", "status": "in_progress", "role": "assistant", "content": [part]}
    ]


@pytest.mark.parametrize(
    "events",
    [
        pytest.param(_TEXT, id="text"),
        pytest.param(_REASONING_TEXT_CALLS, id="reasoning-text-calls"),
        pytest.param(_LENGTH, id="length"),
    ],
)
def test_sdk_stream_helper_accepts_the_stream(events: list[StreamEvent]) -> None:
    # The state machine behind ``client.responses.stream()``: it indexes items by output_index
    # and content_index, so wrong indexes or a missing added event raise here.
    parsed, _ = _run(events)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in _official(parsed):
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=data))  # type: ignore[arg-type]
    final = state._completed_response
    assert final is not None and final.status == "completed"
    accumulator = OutputAccumulator()
    for event in events:
        accumulator.add(event)
    assert final.output_text == accumulator.output().content

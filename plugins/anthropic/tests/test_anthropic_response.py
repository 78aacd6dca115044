"""Anthropic non-stream answers and error bodies -> canonical output and ProviderError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_anthropic.adapter import finish_reason, parse_message, parse_response, request_body, usage_from_wire
from gateway_anthropic.errors import map_error

from gateway_core import Message, OutputToolCall, ProviderCall, ProviderError, UpstreamResponse, Usage

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_call(**fields: Any) -> ProviderCall:
    base: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "row": {"modelId": "claude-test"},
        "model": "claude-test",
        "upstream_model": "claude-sonnet-4-5",
        "max_output_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return ProviderCall.model_validate({**base, **fields})


def test_text_answer_with_cache_usage() -> None:
    output = parse_message(make_call(), load("response_text.json"))
    assert output.content == "Bonjour ! Il fait 18°C à Paris."
    assert (output.reasoning, output.tool_calls, output.finish_reason) == (None, [], "stop")
    # Anthropic's three input counts are disjoint: the prompt is their sum.
    assert output.usage == Usage(prompt_tokens=2112, completion_tokens=9, total_tokens=2121, cached_input_tokens=2000)


def test_thinking_and_tool_calls() -> None:
    data = load("response_thinking_tools.json")
    output = parse_message(make_call(), data)
    assert output.content == "Checking both."
    assert output.reasoning == "The user wants weather and time."
    assert output.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in output.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris"}'),
        ("toolu_01B09q90qw90lq917835lq9", "get_time", "{}"),
    ]
    assert output.tool_calls[0].provider_metadata == {"anthropic": {"thinking": data["content"][:2]}}
    assert output.tool_calls[1].provider_metadata is None
    assert output.usage == Usage(prompt_tokens=472, completion_tokens=89, total_tokens=561, cached_input_tokens=0)


def test_thinking_round_trip_through_the_next_request() -> None:
    output = parse_message(make_call(), load("response_thinking_tools.json"))
    assistant = Message(role="assistant", content=output.content, tool_calls=[_echo(c) for c in output.tool_calls])
    results = [Message(role="tool", tool_call_id=c.id, content="ok") for c in output.tool_calls]
    body = request_body(make_call(messages=[{"role": "user", "content": "hi"}, assistant, *results]))
    blocks = body["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "text", "tool_use", "tool_use"]
    assert blocks[0]["signature"] == "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"


def _echo(call: OutputToolCall) -> dict[str, Any]:
    # What a client sends back: the call as the gateway returned it.
    return {"id": call.id, "name": call.name, "arguments": call.arguments, "provider_metadata": call.provider_metadata}


def test_forced_json_tool_becomes_the_text() -> None:
    call = make_call(upstream_model="claude-3-5-haiku-20241022", response_format={"type": "json_object"})
    output = parse_message(call, load("response_json_tool.json"))
    assert (output.content, output.tool_calls, output.finish_reason) == (
        '{"city":"Paris","country":"France"}',
        [],
        "stop",
    )


def test_json_tool_name_is_an_ordinary_tool_without_response_format() -> None:
    output = parse_message(make_call(), load("response_json_tool.json"))
    assert [c.name for c in output.tool_calls] == ["json_response"] and output.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("stop_reason", "json_tool", "expected"),
    [
        pytest.param("end_turn", False, "stop", id="end_turn"),
        pytest.param("stop_sequence", False, "stop", id="stop_sequence"),
        pytest.param("pause_turn", False, "stop", id="pause_turn"),
        pytest.param("max_tokens", False, "length", id="max_tokens"),
        pytest.param("model_context_window_exceeded", False, "length", id="context-window"),
        pytest.param("tool_use", False, "tool_calls", id="tool_use"),
        pytest.param("tool_use", True, "stop", id="json-tool"),
        pytest.param("refusal", False, "content_filter", id="refusal"),
        pytest.param("something_new", False, "something_new", id="unknown-kept"),
        pytest.param(None, False, None, id="missing"),
    ],
)
def test_finish_reasons(stop_reason: str | None, json_tool: bool, expected: str | None) -> None:
    assert finish_reason(stop_reason, json_tool) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(
            {"input_tokens": 3, "output_tokens": 4},
            Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
            id="plain",
        ),
        pytest.param({"output_tokens": 4}, Usage(completion_tokens=4), id="output-only"),
        pytest.param(
            {"input_tokens": 1, "cache_creation_input_tokens": 10, "output_tokens": 2},
            Usage(prompt_tokens=11, completion_tokens=2, total_tokens=13),
            id="cache-write-is-prompt",
        ),
    ],
)
def test_usage(usage: Any, expected: Usage | None) -> None:
    assert usage_from_wire(usage) == expected


def test_error_body_with_2xx_status_raises() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(ProviderError) as caught:
        parse_message(make_call(), body)
    assert (caught.value.status, caught.value.message, caught.value.retryable) == (529, "Overloaded", True)


def test_non_json_body_raises() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_response(make_call(), UpstreamResponse(200, {}, b"<html>oops</html>"))
    assert caught.value.status == 502


def error_body(kind: str, message: str = "boom") -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_01"}).encode()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(400, error_body("invalid_request_error"), (400, "boom", False), id="400"),
        pytest.param(401, error_body("authentication_error"), (401, "boom", False), id="401"),
        pytest.param(402, error_body("billing_error"), (402, "boom", False), id="402"),
        pytest.param(403, error_body("permission_error"), (403, "boom", False), id="403"),
        pytest.param(404, error_body("not_found_error"), (404, "boom", False), id="404"),
        pytest.param(413, error_body("request_too_large"), (413, "boom", False), id="413"),
        pytest.param(429, error_body("rate_limit_error"), (429, "boom", True), id="429"),
        pytest.param(500, error_body("api_error"), (500, "boom", True), id="500"),
        pytest.param(504, error_body("timeout_error"), (504, "boom", True), id="504"),
        pytest.param(529, error_body("overloaded_error", "Overloaded"), (529, "Overloaded", True), id="529"),
        pytest.param(409, error_body("conflict_error"), (409, "boom", None), id="unknown-type"),
        pytest.param(500, error_body("api_error", ""), (500, "api_error", True), id="empty-message"),
    ],
)
def test_map_error(status: int, body: bytes, expected: tuple[int, str, bool | None]) -> None:
    error = map_error(status, body)
    assert error is not None
    assert (error.status, error.message, error.retryable) == expected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(None, b"", id="transport-failure"),
        pytest.param(502, b"<html>Bad gateway</html>", id="not-json"),
        pytest.param(500, b'{"error": "plain"}', id="other-shape"),
        pytest.param(500, b"", id="empty"),
    ],
)
def test_map_error_defers_to_the_core(status: int | None, body: bytes) -> None:
    assert map_error(status, body) is None

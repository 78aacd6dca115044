"""Canonical calls -> Anthropic request bodies (hand-written fixtures and tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_anthropic.adapter import build_request, request_body

from gateway_core import ProviderCall, ProviderError

FIXTURES = Path(__file__).parent / "fixtures"
WEATHER_TOOL = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_call(**fields: Any) -> ProviderCall:
    base: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "row": {"modelId": "claude-test", "capabilities": {"tool_calling": True, "reasoning": True}},
        "model": "claude-test",
        "upstream_model": "claude-sonnet-4-5",
        "max_output_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return ProviderCall.model_validate({**base, **fields})


def rejected(**fields: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        request_body(make_call(**fields))
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("request_tool_loop.json", id="tool-loop"),
        pytest.param("request_media.json", id="media"),
        pytest.param("request_json_tool.json", id="json-tool"),
    ],
)
def test_request_fixtures(name: str) -> None:
    fixture = load(name)
    assert request_body(ProviderCall.model_validate(fixture["call"])) == fixture["body"]


def test_build_request() -> None:
    request = build_request(make_call(stream=True), "sk-test", "2023-06-01")
    assert (request.method, request.url, request.stream, request.stream_format) == ("POST", "/v1/messages", True, "sse")
    assert request.headers == {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
    assert request.json["stream"] is True


def test_minimal_body() -> None:
    assert request_body(make_call(max_output_tokens=77)) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 77,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


@pytest.mark.parametrize(
    ("messages", "system", "turns"),
    [
        pytest.param(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "Be brief.",
            [("user", ["hi"])],
            id="one-system-is-a-string",
        ),
        pytest.param(
            [{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]}],
            None,
            [("user", ["a", "b"])],
            id="consecutive-users-merge",
        ),
        pytest.param(
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": None},
                {"role": "user", "content": "b"},
            ],
            None,
            [("user", ["a", "b"])],
            id="empty-turns-dropped",
        ),
        pytest.param(
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "x"},
                {"role": "assistant", "content": "y"},
            ],
            None,
            [("user", ["a"]), ("assistant", ["x", "y"])],
            id="consecutive-assistants-merge",
        ),
    ],
)
def test_system_and_turns(
    messages: list[dict[str, Any]], system: str | None, turns: list[tuple[str, list[str]]]
) -> None:
    body = request_body(make_call(messages=messages))
    assert body.get("system") == system
    assert [(t["role"], [b["text"] for b in t["content"]]) for t in body["messages"]] == turns


def test_thinking_blocks_return_in_front_of_the_tool_calls() -> None:
    thinking = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "not thinking: dropped"},
    ]
    call = {
        "id": "toolu_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "provider_metadata": {"anthropic": {"thinking": thinking}},
    }
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Sure.", "tool_calls": [call]}]
    blocks = request_body(make_call(messages=messages))["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "text", "tool_use"]
    assert blocks[0] == thinking[0]


@pytest.mark.parametrize(
    ("tool_choice", "params", "expected"),
    [
        pytest.param(None, {}, None, id="unset"),
        pytest.param({"mode": "auto"}, {}, {"type": "auto"}, id="auto"),
        pytest.param({"mode": "none"}, {}, {"type": "none"}, id="none"),
        pytest.param({"mode": "required"}, {}, {"type": "any"}, id="required"),
        pytest.param(
            {"mode": "function", "function": "get_weather"}, {}, {"type": "tool", "name": "get_weather"}, id="fn"
        ),
        pytest.param(None, {"parallel_tool_calls": True}, None, id="parallel-true"),
        pytest.param(
            None, {"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}, id="not-parallel"
        ),
        pytest.param(
            {"mode": "required"},
            {"parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
            id="required-not-parallel",
        ),
        pytest.param({"mode": "none"}, {"parallel_tool_calls": False}, {"type": "none"}, id="none-not-parallel"),
    ],
)
def test_tool_choice(
    tool_choice: dict[str, Any] | None, params: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    body = request_body(make_call(tools=[WEATHER_TOOL], tool_choice=tool_choice, custom_params=params))
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "get_weather", "input_schema": WEATHER_TOOL["parameters"]}]


def test_tool_choice_needs_tools() -> None:
    body = request_body(make_call(tool_choice={"mode": "auto"}, custom_params={"parallel_tool_calls": False}))
    assert "tool_choice" not in body and "tools" not in body


def test_strict_tools_stay_strict() -> None:
    tool = {**WEATHER_TOOL, "description": "Weather", "strict": True}
    assert request_body(make_call(tools=[tool]))["tools"][0]["strict"] is True


@pytest.mark.parametrize(
    ("model", "effort", "max_tokens", "expected"),
    [
        pytest.param(
            "claude-sonnet-4-5", "low", 4096, {"thinking": {"type": "enabled", "budget_tokens": 2048}}, id="low"
        ),
        pytest.param(
            "claude-sonnet-4-5", "medium", 32000, {"thinking": {"type": "enabled", "budget_tokens": 8192}}, id="medium"
        ),
        pytest.param(
            "claude-haiku-4-5-20251001",
            "high",
            64000,
            {"thinking": {"type": "enabled", "budget_tokens": 24576}},
            id="high",
        ),
        pytest.param(
            "claude-sonnet-4-5", "high", 10000, {"thinking": {"type": "enabled", "budget_tokens": 5000}}, id="half-cap"
        ),
        pytest.param(
            "claude-opus-5-5",
            "high",
            4096,
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
            id="adaptive",
        ),
        pytest.param(
            "claude-sonnet-4-6",
            "low",
            1000,
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
            id="adaptive-no-budget",
        ),
    ],
)
def test_reasoning_effort(model: str, effort: str, max_tokens: int, expected: dict[str, Any]) -> None:
    body = request_body(
        make_call(upstream_model=model, max_output_tokens=max_tokens, custom_params={"reasoning_effort": effort})
    )
    assert {k: body[k] for k in ("thinking", "output_config") if k in body} == expected


def test_catalog_row_overrides_the_profile() -> None:
    row = {"modelId": "claude-next", "capabilities": ["reasoning"], "sourceMetadata": {"thinking": "adaptive"}}
    body = request_body(make_call(upstream_model="claude-next-1", row=row, custom_params={"reasoning_effort": "low"}))
    assert body["thinking"] == {"type": "adaptive"}


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        pytest.param(
            {"row": {"modelId": "claude-test"}, "custom_params": {"reasoning_effort": "low"}},
            "reasoning_effort",
            "not supported by model 'claude-test'",
            id="no-reasoning-capability",
        ),
        pytest.param({"custom_params": {"reasoning_effort": "max"}}, "reasoning_effort", "one of low", id="bad-effort"),
        pytest.param(
            {"max_output_tokens": 2000, "custom_params": {"reasoning_effort": "low"}},
            "max_tokens",
            "at least 2048",
            id="budget-too-small",
        ),
        pytest.param(
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {"mode": "required"},
                "custom_params": {"reasoning_effort": "low"},
            },
            "tool_choice",
            "reasoning_effort",
            id="thinking-forced-tool",
        ),
        pytest.param(
            {"upstream_model": "claude-opus-5-5", "tools": [WEATHER_TOOL], "tool_choice": {"mode": "required"}},
            "tool_choice",
            "does not accept a forced tool_choice",
            id="model-rejects-forced-tool",
        ),
        pytest.param({"tools": [{"type": "web_search"}]}, "tools", "'web_search'", id="non-function-tool"),
        pytest.param({"custom_params": {"top_p": "high"}}, "top_p", "number", id="top_p-type"),
        pytest.param({"custom_params": {"stop": [1]}}, "stop", "strings", id="stop-type"),
        pytest.param({"custom_params": {"user": 7}}, "user", "string", id="user-type"),
        pytest.param(
            {"tools": [WEATHER_TOOL], "custom_params": {"parallel_tool_calls": "no"}},
            "parallel_tool_calls",
            "boolean",
            id="parallel-type",
        ),
    ],
)
def test_rejected_options(fields: dict[str, Any], param: str, message: str) -> None:
    error = rejected(**fields)
    assert error.param == param and message in error.message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"stop": "END"}, {"stop_sequences": ["END"]}, id="stop-string"),
        pytest.param({"user": "u1"}, {"metadata": {"user_id": "u1"}}, id="user"),
        pytest.param(
            {"metadata": {"user_id": "m1", "tag": "x"}, "user": "u1"}, {"metadata": {"user_id": "m1"}}, id="meta"
        ),
        pytest.param({"metadata": {"tag": "x"}}, {}, id="metadata-without-user"),
        pytest.param({"stream_options": {"include_usage": False}}, {}, id="stream_options-ignored"),
        pytest.param({"top_p": 1}, {"top_p": 1}, id="top_p"),
    ],
)
def test_passthrough(params: dict[str, Any], expected: dict[str, Any]) -> None:
    body = request_body(make_call(custom_params=params))
    assert {k: body[k] for k in ("stop_sequences", "metadata", "top_p") if k in body} == expected


JSON_SCHEMA = {"type": "json_schema", "name": "place", "schema": SCHEMA}
JSON_OBJECT = {"type": "json_object"}
FORCED_TOOL = {"type": "tool", "name": "json_response"}


@pytest.mark.parametrize(
    ("model", "response_format", "params", "expected"),
    [
        pytest.param(
            "claude-sonnet-4-5",
            JSON_SCHEMA,
            {},
            {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}},
            id="native",
        ),
        pytest.param(
            "claude-opus-5-5",
            JSON_SCHEMA,
            {"reasoning_effort": "low"},
            {
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": SCHEMA}},
            },
            id="native-with-effort",
        ),
        pytest.param("claude-sonnet-4-5", JSON_OBJECT, {}, {"tool_choice": FORCED_TOOL}, id="json_object-forced-tool"),
        pytest.param("claude-3-7-sonnet-20250219", JSON_SCHEMA, {}, {"tool_choice": FORCED_TOOL}, id="old-model-tool"),
    ],
)
def test_json_output(
    model: str, response_format: dict[str, Any], params: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = request_body(make_call(upstream_model=model, response_format=response_format, custom_params=params))
    assert {k: body[k] for k in ("thinking", "output_config", "tool_choice") if k in body} == expected
    if "tool_choice" in expected:
        schema = SCHEMA if response_format is JSON_SCHEMA else {"type": "object"}
        assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("json_response", schema)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"upstream_model": "claude-opus-5-5", "response_format": JSON_OBJECT}, "only as json_schema", id="opus-5-5"
        ),
        pytest.param({"response_format": JSON_OBJECT, "tools": [WEATHER_TOOL]}, "with tools", id="with-tools"),
        pytest.param(
            {"response_format": JSON_OBJECT, "custom_params": {"reasoning_effort": "low"}},
            "with reasoning_effort",
            id="with-thinking",
        ),
    ],
)
def test_json_output_rejected(fields: dict[str, Any], message: str) -> None:
    error = rejected(**fields)
    assert error.param == "response_format" and message in error.message


def user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        pytest.param(
            user({"type": "audio", "url": "data:audio/wav;base64,UklG"}), "audio inputs are not supported", id="audio"
        ),
        pytest.param(user({"type": "video", "url": "https://x/v.mp4"}), "video inputs are not supported", id="video"),
        pytest.param(
            user({"type": "file", "url": "data:text/plain;base64,aGk=", "mime_type": "text/plain"}),
            "only PDF",
            id="text-file",
        ),
        pytest.param(user({"type": "image", "url": "ftp://x/cat.png"}), "http(s) or base64", id="ftp-image"),
        pytest.param(user({"type": "image", "url": "data:image/svg+xml,<svg/>"}), "must be base64", id="not-base64"),
        pytest.param(
            [{"role": "system", "content": [{"type": "image", "url": "https://x/cat.png"}]}],
            "only supported in user messages",
            id="system-image",
        ),
        pytest.param(
            [{"role": "assistant", "content": [{"type": "image", "url": "https://x/cat.png"}]}],
            "only supported in user messages",
            id="assistant-image",
        ),
        pytest.param([{"role": "tool", "content": "42"}], "tool_call_id", id="tool-without-id"),
        pytest.param(
            [{"role": "assistant", "tool_calls": [{"id": "t1", "name": "f", "arguments": "[1]"}]}],
            "must be a JSON object",
            id="array-arguments",
        ),
        pytest.param(user({"type": "tool-call", "name": "f", "input": {}}), "assistant messages", id="call-in-user"),
    ],
)
def test_rejected_content(messages: list[dict[str, Any]], message: str) -> None:
    error = rejected(messages=messages)
    assert message in error.message and error.param == "messages"


def test_content_parts_of_the_responses_shape() -> None:
    messages = [
        {"role": "assistant", "content": [{"type": "tool-call", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool-result", "id": "t1", "output": {"ok": True}}]},
    ]
    turns = request_body(make_call(messages=messages))["messages"]
    assert turns == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": '{"ok":true}'}]},
    ]

"""Request bodies and non-stream answers against hand-written Chat Completions wire fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_openai import adapter

from gateway_core import FunctionTool, Message, ProviderCall, ProviderError
from gateway_core.types import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    MessageToolCall,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    VideoPart,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_call(**fields: Any) -> ProviderCall:
    base: dict[str, Any] = {
        "request_id": "req_test",
        "response_id": "resp_test",
        "row": {},
        "model": "public-model",
        "upstream_model": "gpt-4.1-mini",
        "messages": [Message(role="user", content="hi")],
        "max_output_tokens": 256,
    }
    return ProviderCall(**{**base, **fields})


WEATHER = FunctionTool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    strict=True,
)

# -- request bodies --------------------------------------------------------------------------


def test_text_request_body() -> None:
    call = make_call(
        messages=[
            Message(role="system", content="You are terse."),
            Message(role="user", content="Say hello.", name="alice"),
        ],
        temperature=0.2,
        custom_params={"seed": 7, "top_p": 0.9, "prompt_cache_key": "tenant-42", "text": {"verbosity": "low"}},
    )
    assert adapter.request_body(call) == load("request_text.json")


def test_multimodal_tools_stream_request_body() -> None:
    user_parts: list[ContentPart] = [
        TextPart(text="What is in these, and what is the weather in Paris?"),
        ImagePart(url="https://example.com/cat.png", detail="high"),
        AudioPart(url="data:audio/wav;base64,UklGRg=="),
        AudioPart(url="data:audio/mpeg;base64,SUQz"),
        FilePart(url="data:application/pdf;base64,JVBERi0=", filename="report.pdf", mime_type="application/pdf"),
    ]
    call = make_call(
        upstream_model="gpt-5-mini",
        stream=True,
        max_output_tokens=1024,
        messages=[
            Message(role="user", content=user_parts),
            Message(
                role="assistant",
                tool_calls=[MessageToolCall(id="call_weather", name="get_weather", arguments='{"city":"Paris"}')],
                content=[ToolCallPart(id="call_time", name="get_time", input={"tz": "Europe/Paris"})],
            ),
            Message(role="tool", tool_call_id="call_weather", content="18C, cloudy"),
            Message(role="tool", content=[ToolResultPart(id="call_time", name="get_time", output={"time": "14:05"})]),
        ],
        tools=[WEATHER, {"type": "custom", "custom": {"name": "run_sql", "description": "Run one SQL query"}}],
        tool_choice=ToolChoice(mode="required"),
        response_format=ResponseFormat(
            type="json_schema",
            name="answer",
            schema={"type": "object", "properties": {"text": {"type": "string"}}},
            strict=True,
        ),
        custom_params={
            "parallel_tool_calls": True,
            "reasoning_effort": "low",
            "stream_options": {"include_obfuscation": False, "include_usage": False},
        },
    )
    assert adapter.request_body(call) == load("request_tools_stream.json")


@pytest.mark.parametrize(
    ("legacy", "present", "absent"),
    [
        pytest.param(False, "max_completion_tokens", "max_tokens", id="current"),
        pytest.param(True, "max_tokens", "max_completion_tokens", id="legacy"),
    ],
)
def test_output_cap_field(legacy: bool, present: str, absent: str) -> None:
    body = adapter.request_body(make_call(max_output_tokens=99), legacy_max_tokens=legacy)
    assert body[present] == 99 and absent not in body


@pytest.mark.parametrize(
    ("stream", "caller", "expected"),
    [
        pytest.param(True, None, {"include_usage": True}, id="stream-added"),
        pytest.param(True, {"include_usage": False}, {"include_usage": True}, id="stream-forced-on"),
        pytest.param(
            True, {"include_obfuscation": False}, {"include_obfuscation": False, "include_usage": True}, id="merged"
        ),
        pytest.param(False, {"include_usage": True}, None, id="non-stream-omitted"),
    ],
)
def test_stream_options(stream: bool, caller: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    params = {"stream_options": caller} if caller is not None else None
    body = adapter.request_body(make_call(stream=stream, custom_params=params))
    assert body.get("stream_options") == expected
    assert body.get("stream") is (True if stream else None)


@pytest.mark.parametrize(
    ("row", "sent"),
    [
        pytest.param({}, True, id="row-without-capabilities"),
        pytest.param({"capabilities": {"tool_calling": True, "reasoning": True}}, True, id="reasoning-model"),
        pytest.param({"capabilities": ["tool_calling", "reasoning"]}, True, id="reasoning-model-list"),
        pytest.param({"capabilities": {"tool_calling": True, "reasoning": False}}, False, id="non-reasoning-model"),
        pytest.param({"capabilities": ["tool_calling"]}, False, id="non-reasoning-model-list"),
    ],
)
def test_reasoning_effort_only_for_reasoning_models(row: dict[str, Any], sent: bool) -> None:
    body = adapter.request_body(make_call(row=row, custom_params={"reasoning_effort": "low", "seed": 1}))
    assert ("reasoning_effort" in body) is sent
    assert body["seed"] == 1


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        pytest.param(ToolChoice(mode="none"), "none", id="none"),
        pytest.param(ToolChoice(mode="auto"), "auto", id="auto"),
        pytest.param(ToolChoice(mode="required"), "required", id="required"),
        pytest.param(
            ToolChoice(mode="function", function="get_weather"),
            {"type": "function", "function": {"name": "get_weather"}},
            id="function",
        ),
    ],
)
def test_tool_choice(choice: ToolChoice, wire: Any) -> None:
    assert adapter.tool_choice_body(choice) == wire


def test_json_object_response_format() -> None:
    assert adapter.response_format_body(ResponseFormat(type="json_object")) == {"type": "json_object"}


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        pytest.param(
            Message(role="assistant", content=None), [{"role": "assistant", "content": ""}], id="empty-assistant"
        ),
        pytest.param(Message(role="user", content=None), [{"role": "user", "content": ""}], id="empty-user"),
        pytest.param(
            Message(role="assistant", content=[TextPart(text="a"), TextPart(text="b")]),
            [{"role": "assistant", "content": "ab"}],
            id="assistant-text-parts-joined",
        ),
        pytest.param(
            Message(role="tool", tool_call_id="call_1", content=[TextPart(text="42")]),
            [{"role": "tool", "tool_call_id": "call_1", "content": "42"}],
            id="tool-text-parts",
        ),
        pytest.param(
            Message(
                role="user",
                content=[ToolResultPart(id="call_1", output="done"), TextPart(text="and now?")],
            ),
            [
                {"role": "tool", "tool_call_id": "call_1", "content": "done"},
                {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
            ],
            id="tool-result-before-user-text",
        ),
    ],
)
def test_message_shapes(message: Message, wire: list[dict[str, Any]]) -> None:
    assert adapter.chat_messages([message]) == wire


@pytest.mark.parametrize(
    ("message", "text"),
    [
        pytest.param(
            Message(role="user", content=[VideoPart(url="https://example.com/a.mp4")]),
            "video inputs are not supported by this model",
            id="video",
        ),
        pytest.param(
            Message(role="user", content=[AudioPart(url="https://example.com/a.mp3")]),
            "audio URL inputs are not supported by this model",
            id="audio-url",
        ),
        pytest.param(
            Message(role="user", content=[FilePart(url="https://example.com/a.pdf")]),
            "file URL inputs are not supported by this model",
            id="file-url",
        ),
        pytest.param(
            Message(role="assistant", content=[ToolCallPart(name="get_weather", input={})]),
            "tool call 'get_weather' needs an id (toolCallId) for this provider",
            id="tool-call-without-id",
        ),
        pytest.param(
            Message(role="tool", content=[ToolResultPart(output="x")]),
            "tool results need the id of the call they answer (tool_call_id)",
            id="tool-result-without-id",
        ),
        pytest.param(
            Message(role="assistant", content=[ImagePart(url="https://example.com/a.png")]),
            "image parts are not supported in assistant messages",
            id="image-in-assistant",
        ),
    ],
)
def test_inputs_refused_with_400(message: Message, text: str) -> None:
    with pytest.raises(ProviderError) as caught:
        adapter.request_body(make_call(messages=[message]))
    assert (caught.value.status, caught.value.message) == (400, text)


def test_text_keys_other_than_verbosity_are_refused() -> None:
    call = make_call(custom_params={"text": {"verbosity": "low", "format": {"type": "text"}}})
    with pytest.raises(ProviderError) as caught:
        adapter.request_body(call)
    assert (caught.value.status, caught.value.param) == (400, "text")
    assert "text.format" in caught.value.message


# -- non-stream answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "response_text.json",
            {
                "content": "Hello! How can I assist you today?",
                "finish_reason": "stop",
                "tool_calls": [],
                "reasoning": None,
                "usage": {
                    "prompt_tokens": 19,
                    "completion_tokens": 10,
                    "total_tokens": 29,
                    "cached_input_tokens": 0,
                    "reasoning_tokens": 0,
                    "billing_metrics": None,
                },
            },
            id="text",
        ),
        pytest.param(
            "response_tool_calls.json",
            {
                "content": "",
                "finish_reason": "tool_calls",
                "tool_calls": [
                    {"id": "call_abc123", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                    {"id": "call_def456", "name": "get_time", "arguments": '{"tz":"Europe/Paris"}'},
                ],
                "reasoning": None,
                "usage": {
                    "prompt_tokens": 1117,
                    "completion_tokens": 46,
                    "total_tokens": 1163,
                    "cached_input_tokens": 1024,
                    "reasoning_tokens": 28,
                    "billing_metrics": None,
                },
            },
            id="parallel-tool-calls",
        ),
        pytest.param(
            "response_refusal.json",
            {
                "content": "I'm sorry, I can't assist with that request.",
                "finish_reason": "content_filter",
                "tool_calls": [],
                "reasoning": None,
                "usage": {
                    "prompt_tokens": 30,
                    "completion_tokens": 11,
                    "total_tokens": 41,
                    "cached_input_tokens": None,
                    "reasoning_tokens": None,
                    "billing_metrics": None,
                },
            },
            id="refusal",
        ),
        pytest.param(
            "response_reasoning.json",
            {
                "content": "4",
                "finish_reason": "length",
                "tool_calls": [],
                "reasoning": "The user wants 2+2. That is 4.",
                "usage": {
                    "prompt_tokens": 12,
                    "completion_tokens": 20,
                    "total_tokens": 32,
                    "cached_input_tokens": None,
                    "reasoning_tokens": None,
                    "billing_metrics": None,
                },
            },
            id="compatible-server-reasoning",
        ),
    ],
)
def test_parse_output(fixture: str, expected: dict[str, Any]) -> None:
    output = adapter.parse_output(load(fixture)).model_dump(
        include={"content", "finish_reason", "tool_calls", "reasoning", "usage"}
    )
    for call in output["tool_calls"]:
        call.pop("provider_metadata")
    assert output == expected


def test_usage_absent_stays_absent() -> None:
    data = load("response_text.json")
    del data["usage"]
    assert adapter.parse_output(data).usage is None


def test_custom_tool_call_is_returned_as_a_call() -> None:
    data = load("response_tool_calls.json")
    data["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_sql", "type": "custom", "custom": {"name": "run_sql", "input": "SELECT 1"}}
    ]
    (call,) = adapter.parse_output(data).tool_calls
    assert (call.id, call.name, call.arguments) == ("call_sql", "run_sql", "SELECT 1")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(load("response_error_200.json"), 500, id="error-body-with-200"),
        pytest.param({"id": "x", "choices": []}, 502, id="no-choices"),
    ],
)
def test_unusable_answers_raise(data: Any, status: int) -> None:
    with pytest.raises(ProviderError) as caught:
        adapter.parse_output(data)
    assert caught.value.status == status

"""Responses API request bodies and non-stream answers against hand-written wire fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_openai import responses_wire

from gateway_core import FunctionTool, Message, Output, OutputToolCall, ProviderCall, ProviderError, Usage
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
        "upstream_model": "gpt-5-mini",
        "operation": "responses",
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
            Message(role="system", content=[TextPart(text="Answer in English.")]),
            Message(role="user", content="Say hello.", name="alice"),
        ],
        temperature=0.2,
        custom_params={
            "top_p": 0.9,
            "prompt_cache_key": "tenant-42",
            "text": {"verbosity": "low"},
            "reasoning": {"effort": "high", "summary": "auto"},
            "reasoning_effort": "low",
            "store": True,
        },
    )
    assert responses_wire.request_body(call) == load("responses_request_text.json")


def test_multimodal_tools_history_stream_request_body() -> None:
    user_parts: list[ContentPart] = [
        TextPart(text="What is in these, and what is the weather in Paris?"),
        ImagePart(url="https://example.com/cat.png", detail="high"),
        AudioPart(url="data:audio/wav;base64,UklGRg=="),
        FilePart(url="data:application/pdf;base64,JVBERi0=", filename="report.pdf", mime_type="application/pdf"),
        FilePart(url="https://example.com/notes.pdf"),
    ]
    call = make_call(
        stream=True,
        max_output_tokens=1024,
        messages=[
            Message(role="user", content=user_parts),
            Message(
                role="assistant",
                content="Let me check.",
                tool_calls=[MessageToolCall(id="call_weather", name="get_weather", arguments='{"city":"Paris"}')],
            ),
            Message(
                role="assistant", content=[ToolCallPart(id="call_time", name="get_time", input={"tz": "Europe/Paris"})]
            ),
            Message(role="tool", tool_call_id="call_weather", content="18C, cloudy"),
            Message(role="tool", content=[ToolResultPart(id="call_time", name="get_time", output={"time": "14:05"})]),
            Message(role="system", content="Keep it under 20 words."),
        ],
        tools=[
            WEATHER,
            FunctionTool(name="get_time"),
            {"type": "custom", "name": "run_sql", "description": "Run one SQL query"},
        ],
        tool_choice=ToolChoice(mode="required"),
        response_format=ResponseFormat(
            type="json_schema",
            name="answer",
            schema={"type": "object", "properties": {"text": {"type": "string"}}},
            strict=True,
        ),
        custom_params={
            "parallel_tool_calls": True,
            "include": ["reasoning.encrypted_content"],
            "stream_options": {"include_obfuscation": False, "include_usage": True},
        },
    )
    assert responses_wire.request_body(call) == load("responses_request_tools_stream.json")


@pytest.mark.parametrize(
    ("stream", "caller", "expected"),
    [
        pytest.param(True, {"include_obfuscation": False}, {"include_obfuscation": False}, id="stream-kept"),
        pytest.param(True, {"include_usage": True}, None, id="chat-option-dropped"),
        pytest.param(False, {"include_obfuscation": False}, None, id="non-stream-omitted"),
    ],
)
def test_stream_options(stream: bool, caller: dict[str, Any], expected: dict[str, Any] | None) -> None:
    body = responses_wire.request_body(make_call(stream=stream, custom_params={"stream_options": caller}))
    assert body.get("stream_options") == expected
    assert body.get("stream") is (True if stream else None)


@pytest.mark.parametrize(
    ("row", "sent"),
    [
        pytest.param({}, True, id="row-without-capabilities"),
        pytest.param({"capabilities": {"reasoning": True}}, True, id="reasoning-model"),
        pytest.param({"capabilities": ["tool_calling"]}, False, id="non-reasoning-model"),
    ],
)
def test_reasoning_only_for_reasoning_models(row: dict[str, Any], sent: bool) -> None:
    body = responses_wire.request_body(make_call(row=row, custom_params={"reasoning_effort": "low", "top_p": 1}))
    assert body.get("reasoning") == ({"effort": "low"} if sent else None)
    assert body["top_p"] == 1


def test_the_upstream_never_stores() -> None:
    body = responses_wire.request_body(make_call(custom_params={"store": True, "metadata": {"k": "v"}}))
    # The gateway keeps (and echoes) the record, its store switch and its metadata.
    assert body["store"] is False and "metadata" not in body
    assert "previous_response_id" not in body


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        pytest.param(ToolChoice(mode="none"), "none", id="none"),
        pytest.param(ToolChoice(mode="auto"), "auto", id="auto"),
        pytest.param(ToolChoice(mode="required"), "required", id="required"),
        pytest.param(
            ToolChoice(mode="function", function="get_weather"), {"type": "function", "name": "get_weather"}, id="fn"
        ),
    ],
)
def test_tool_choice(choice: ToolChoice, wire: Any) -> None:
    assert responses_wire.tool_choice_body(choice) == wire


@pytest.mark.parametrize(
    ("response_format", "wire"),
    [
        pytest.param(ResponseFormat(type="json_object"), {"type": "json_object"}, id="json_object"),
        pytest.param(
            ResponseFormat(type="json_schema", schema={"type": "object"}),
            {"type": "json_schema", "name": "response", "schema": {"type": "object"}},
            id="json_schema-defaults",
        ),
    ],
)
def test_text_format(response_format: ResponseFormat, wire: dict[str, Any]) -> None:
    assert responses_wire.text_format(response_format) == wire


@pytest.mark.parametrize(
    ("messages", "instructions", "items"),
    [
        pytest.param([Message(role="user", content="hi")], None, [{"role": "user", "content": "hi"}], id="no-system"),
        pytest.param(
            [Message(role="system", content=[ImagePart(url="https://x/y.png")]), Message(role="user", content="hi")],
            None,
            [
                {
                    "role": "developer",
                    "content": [{"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}],
                },
                {"role": "user", "content": "hi"},
            ],
            id="non-text-system-is-a-developer-message",
        ),
        pytest.param(
            [Message(role="assistant", content=None), Message(role="user", content=None)],
            None,
            [{"role": "user", "content": ""}],
            id="empty-assistant-dropped",
        ),
        pytest.param(
            [Message(role="user", content=[ToolResultPart(id="call_1", output="done"), TextPart(text="and now?")])],
            None,
            [
                {"type": "function_call_output", "call_id": "call_1", "output": "done"},
                {"role": "user", "content": [{"type": "input_text", "text": "and now?"}]},
            ],
            id="tool-results-first",
        ),
        pytest.param(
            [Message(role="tool", tool_call_id="call_1", content=[TextPart(text="4"), TextPart(text="2")])],
            None,
            [{"type": "function_call_output", "call_id": "call_1", "output": "42"}],
            id="tool-text-parts",
        ),
    ],
)
def test_input_items(messages: list[Message], instructions: str | None, items: list[dict[str, Any]]) -> None:
    assert responses_wire.input_items(messages) == (instructions, items)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(
            Message(role="user", content=[VideoPart(url="https://x/v.mp4")]), "video inputs are not", id="video"
        ),
        pytest.param(
            Message(role="user", content=[AudioPart(url="https://x/a.mp3")]), "audio URL inputs are not", id="audio-url"
        ),
        pytest.param(Message(role="assistant", content=[ToolCallPart(name="f")]), "needs an id", id="call-without-id"),
        pytest.param(Message(role="tool", content="x"), "need the id", id="result-without-id"),
        pytest.param(
            Message(role="user", content=[ToolCallPart(id="c", name="f")]),
            "only supported in assistant",
            id="user-call",
        ),
        pytest.param(
            Message(role="assistant", content=[ImagePart(url="https://x/y.png")]),
            "not supported in assistant",
            id="img",
        ),
        pytest.param(
            Message(role="tool", tool_call_id="c", content=[ImagePart(url="https://x/y.png")]),
            "only hold text",
            id="tool",
        ),
    ],
)
def test_untranslatable_input_is_a_400(message: Message, error: str) -> None:
    with pytest.raises(ProviderError) as caught:
        responses_wire.request_body(make_call(messages=[message]))
    assert caught.value.status == 400 and error in caught.value.message


# -- answers ---------------------------------------------------------------------------------


def test_text_answer() -> None:
    assert responses_wire.parse_response(load("responses_text.json")) == Output(
        content="In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool.",
        finish_reason="stop",
        usage=Usage(
            prompt_tokens=36, completion_tokens=87, total_tokens=123, cached_input_tokens=12, reasoning_tokens=0
        ),
    )


def test_reasoning_text_and_tool_calls_answer() -> None:
    assert responses_wire.parse_response(load("responses_tool_calls.json")) == Output(
        content="Let me look that up.",
        reasoning="**Checking the weather**\n\nThe user wants Paris.\n\n**And the time**\n\nTwo calls, in parallel.",
        tool_calls=[
            OutputToolCall(id="call_jg8NB1UhPuNUu6nLuv3DchEE", name="get_weather", arguments='{"city":"Paris"}'),
            OutputToolCall(id="call_AwZ6oCq4pmYpTL8dZUzsYmFk", name="get_time", arguments='{"tz":"Europe/Paris"}'),
        ],
        finish_reason="tool_calls",
        usage=Usage(
            prompt_tokens=94, completion_tokens=180, total_tokens=274, cached_input_tokens=0, reasoning_tokens=128
        ),
    )


def test_incomplete_answer_is_length() -> None:
    output = responses_wire.parse_response(load("responses_incomplete.json"))
    assert (output.content, output.finish_reason) == ("Once upon a time, in a", "length")


def test_refusal_is_content_with_content_filter() -> None:
    output = responses_wire.parse_response(load("responses_refusal.json"))
    assert (output.content, output.finish_reason) == ("I'm sorry, I can't help with that.", "content_filter")


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        pytest.param(load("responses_failed.json"), 500, "The model failed to generate a response.", id="failed"),
        pytest.param(
            {"error": {"message": "Rate limited", "type": "requests", "code": "rate_limit_exceeded"}},
            429,
            "Rate limited",
            id="error-body-200",
        ),
        pytest.param({"status": "in_progress", "output": []}, 502, "status 'in_progress'", id="not-finished"),
        pytest.param([], 502, "not a response object", id="not-an-object"),
    ],
)
def test_failed_answers_raise(data: Any, status: int, message: str) -> None:
    with pytest.raises(ProviderError) as caught:
        responses_wire.parse_response(data)
    assert caught.value.status == status and message in caught.value.message


@pytest.mark.parametrize(
    ("details", "finish"),
    [
        pytest.param({"reason": "max_output_tokens"}, "length", id="max_output_tokens"),
        pytest.param({"reason": "content_filter"}, "content_filter", id="content_filter"),
        pytest.param({"reason": "max_messages"}, "max_messages", id="other-reason-kept"),
        pytest.param(None, "length", id="no-reason"),
    ],
)
def test_incomplete_reasons(details: dict[str, str] | None, finish: str) -> None:
    response = {"status": "incomplete", "incomplete_details": details}
    assert responses_wire.finish_reason(response, tool_calls=False, refused=False) == finish

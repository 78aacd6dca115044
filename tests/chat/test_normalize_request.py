"""Chat request validation and option normalization (spec/chat.md §2 steps 2-5, §3.1, §3.3-§3.6)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.chat import (
    ChatRequest,
    build_custom_params,
    normalize_chat_request,
    normalize_response_format,
    normalize_tool_choice,
    normalize_tools,
    output_cap,
    response_format_as_chat,
    tool_as_chat,
)
from gateway_core.errors import GatewayError
from gateway_core.types.messages import (
    AudioPart,
    FunctionTool,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolChoice,
    VideoPart,
)

_MESSAGES = [{"role": "user", "content": "hi"}]


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": _MESSAGES, **fields}


def _error(body: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        normalize_chat_request(body)
    return info.value


# --- steps 2-4 -----------------------------------------------------------------------------

_STREAM = ("invalid_stream", "stream must be a boolean when provided")
_MODEL = ("missing_model", "model is required")
_MESSAGES_ERR = ("missing_messages", "messages is required and must be a non-empty array")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(_body(stream="true"), _STREAM, id="stream-string"),
        pytest.param(_body(stream=1), _STREAM, id="stream-number"),
        pytest.param(_body(stream={}), _STREAM, id="stream-object"),
        pytest.param({"stream": 0}, _STREAM, id="stream-checked-before-model"),
        pytest.param({"messages": _MESSAGES}, _MODEL, id="model-missing"),
        pytest.param(_body(model=None), _MODEL, id="model-null"),
        pytest.param(_body(model=""), _MODEL, id="model-empty"),
        pytest.param(_body(model=5), _MODEL, id="model-not-string"),
        pytest.param({"model": ""}, _MODEL, id="model-checked-before-messages"),
        pytest.param({"model": "m"}, _MESSAGES_ERR, id="messages-missing"),
        pytest.param(_body(messages=None), _MESSAGES_ERR, id="messages-null"),
        pytest.param(_body(messages=[]), _MESSAGES_ERR, id="messages-empty"),
        pytest.param(_body(messages={"role": "user"}), _MESSAGES_ERR, id="messages-object"),
        pytest.param(_body(messages="hi"), _MESSAGES_ERR, id="messages-string"),
        pytest.param(_body(messages=[], tools="x"), _MESSAGES_ERR, id="messages-checked-before-fields"),
    ],
)
def test_required_fields(body: dict[str, Any], expected: tuple[str, str]) -> None:
    error = _error(body)
    # The spec's envelope example shows ``param: null`` for these codes.
    assert (error.status, error.code, error.message, error.param) == (400, *expected, None)


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(True, True, id="true"),
        pytest.param(False, False, id="false"),
        pytest.param(None, False, id="null-is-absent"),
    ],
)
def test_stream(stream: bool | None, expected: bool) -> None:
    assert normalize_chat_request(_body(stream=stream)).stream is expected


def test_minimal_request() -> None:
    assert normalize_chat_request(_body()) == ChatRequest(model="m", messages=[Message(role="user", content="hi")])


def test_non_object_messages_leave_empty_list() -> None:
    # Step 4 only checks the array; dropping happens in §3.2 and is not an error.
    assert normalize_chat_request(_body(messages=[1, "x"])).messages == []


# --- step 5: field types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        pytest.param({"stream_options": True}, "stream_options", id="stream_options-boolean"),
        pytest.param({"stream_options": []}, "stream_options", id="stream_options-array"),
        pytest.param({"tools": {}}, "tools", id="tools-object"),
        pytest.param({"tool_choice": "any"}, "tool_choice", id="tool_choice-unknown"),
        pytest.param({"max_tokens": 0}, "max_tokens", id="max_tokens-zero"),
        pytest.param({"max_tokens": -3}, "max_tokens", id="max_tokens-negative"),
        pytest.param({"max_tokens": 1.5}, "max_tokens", id="max_tokens-fraction"),
        pytest.param({"max_tokens": 10.0}, "max_tokens", id="max_tokens-float"),
        pytest.param({"max_tokens": "10"}, "max_tokens", id="max_tokens-string"),
        pytest.param({"max_tokens": True}, "max_tokens", id="max_tokens-boolean"),
        pytest.param({"max_completion_tokens": 0}, "max_completion_tokens", id="max_completion_tokens-zero"),
        pytest.param({"max_completion_tokens": "5"}, "max_completion_tokens", id="max_completion_tokens-string"),
        pytest.param({"max_tokens": 5, "max_completion_tokens": 0}, "max_completion_tokens", id="both-validated"),
        pytest.param({"max_tokens": 0, "max_completion_tokens": 0}, "max_tokens", id="max_tokens-reported-first"),
        pytest.param({"temperature": "0.5"}, "temperature", id="temperature-string"),
        pytest.param({"temperature": False}, "temperature", id="temperature-boolean"),
        pytest.param({"temperature": float("nan")}, "temperature", id="temperature-nan"),
        pytest.param({"attachments": "https://x/a.png"}, "attachments", id="attachments-string"),
        pytest.param({"attachment": 3}, "attachment", id="attachment-number"),
        pytest.param({"image_url": {"url": "https://x"}}, "image_url", id="image_url-object"),
        pytest.param({"audio_url": 1}, "audio_url", id="audio_url-number"),
        pytest.param({"video_url": []}, "video_url", id="video_url-array"),
        pytest.param({"custom_params": "x"}, "custom_params", id="custom_params-string"),
        pytest.param({"custom_params": []}, "custom_params", id="custom_params-array"),
        pytest.param({"max_payment_amount_wei": "1.5"}, "max_payment_amount_wei", id="amount-decimal-string"),
        pytest.param({"max_payment_amount_wei": "-1"}, "max_payment_amount_wei", id="amount-negative-string"),
        pytest.param({"max_payment_amount_wei": -1}, "max_payment_amount_wei", id="amount-negative"),
        pytest.param({"max_payment_amount_wei": ""}, "max_payment_amount_wei", id="amount-empty"),
        pytest.param({"max_payment_amount_wei": "²"}, "max_payment_amount_wei", id="amount-unicode-digit"),
        pytest.param({"max_payment_amount_wei": 1.0}, "max_payment_amount_wei", id="amount-float"),
        pytest.param({"max_payment_amount_wei": True}, "max_payment_amount_wei", id="amount-boolean"),
    ],
)
def test_field_type_errors(fields: dict[str, Any], param: str) -> None:
    error = _error(_body(**fields))
    assert (error.status, error.code, error.param) == (400, "invalid_request", param)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"max_tokens": 100}, 100, id="max_tokens"),
        pytest.param({"max_completion_tokens": 50}, 50, id="max_completion_tokens"),
        pytest.param({"max_tokens": 100, "max_completion_tokens": 50}, 100, id="max_tokens-wins"),
        pytest.param({"max_tokens": None, "max_completion_tokens": 50}, 50, id="null-max_tokens-absent"),
        pytest.param({"max_tokens": 1}, 1, id="minimum-one"),
    ],
)
def test_requested_max_tokens(fields: dict[str, Any], expected: int | None) -> None:
    assert normalize_chat_request(_body(**fields)).requested_max_tokens == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"temperature": 0}, 0.0, id="integer"),
        pytest.param({"temperature": 0.7}, 0.7, id="float"),
        pytest.param({"temperature": None}, None, id="null"),
    ],
)
def test_temperature(fields: dict[str, Any], expected: float | None) -> None:
    assert normalize_chat_request(_body(**fields)).temperature == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(250, 250, id="integer"),
        pytest.param("1000000", 1000000, id="digit-string"),
        pytest.param("0", 0, id="zero-string"),
        pytest.param("123456789012345678901234567890", 123456789012345678901234567890, id="big-string"),
        pytest.param(None, None, id="null"),
    ],
)
def test_max_payment_amount(value: Any, expected: int | None) -> None:
    request = normalize_chat_request(_body(max_payment_amount_wei=value))
    assert request.max_payment_amount_wei == expected
    assert request.custom_params is None  # never forwarded


def test_full_request_attachments_and_legacy_urls_reach_last_user_message() -> None:
    body = _body(
        messages=[{"role": "developer", "content": "s"}, {"role": "user", "content": "look"}],
        attachments=[{"url": "https://x/a.png", "detail": "high"}],
        attachment="https://x/doc",
        video_url="https://x/v.mp4",
        image_url="https://x/i.jpg",
        audio_url="https://x/a.mp3",
        stream_options={"include_usage": True},
    )
    request = normalize_chat_request(body)
    assert request.messages == [
        Message(role="system", content="s"),
        Message(
            role="user",
            content=[
                TextPart(text="look"),
                ImagePart(url="https://x/a.png", detail="high"),
                TextPart(text="Attachment url: https://x/doc"),
                ImagePart(url="https://x/i.jpg"),
                AudioPart(url="https://x/a.mp3"),
                VideoPart(url="https://x/v.mp4"),
            ],
        ),
    ]
    assert request.stream_options == {"include_usage": True}
    assert request.custom_params == {"stream_options": {"include_usage": True}}


def test_ignored_fields_are_not_forwarded() -> None:
    body = _body(stop=["x"], n=2, logprobs=True, modalities=["text"], functions=[], provider={"order": ["a"]})
    assert normalize_chat_request(body).custom_params is None


# --- pass-through parameters (§3.3) ---------------------------------------------------------

_ALL_PASS_THROUGH = {
    "frequency_penalty": 0.1,
    "include": ["reasoning.encrypted_content"],
    "logit_bias": {"1": -100},
    "metadata": {"k": "v"},
    "parallel_tool_calls": False,
    "presence_penalty": 0.2,
    "prompt_cache_key": "pk",
    "prompt_cache_retention": "24h",
    "reasoning": {"effort": "low"},
    "reasoning_effort": "low",
    "seed": 7,
    "service_tier": "flex",
    "store": False,
    "stream_options": {"include_usage": True},
    "text": {"format": {"type": "text"}},
    "top_p": 0.9,
    "user": "u1",
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, None, id="empty-is-absent"),
        pytest.param(_ALL_PASS_THROUGH, _ALL_PASS_THROUGH, id="every-listed-field"),
        pytest.param({"seed": None, "user": None}, None, id="null-values-absent"),
        pytest.param({"stop": "x", "n": 1, "verbosity": 5}, None, id="unlisted-fields-dropped"),
        pytest.param({"promptCacheKey": "a"}, {"prompt_cache_key": "a"}, id="promptCacheKey"),
        pytest.param(
            {"promptCacheRetention": "in-memory"}, {"prompt_cache_retention": "in-memory"}, id="promptCacheRetention"
        ),
        pytest.param(
            {"prompt_cache_key": "s", "promptCacheKey": "c"}, {"prompt_cache_key": "c"}, id="camel-overrides-snake"
        ),
        pytest.param({"reasoningEffort": "high"}, {"reasoning_effort": "high"}, id="reasoningEffort"),
        pytest.param(
            {"reasoning_effort": "low", "reasoningEffort": "high"},
            {"reasoning_effort": "high"},
            id="reasoningEffort-overrides",
        ),
        pytest.param(
            {"reasoning_effort": "low", "reasoningEffort": ""},
            {"reasoning_effort": "low"},
            id="reasoningEffort-empty-ignored",
        ),
        pytest.param({"reasoningEffort": 3}, None, id="reasoningEffort-non-string-ignored"),
        pytest.param({"textVerbosity": "low"}, {"text": {"verbosity": "low"}}, id="textVerbosity"),
        pytest.param({"verbosity": "high"}, {"text": {"verbosity": "high"}}, id="verbosity"),
        pytest.param(
            {"textVerbosity": "low", "verbosity": "high"}, {"text": {"verbosity": "low"}}, id="textVerbosity-wins"
        ),
        pytest.param(
            {"textVerbosity": "", "verbosity": "high"},
            {"text": {"verbosity": "high"}},
            id="empty-textVerbosity-falls-back",
        ),
        pytest.param(
            {"text": {"format": {"type": "text"}, "verbosity": "low"}, "verbosity": "medium"},
            {"text": {"format": {"type": "text"}, "verbosity": "medium"}},
            id="verbosity-merged-into-text",
        ),
        pytest.param(
            {"text": "plain", "verbosity": "low"},
            {"text": {"verbosity": "low"}},
            id="verbosity-replaces-non-object-text",
        ),
        pytest.param({"custom_params": {"stop": ["x"]}}, {"stop": ["x"]}, id="custom_params-forwarded"),
        pytest.param(
            {"seed": 1, "custom_params": {"seed": 2, "top_k": 5}}, {"seed": 2, "top_k": 5}, id="custom_params-win"
        ),
        pytest.param(
            {"text": {"format": {"type": "text"}}, "custom_params": {"text": {"verbosity": "low"}}},
            {"text": {"verbosity": "low"}},
            id="custom_params-shallow",
        ),
        pytest.param(
            {"reasoningEffort": "high", "custom_params": {"reasoning_effort": "low"}},
            {"reasoning_effort": "low"},
            id="custom_params-last",
        ),
        pytest.param({"custom_params": {}}, None, id="empty-custom_params-absent"),
        pytest.param({"custom_params": None}, None, id="null-custom_params"),
    ],
)
def test_build_custom_params(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    assert build_custom_params(fields) == expected


def test_build_custom_params_does_not_mutate_body() -> None:
    body: dict[str, Any] = {"text": {"format": {"type": "text"}}, "verbosity": "low"}
    build_custom_params(body)
    assert body["text"] == {"format": {"type": "text"}}


# --- response_format (§3.4) -----------------------------------------------------------------

_SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"type": "text"}, None, id="text-none"),
        pytest.param({"type": "json_object"}, ResponseFormat(type="json_object"), id="json_object"),
        pytest.param(
            {"type": "json_schema", "json_schema": {"name": "out", "schema": _SCHEMA, "strict": True}},
            ResponseFormat(type="json_schema", name="out", schema=_SCHEMA, strict=True),
            id="json_schema-full",
        ),
        pytest.param(
            {"type": "json_schema", "json_schema": {"schema": _SCHEMA}},
            ResponseFormat(type="json_schema", name="compose_response", schema=_SCHEMA),
            id="json_schema-missing-name",
        ),
        pytest.param(
            {"type": "json_schema", "json_schema": {"name": "", "schema": _SCHEMA, "strict": "yes"}},
            ResponseFormat(type="json_schema", name="compose_response", schema=_SCHEMA),
            id="json_schema-empty-name-bad-strict",
        ),
        pytest.param({"type": "json_schema"}, ResponseFormat(type="json_object"), id="json_schema-without-object"),
        pytest.param(
            {"type": "json_schema", "json_schema": "x"}, ResponseFormat(type="json_object"), id="json_schema-not-object"
        ),
        pytest.param(
            {"type": "json_schema", "json_schema": {"name": "n", "schema": "x"}},
            ResponseFormat(type="json_object"),
            id="schema-not-object",
        ),
        pytest.param(
            {"type": "json_schema", "json_schema": {"name": "n"}},
            ResponseFormat(type="json_object"),
            id="schema-missing",
        ),
        pytest.param("json_object", None, id="string-dropped"),
        pytest.param([{"type": "json_object"}], None, id="array-dropped"),
        pytest.param({"type": "xml"}, None, id="unknown-type-dropped"),
        pytest.param({}, None, id="malformed-dropped"),
        pytest.param(None, None, id="null"),
    ],
)
def test_response_format(value: Any, expected: ResponseFormat | None) -> None:
    assert normalize_response_format(value) == expected
    assert normalize_chat_request(_body(response_format=value)).response_format == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(ResponseFormat(type="json_object"), {"type": "json_object"}, id="json_object"),
        pytest.param(
            ResponseFormat(type="json_schema", name="n", schema={"type": "object"}),
            {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}},
            id="json_schema-no-strict",
        ),
        pytest.param(
            ResponseFormat(type="json_schema", name="n", schema={}, strict=False),
            {"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": False}},
            id="json_schema-strict",
        ),
    ],
)
def test_response_format_as_chat(value: ResponseFormat, expected: dict[str, Any]) -> None:
    assert response_format_as_chat(value) == expected


# --- tools and tool_choice (§3.5) -----------------------------------------------------------

_PARAMS = {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="null"),
        pytest.param([], None, id="empty-is-absent"),
        pytest.param(
            [
                {
                    "type": "function",
                    "function": {"name": "f", "description": "d", "parameters": _PARAMS, "strict": True},
                }
            ],
            [FunctionTool(name="f", description="d", parameters=_PARAMS, strict=True)],
            id="chat-form",
        ),
        pytest.param(
            [{"type": "function", "function": {"name": "f"}}], [FunctionTool(name="f")], id="chat-form-minimal"
        ),
        pytest.param(
            [{"type": "function", "name": "f", "description": "d", "parameters": _PARAMS, "strict": False}],
            [FunctionTool(name="f", description="d", parameters=_PARAMS, strict=False)],
            id="responses-form-converted",
        ),
        pytest.param(
            [{"type": "web_search_preview", "search_context_size": "low"}],
            [{"type": "web_search_preview", "search_context_size": "low"}],
            id="other-type-unchanged",
        ),
        pytest.param([{"name": "f"}], [{"name": "f"}], id="typeless-passed-unchanged"),
    ],
)
def test_tools(value: Any, expected: list[Any] | None) -> None:
    assert normalize_tools(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("f", id="string"),
        pytest.param({"type": "function"}, id="object"),
        pytest.param(["f"], id="element-not-object"),
        pytest.param([{"type": "function", "function": {"description": "d"}}], id="chat-form-no-name"),
        pytest.param([{"type": "function", "function": {"name": ""}}], id="chat-form-empty-name"),
        pytest.param([{"type": "function", "name": 5}], id="responses-form-bad-name"),
        pytest.param([{"type": "function"}], id="no-name-at-all"),
        pytest.param([{"type": "function", "name": "f", "description": 1}], id="bad-description"),
        pytest.param([{"type": "function", "name": "f", "parameters": "{}"}], id="bad-parameters"),
        pytest.param([{"type": "function", "name": "f", "strict": "true"}], id="bad-strict"),
    ],
)
def test_tools_errors(value: Any) -> None:
    error = _error(_body(tools=value))
    assert (error.status, error.code, error.param) == (400, "invalid_request", "tools")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="null"),
        pytest.param("none", ToolChoice(mode="none"), id="none"),
        pytest.param("auto", ToolChoice(mode="auto"), id="auto"),
        pytest.param("required", ToolChoice(mode="required"), id="required"),
        pytest.param(
            {"type": "function", "function": {"name": "f"}}, ToolChoice(mode="function", function="f"), id="chat-form"
        ),
        pytest.param({"type": "function", "name": "f"}, ToolChoice(mode="function", function="f"), id="responses-form"),
    ],
)
def test_tool_choice(value: Any, expected: ToolChoice | None) -> None:
    assert normalize_tool_choice(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("any", id="unknown-string"),
        pytest.param("", id="empty-string"),
        pytest.param(1, id="number"),
        pytest.param(["auto"], id="array"),
        pytest.param({"type": "function"}, id="function-without-name"),
        pytest.param({"type": "function", "function": {"name": ""}}, id="function-empty-name"),
        pytest.param({"type": "auto"}, id="object-mode"),
        pytest.param({"type": "allowed_tools", "tools": []}, id="other-object-type"),
        pytest.param({"function": {"name": "f"}}, id="missing-type"),
    ],
)
def test_tool_choice_errors(value: Any) -> None:
    error = _error(_body(tool_choice=value))
    assert (error.status, error.code, error.param) == (400, "invalid_request", "tool_choice")


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        pytest.param(FunctionTool(name="f"), {"type": "function", "function": {"name": "f"}}, id="minimal"),
        pytest.param(
            FunctionTool(name="f", description="d", parameters=_PARAMS, strict=True),
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": _PARAMS, "strict": True}},
            id="full",
        ),
        pytest.param({"type": "web_search"}, {"type": "web_search"}, id="other-type"),
    ],
)
def test_tool_as_chat(tool: FunctionTool | dict[str, Any], expected: dict[str, Any]) -> None:
    assert tool_as_chat(tool) == expected


# --- output cap (§3.6) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "row", "expected"),
    [
        pytest.param(77, {"maxOutputTokens": 500, "contextWindow": {"outputTokens": 900}}, 77, id="request-wins"),
        pytest.param(None, {"maxOutputTokens": 500, "contextWindow": {"outputTokens": 900}}, 500, id="row-max"),
        pytest.param(None, {"contextWindow": {"outputTokens": 900}}, 900, id="context-window"),
        pytest.param(None, {"contextWindow": 128000}, 4096, id="context-window-not-object"),
        pytest.param(None, {"maxOutputTokens": None, "contextWindow": {"outputTokens": None}}, 4096, id="nulls"),
        pytest.param(None, {"maxOutputTokens": 0, "contextWindow": {"outputTokens": 900}}, 900, id="zero-skipped"),
        pytest.param(None, {"maxOutputTokens": "500"}, 4096, id="string-skipped"),
        pytest.param(None, {}, 4096, id="default"),
    ],
)
def test_output_cap(requested: int | None, row: dict[str, Any], expected: int) -> None:
    assert output_cap(requested, row, 4096) == expected

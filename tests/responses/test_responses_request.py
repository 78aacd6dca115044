"""``/v1/responses`` body normalization (spec/responses.md §3.1-§3.2, §3.5-§3.6)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.errors import GatewayError
from gateway_core.responses import ResponsesRequest, normalize_responses_request, require_input
from gateway_core.types import (
    AudioPart,
    FilePart,
    FunctionTool,
    ImagePart,
    Message,
    MessageToolCall,
    ResponseFormat,
    TextPart,
    ToolChoice,
    VideoPart,
)


def _messages(input_: Any) -> list[Message]:
    return normalize_responses_request({"model": "m", "input": input_}).messages


@pytest.mark.parametrize(
    ("input_", "expected"),
    [
        pytest.param("hi", [Message(role="user", content="hi")], id="string"),
        pytest.param("", [], id="empty-string-is-no-input"),
        pytest.param(None, [], id="absent"),
        pytest.param(42, [], id="number-is-no-input"),
        pytest.param([], [], id="empty-array"),
        pytest.param(
            [{"role": "developer", "content": "be brief"}, {"type": "message", "role": "user", "content": "hi"}],
            [Message(role="system", content="be brief"), Message(role="user", content="hi")],
            id="messages-with-and-without-type",
        ),
        pytest.param(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/a.png", "detail": "high"},
                        {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "mp3"}},
                        {"type": "input_file", "file_data": "data:application/pdf;base64,QQ==", "filename": "a.pdf"},
                        {"type": "input_video", "video_url": "https://x/v.mp4"},
                    ],
                }
            ],
            [
                Message(
                    role="user",
                    content=[
                        TextPart(text="look"),
                        ImagePart(url="https://x/a.png", detail="high"),
                        AudioPart(url="data:audio/mp3;base64,QUJD"),
                        FilePart(url="data:application/pdf;base64,QQ==", filename="a.pdf", mime_type="application/pdf"),
                        VideoPart(url="https://x/v.mp4"),
                    ],
                )
            ],
            id="typed-parts-in-a-message",
        ),
        pytest.param(
            [{"role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]}],
            [Message(role="assistant", content=[TextPart(text="earlier")])],
            id="assistant-output-text",
        ),
        pytest.param(
            [
                {"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "https://x/a.png"},
                {"role": "assistant", "content": "ok"},
                {"type": "input_audio", "audio_url": "https://x/a.mp3"},
                {"type": "input_file", "file_url": "https://x/f.pdf"},
            ],
            [
                Message(role="user", content=[TextPart(text="a"), ImagePart(url="https://x/a.png")]),
                Message(role="assistant", content="ok"),
                Message(
                    role="user",
                    content=[AudioPart(url="https://x/a.mp3"), FilePart(url="https://x/f.pdf")],
                ),
            ],
            id="bare-parts-grouped-at-their-position",
        ),
        pytest.param(
            [{"type": "input_image"}],
            [],
            id="bare-part-without-url-dropped",
        ),
        pytest.param(
            [
                {"role": "user", "content": "weather?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"c":"P"}'},
                {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": {"tz": "UTC"}},
                {"type": "function_call_output", "call_id": "call_1", "output": "21C"},
                {"type": "function_call_output", "call_id": "call_2", "output": {"t": 1}},
            ],
            [
                Message(role="user", content="weather?"),
                Message(
                    role="assistant",
                    content=None,
                    tool_calls=[
                        MessageToolCall(id="call_1", name="get_weather", arguments='{"c":"P"}'),
                        MessageToolCall(id="call_2", name="get_time", arguments='{"tz":"UTC"}'),
                    ],
                ),
                Message(role="tool", tool_call_id="call_1", content="21C"),
                Message(role="tool", tool_call_id="call_2", content='{"t":1}'),
            ],
            id="function-calls-and-outputs",
        ),
        pytest.param(
            [
                {"role": "assistant", "content": "let me check"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c", "name": "f", "providerMetadata": {"sig": "x"}},
            ],
            [
                Message(
                    role="assistant",
                    content="let me check",
                    tool_calls=[MessageToolCall(id="c", name="f", arguments="{}", provider_metadata={"sig": "x"})],
                )
            ],
            id="call-joins-preceding-assistant-reasoning-skipped",
        ),
    ],
)
def test_input_shapes(input_: Any, expected: list[Message]) -> None:
    assert _messages(input_) == expected


def test_function_call_without_call_id_gets_one() -> None:
    (message,) = _messages([{"type": "function_call", "name": "f", "arguments": "{}"}])
    assert message.tool_calls is not None
    assert message.tool_calls[0].id.startswith("call_") and len(message.tool_calls[0].id) == 29


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        pytest.param({"model": "m", "input": "x", "stream": "true"}, 400, "invalid_stream", None, id="stream-string"),
        pytest.param({"input": "x", "stream": 1}, 400, "invalid_stream", None, id="stream-before-model"),
        pytest.param({"input": "x"}, 400, "missing_model", None, id="no-model"),
        pytest.param({"model": "", "input": "x"}, 400, "missing_model", None, id="empty-model"),
        pytest.param({"model": 3, "input": [1]}, 400, "missing_model", None, id="model-before-input"),
        pytest.param({"model": "m", "input": ["hi"]}, 400, "invalid_request", "input", id="string-element"),
        pytest.param(
            {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
            400,
            "invalid_request",
            "input",
            id="item-reference",
        ),
        pytest.param(
            {"model": "m", "input": [{"type": "output_text", "text": "x"}]},
            400,
            "invalid_request",
            "input",
            id="bare-output-text",
        ),
        pytest.param(
            {"model": "m", "input": [{"type": "function_call", "call_id": "c"}]},
            400,
            "invalid_request",
            "input",
            id="function-call-without-name",
        ),
        pytest.param(
            {"model": "m", "input": [{"type": "function_call_output", "output": "x"}]},
            400,
            "invalid_request",
            "input",
            id="function-call-output-without-call-id",
        ),
        pytest.param({"model": "m", "instructions": 1}, 400, "invalid_request", "instructions", id="instructions"),
        pytest.param(
            {"model": "m", "previous_response_id": 1}, 400, "invalid_request", "previous_response_id", id="prev-id"
        ),
        pytest.param(
            {"model": "m", "max_output_tokens": 0}, 400, "invalid_request", "max_output_tokens", id="cap-zero"
        ),
        pytest.param(
            {"model": "m", "max_output_tokens": 5.0}, 400, "invalid_request", "max_output_tokens", id="cap-float"
        ),
        pytest.param({"model": "m", "temperature": "1"}, 400, "invalid_request", "temperature", id="temperature"),
        pytest.param({"model": "m", "top_p": True}, 400, "invalid_request", "top_p", id="top-p-bool"),
        pytest.param({"model": "m", "tools": {}}, 400, "invalid_request", "tools", id="tools-object"),
        pytest.param({"model": "m", "tools": [{"type": "function"}]}, 400, "invalid_request", "tools", id="tool-name"),
        pytest.param({"model": "m", "tool_choice": "any"}, 400, "invalid_request", "tool_choice", id="tool-choice"),
        pytest.param({"model": "m", "text": "json"}, 400, "invalid_request", "text", id="text-not-object"),
        pytest.param({"model": "m", "metadata": []}, 400, "invalid_request", "metadata", id="metadata"),
        pytest.param({"model": "m", "store": "no"}, 400, "invalid_request", "store", id="store"),
        pytest.param({"model": "m", "background": 1}, 400, "invalid_request", "background", id="background"),
        pytest.param(
            {"model": "m", "parallel_tool_calls": "yes"},
            400,
            "invalid_request",
            "parallel_tool_calls",
            id="parallel-tool-calls",
        ),
        pytest.param(
            {"model": "m", "stream_options": 1}, 400, "invalid_request", "stream_options", id="stream-options"
        ),
        pytest.param({"model": "m", "custom_params": 1}, 400, "invalid_request", "custom_params", id="custom-params"),
        pytest.param(
            {"model": "m", "max_payment_amount_wei": "1e3"},
            400,
            "invalid_request",
            "max_payment_amount_wei",
            id="payment-envelope",
        ),
    ],
)
def test_validation_errors(body: dict[str, Any], status: int, code: str, param: str | None) -> None:
    with pytest.raises(GatewayError) as caught:
        normalize_responses_request(body)
    assert (caught.value.status, caught.value.code, caught.value.param) == (status, code, param)


def test_missing_model_message() -> None:
    with pytest.raises(GatewayError, match=r"^model is required$"):
        normalize_responses_request({"input": "x"})


def test_defaults() -> None:
    request = normalize_responses_request({"model": "m", "input": "hi"})
    assert request == ResponsesRequest(model="m", messages=[Message(role="user", content="hi")])
    assert request.store is True and request.stream is False and request.custom_params is None


def test_fields() -> None:
    request = normalize_responses_request(
        {
            "model": "m",
            "input": "hi",
            "stream": True,
            "instructions": "Answer briefly.",
            "previous_response_id": "resp_1",
            "max_output_tokens": 64,
            "temperature": 0,
            "top_p": 0.5,
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
            "reasoning": {"effort": "low"},
            "metadata": {"k": "v"},
            "store": False,
            "background": True,
            "max_payment_amount_wei": "100",
            "modalities": ["TEXT", "embeddings", "smell"],
            "response": {"modalities": ["image"], "operation": "text-to-image"},
        }
    )
    assert request.stream is True
    assert request.instructions == "Answer briefly."
    assert request.previous_response_id == "resp_1"
    assert (request.max_output_tokens, request.temperature, request.top_p) == (64, 0.0, 0.5)
    assert request.tools == [FunctionTool(name="f", parameters={"type": "object"}), {"type": "web_search"}]
    assert request.tool_choice == ToolChoice(mode="function", function="f")
    assert request.parallel_tool_calls is False
    assert request.response_format == ResponseFormat(
        type="json_schema", name="out", schema={"type": "object"}, strict=True
    )
    assert request.reasoning_effort == "low"
    assert request.metadata == {"k": "v"}
    assert (request.store, request.background, request.max_payment_amount_wei) == (False, True, 100)
    assert request.modalities == ("text", "embedding", "image")
    assert request.operation == "text-to-image"
    # text.format travels as response_format, not as a pass-through.
    assert request.custom_params is not None and "text" not in request.custom_params
    assert request.custom_params["reasoning"] == {"effort": "low"}
    assert request.custom_params["top_p"] == 0.5


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"text": {"format": {"type": "json_object"}}}, ResponseFormat(type="json_object"), id="json-object"
        ),
        pytest.param({"text": {"format": {"type": "text"}}}, None, id="text"),
        pytest.param(
            {"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            ResponseFormat(type="json_schema", name="compose_response", schema={"type": "object"}),
            id="json-schema-default-name",
        ),
        pytest.param(
            {"text": {"format": {"type": "json_schema"}}}, ResponseFormat(type="json_object"), id="schema-missing"
        ),
        pytest.param(
            {"response_format": {"type": "json_object"}}, ResponseFormat(type="json_object"), id="compose-form"
        ),
        pytest.param(
            {"response_format": {"type": "json_object"}, "text": {"format": {"type": "text"}}},
            None,
            id="text-format-wins",
        ),
    ],
)
def test_output_format(body: dict[str, Any], expected: ResponseFormat | None) -> None:
    assert normalize_responses_request({"model": "m", **body}).response_format == expected


def test_verbosity_kept_as_pass_through() -> None:
    request = normalize_responses_request(
        {"model": "m", "text": {"format": {"type": "json_object"}, "verbosity": "low"}}
    )
    assert request.text_verbosity == "low"
    assert request.custom_params == {"text": {"verbosity": "low"}}


def test_attachments_and_legacy_urls() -> None:
    request = normalize_responses_request(
        {"model": "m", "input": "see", "attachments": ["https://x/a.png"], "image_url": "https://x/b.png"}
    )
    attached = Message(role="user", content=[TextPart(text="see"), ImagePart(url="https://x/a.png")])
    assert request.messages == [attached]
    # Legacy URL fields join the input only when the selected modality is text.
    assert request.input_items("image") == [attached]
    assert request.input_items("text") == [
        Message(
            role="user",
            content=[TextPart(text="see"), ImagePart(url="https://x/a.png"), ImagePart(url="https://x/b.png")],
        )
    ]


@pytest.mark.parametrize(
    ("body", "modality", "message"),
    [
        pytest.param({}, "text", "input is required", id="no-input"),
        pytest.param({"input": [{"type": "reasoning"}]}, "text", "input is required", id="only-reasoning"),
        pytest.param({"input": "hi"}, "embedding", None, id="embedding-text"),
        pytest.param({"input": "  "}, "embedding", "input is required for embeddings", id="embedding-blank"),
        pytest.param(
            {"input": [{"type": "input_image", "image_url": "https://x/a.png"}]},
            "embedding",
            "input is required for embeddings",
            id="embedding-image-only",
        ),
        pytest.param({"previous_response_id": "resp_1"}, "text", None, id="history-only"),
        pytest.param({"image_url": "https://x/a.png"}, "text", None, id="legacy-url-counts-for-text"),
        pytest.param({"image_url": "https://x/a.png"}, "image", "input is required", id="legacy-url-ignored"),
        pytest.param({"input": "hi"}, "text", None, id="ok"),
    ],
)
def test_require_input(body: dict[str, Any], modality: str, message: str | None) -> None:
    request = normalize_responses_request({"model": "m", **body})
    if message is None:
        require_input(request, modality)
        return
    with pytest.raises(GatewayError) as caught:
        require_input(request, modality)
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, "missing_input", message)

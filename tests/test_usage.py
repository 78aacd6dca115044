"""The deterministic usage estimator (spec/chat.md §6), checked on hand-computed examples."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.types.messages import (
    AudioPart,
    FilePart,
    FunctionTool,
    ImagePart,
    Message,
    MessageToolCall,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)
from gateway_core.types.output import OutputToolCall, Usage
from gateway_core.usage import complete_usage, estimate_input_tokens, estimate_output_tokens, estimate_tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("a", 1, id="one-byte"),
        pytest.param("abcd", 1, id="four-bytes"),
        pytest.param("abcde", 2, id="five-bytes"),
        pytest.param("abcdefgh", 2, id="eight-bytes"),
        pytest.param("abcdefghi", 3, id="nine-bytes"),
        pytest.param("é", 1, id="two-byte-char"),
        pytest.param("héllo", 2, id="utf8-bytes-not-chars"),  # 6 bytes
        pytest.param("日本", 2, id="cjk"),  # 2 x 3 bytes
        pytest.param("😀a", 2, id="emoji"),  # 4 + 1 bytes
        pytest.param("\ud800", 1, id="lone-surrogate"),  # 3 bytes with surrogatepass
    ],
)
def test_estimate_tokens(text: str, expected: int) -> None:
    assert estimate_tokens(text) == expected


_MEDIA = [ImagePart(url="u"), AudioPart(url="u"), VideoPart(url="u"), FilePart(url="u")]
_CALL = MessageToolCall(id="c1", name="f", arguments="{}")


@pytest.mark.parametrize(
    ("messages", "tools", "response_format", "media", "expected"),
    [
        # 3 + 0 messages
        pytest.param([], None, None, 1000, 3, id="nothing"),
        # 3 + (4 + tokens("You are helpful.")=16B→4) + (4 + tokens("Hello!")=6B→2) = 17
        pytest.param(
            [Message(role="system", content="You are helpful."), Message(role="user", content="Hello!")],
            None,
            None,
            1000,
            17,
            id="two-string-messages",
        ),
        # 3 + 4 + 0 (null content)
        pytest.param([Message(role="assistant", content=None)], None, None, 1000, 7, id="null-content"),
        # 3 + 4 + tokens("abcde")=2 + 4 media parts x 1000 = 4009
        pytest.param(
            [Message(role="user", content=[TextPart(text="abcde"), *_MEDIA])], None, None, 1000, 4009, id="media-parts"
        ),
        # same with GATEWAY_MEDIA_PART_TOKENS=7: 3 + 4 + 2 + 28 = 37
        pytest.param(
            [Message(role="user", content=[TextPart(text="abcde"), *_MEDIA])],
            None,
            None,
            7,
            37,
            id="media-part-setting",
        ),
        # 3 + 4 + tokens('{"a":1}')=7B→2 + tokens('"ok"')=4B→1 + tokens('null')=4B→1 = 11
        pytest.param(
            [
                Message(
                    role="assistant",
                    content=[
                        ToolCallPart(id="c1", name="f", input={"a": 1}),
                        ToolResultPart(id="c1", output="ok"),
                        ToolCallPart(name="g"),
                    ],
                )
            ],
            None,
            None,
            1000,
            11,
            id="tool-parts-json",
        ),
        # 3 + 4 + tokens('[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]')
        #   = 2+10+18+12+11+16+3 = 72B → 18; total 25
        pytest.param([Message(role="assistant", tool_calls=[_CALL])], None, None, 1000, 25, id="tool-calls"),
        # providerMetadata adds ',"providerMetadata":{"s":1}' (27B): 99B → 25; total 32
        pytest.param(
            [Message(role="assistant", tool_calls=[_CALL.model_copy(update={"provider_metadata": {"s": 1}})])],
            None,
            None,
            1000,
            32,
            id="tool-calls-provider-metadata",
        ),
        # 3 + tokens('[{"type":"function","function":{"name":"get_weather"}}]') = 2+18+12+20+3 = 55B → 14; total 17
        pytest.param([], [FunctionTool(name="get_weather")], None, 1000, 17, id="function-tool-chat-form"),
        # '[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},{"type":"web_search"}]'
        #   = 98B → 25; total 28
        pytest.param(
            [],
            [FunctionTool(name="f", parameters={"type": "object"}), {"type": "web_search"}],
            None,
            1000,
            28,
            id="mixed-tools",
        ),
        # empty tools add nothing
        pytest.param([], [], None, 1000, 3, id="empty-tools"),
        # 3 + tokens('{"type":"json_object"}')=22B→6 = 9
        pytest.param([], None, ResponseFormat(type="json_object"), 1000, 9, id="json-object-format"),
        # 3 + tokens('{"type":"json_schema","json_schema":{"name":"n","schema":{}}}')=61B→16 = 19
        pytest.param(
            [], None, ResponseFormat(type="json_schema", name="n", schema={}), 1000, 19, id="json-schema-format"
        ),
    ],
)
def test_estimate_input_tokens(
    messages: list[Message],
    tools: list[Any] | None,
    response_format: ResponseFormat | None,
    media: int,
    expected: int,
) -> None:
    assert estimate_input_tokens(messages, tools, response_format, media) == expected


@pytest.mark.parametrize(
    ("content", "reasoning", "calls", "expected"),
    [
        pytest.param("", None, [], 0, id="nothing"),
        # tokens("Hello world")=11B→3
        pytest.param("Hello world", None, [], 3, id="content"),
        # 3 + tokens("think")=5B→2
        pytest.param("Hello world", "think", [], 5, id="reasoning"),
        pytest.param("", "", [], 0, id="empty-reasoning"),
        # tokens('f{"a":1}')=8B→2
        pytest.param("", None, [OutputToolCall(name="f", arguments='{"a":1}')], 2, id="tool-call"),
        # name and arguments are counted together: tokens("ab"+"cd")=1, not 1+1
        pytest.param("", None, [OutputToolCall(name="ab", arguments="cd")], 1, id="name-plus-arguments-joined"),
        # 3 + 2 + 2 + tokens("g")=1
        pytest.param(
            "Hello world",
            "think",
            [OutputToolCall(name="f", arguments='{"a":1}'), OutputToolCall(name="g")],
            8,
            id="everything",
        ),
    ],
)
def test_estimate_output_tokens(
    content: str, reasoning: str | None, calls: list[OutputToolCall], expected: int
) -> None:
    assert estimate_output_tokens(content, reasoning, calls) == expected


@pytest.mark.parametrize(
    ("reported", "expected", "source"),
    [
        pytest.param(None, Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15), "estimated", id="none"),
        pytest.param(Usage(), Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15), "estimated", id="empty"),
        pytest.param(
            Usage(prompt_tokens=7, completion_tokens=3),
            Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10),
            "provider",
            id="provider-total-filled",
        ),
        pytest.param(
            Usage(prompt_tokens=7, completion_tokens=3, total_tokens=11),
            Usage(prompt_tokens=7, completion_tokens=3, total_tokens=11),
            "provider",
            id="provider-total-kept",
        ),
        pytest.param(
            Usage(prompt_tokens=0, completion_tokens=0),
            Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0),
            "provider",
            id="provider-zeros-are-reported",
        ),
        pytest.param(
            Usage(prompt_tokens=7),
            Usage(prompt_tokens=7, completion_tokens=5, total_tokens=12),
            "estimated",
            id="completion-missing",
        ),
        pytest.param(
            Usage(completion_tokens=3),
            Usage(prompt_tokens=10, completion_tokens=3, total_tokens=13),
            "estimated",
            id="prompt-missing",
        ),
        pytest.param(
            Usage(total_tokens=50),
            Usage(prompt_tokens=10, completion_tokens=5, total_tokens=50),
            "estimated",
            id="only-total",
        ),
        pytest.param(
            Usage(
                prompt_tokens=7,
                completion_tokens=3,
                cached_input_tokens=2,
                reasoning_tokens=1,
                billing_metrics={"x": 1},
            ),
            Usage(
                prompt_tokens=7,
                completion_tokens=3,
                total_tokens=10,
                cached_input_tokens=2,
                reasoning_tokens=1,
                billing_metrics={"x": 1},
            ),
            "provider",
            id="details-kept",
        ),
        pytest.param(
            Usage(cached_input_tokens=4),
            Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15, cached_input_tokens=4),
            "estimated",
            id="partial-details-kept",
        ),
    ],
)
def test_complete_usage(reported: Usage | None, expected: Usage, source: str) -> None:
    assert complete_usage(reported, 10, 5) == (expected, source)


def test_complete_usage_does_not_mutate_reported() -> None:
    reported = Usage(prompt_tokens=7)
    complete_usage(reported, 10, 5)
    assert reported == Usage(prompt_tokens=7)

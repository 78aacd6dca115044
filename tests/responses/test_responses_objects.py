"""The Response object and the input items listing (spec/responses.md §2, §6.4)."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.responses import Response

from gateway_core.responses import (
    incomplete_details,
    input_items_page,
    normalize_responses_request,
    output_items,
    response_body,
    usage_body,
)
from gateway_core.types import (
    AudioPart,
    FilePart,
    ImagePart,
    Message,
    MessageToolCall,
    Output,
    OutputToolCall,
    TextPart,
    Usage,
    VideoPart,
)


class _Ids:
    """Deterministic item ids: ``msg_0``, ``fc_1``, …"""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count - 1}"


def test_spec_example_shape() -> None:
    request = normalize_responses_request({"model": "sandbox-echo", "input": "hi", "instructions": "Answer briefly."})
    body = response_body(
        request,
        response_id="resp_1",
        created_at=1767225600,
        model="sandbox-echo",
        output=output_items(Output(content="echo: hi"), _Ids()),
        usage=usage_body(Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15), "provider"),
        receipt={"final_amount_wei": "9"},
    )
    assert body.pop("background") is False  # OpenAI's field, beyond the spec's example
    assert body == {
        "id": "resp_1",
        "object": "response",
        "created_at": 1767225600,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": "Answer briefly.",
        "max_output_tokens": None,
        "metadata": {},
        "model": "sandbox-echo",
        "output": [
            {
                "type": "message",
                "id": "msg_0",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "echo: hi", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
            "usage_source": "provider",
        },
        "receipt": {"final_amount_wei": "9"},
    }
    Response.model_validate(body)


def test_echoed_request_fields() -> None:
    request = normalize_responses_request(
        {
            "model": "m",
            "input": "x",
            "max_output_tokens": 10,
            "temperature": 0.2,
            "top_p": 1,
            "metadata": {"a": "b"},
            "previous_response_id": "resp_0",
            "parallel_tool_calls": False,
            "tools": [
                {"type": "function", "function": {"name": "f", "description": "d"}},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}, "verbosity": "high"},
        }
    )
    body = response_body(request, response_id="resp_1", created_at=1, model="m", status="in_progress")
    assert body["max_output_tokens"] == 10
    assert (body["temperature"], body["top_p"]) == (0.2, 1.0)
    assert body["metadata"] == {"a": "b"}
    assert body["previous_response_id"] == "resp_0"
    assert body["parallel_tool_calls"] is False
    assert body["tools"] == [
        {"type": "function", "name": "f", "description": "d", "parameters": None, "strict": None},
        {"type": "web_search"},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}},
        "verbosity": "high",
    }
    assert body["usage"] is None and body["output"] == []
    Response.model_validate(body)


def test_output_items_order_and_shapes() -> None:
    output = Output(
        content="text",
        reasoning="thinking",
        tool_calls=[
            OutputToolCall(id="call_a", name="f", arguments='{"x":1}', provider_metadata={"sig": "s"}),
            OutputToolCall(name="g", arguments="{}"),
        ],
    )
    items = output_items(output, _Ids())
    assert [item["type"] for item in items] == ["reasoning", "message", "function_call", "function_call"]
    assert items[0] == {
        "type": "reasoning",
        "id": "rs_0",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": "thinking"}],
        "status": "completed",
    }
    assert items[2] == {
        "type": "function_call",
        "id": "fc_2",
        "call_id": "call_a",
        "name": "f",
        "arguments": '{"x":1}',
        "status": "completed",
        "providerMetadata": {"sig": "s"},
    }
    assert items[3]["call_id"].startswith("call_") and len(items[3]["call_id"]) == 29
    request = normalize_responses_request({"model": "m"})
    Response.model_validate(response_body(request, response_id="r", created_at=1, model="m", output=items))


def test_output_items_empty() -> None:
    assert output_items(Output()) == []


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(
            Usage(prompt_tokens=5, completion_tokens=7, cached_input_tokens=2, reasoning_tokens=3),
            {
                "input_tokens": 5,
                "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
                "output_tokens": 7,
                "output_tokens_details": {"reasoning_tokens": 3},
                "total_tokens": 12,
                "usage_source": "estimated",
            },
            id="total-derived",
        ),
        pytest.param(
            Usage(prompt_tokens=1, completion_tokens=1, total_tokens=3, billing_metrics={"images": 1}),
            {
                "input_tokens": 1,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 1,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 3,
                "billingMetrics": {"images": 1},
                "usage_source": "estimated",
            },
            id="billing-metrics",
        ),
    ],
)
def test_usage_body(usage: Usage, expected: dict[str, Any]) -> None:
    assert usage_body(usage, "estimated") == expected


@pytest.mark.parametrize(
    ("finish", "details"),
    [
        pytest.param("length", {"reason": "max_output_tokens"}, id="length"),
        pytest.param("content_filter", {"reason": "content_filter"}, id="filter"),
        pytest.param("stop", None, id="stop"),
        pytest.param(None, None, id="none"),
    ],
)
def test_incomplete_details(finish: str | None, details: dict[str, str] | None) -> None:
    assert incomplete_details(finish) == details


def test_failed_body() -> None:
    request = normalize_responses_request({"model": "m"})
    body = response_body(
        request,
        response_id="r",
        created_at=1,
        model="m",
        status="failed",
        error={"code": "upstream_error", "message": "boom"},
        job_id="vjob_1",
    )
    assert body["status"] == "failed"
    assert body["error"] == {"code": "upstream_error", "message": "boom"}
    assert body["job_id"] == "vjob_1" and "receipt" not in body


def test_input_items_page_spec_example() -> None:
    items = [
        ("msg_1", Message(role="user", content="hi")),
        (
            "msg_2",
            Message(
                role="assistant",
                content=None,
                tool_calls=[MessageToolCall(id="call_1", name="get_weather", arguments="{}")],
            ),
        ),
        ("msg_3", Message(role="tool", tool_call_id="call_1", content='{"temp":21}')),
    ]
    assert input_items_page(items) == {
        "object": "list",
        "data": [
            {"id": "msg_1", "type": "message", "role": "user", "content": "hi"},
            {
                "id": "msg_2",
                "type": "message",
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"id": "msg_3", "type": "message", "role": "tool", "tool_call_id": "call_1", "content": '{"temp":21}'},
        ],
        "first_id": "msg_1",
        "last_id": "msg_3",
        "has_more": False,
    }


def test_input_items_parts_in_chat_form() -> None:
    message = Message(
        role="user",
        name="ann",
        content=[
            TextPart(text="t"),
            ImagePart(url="https://x/i.png", detail="low"),
            AudioPart(url="https://x/a.mp3"),
            VideoPart(url="https://x/v.mp4"),
            FilePart(url="https://x/f.pdf", filename="f.pdf", mime_type="application/pdf"),
        ],
    )
    (item,) = input_items_page([("msg_1", message)])["data"]
    assert item["name"] == "ann"
    assert item["content"] == [
        {"type": "text", "text": "t"},
        {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"url": "https://x/a.mp3"}},
        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
        {"type": "file", "file": {"url": "https://x/f.pdf", "filename": "f.pdf", "mime_type": "application/pdf"}},
    ]


def test_input_items_page_empty() -> None:
    assert input_items_page([]) == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}

"""The mock upstream's OpenAI Responses wire, checked by the official ``openai`` SDK talking to
it directly: its models parse every body and event, and its stream state machine runs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from gateway_core.testing.mock_upstream import MockUpstream, start_mock_upstream

PATH = "/v1/responses"
INPUT: list[dict[str, Any]] = [{"role": "user", "content": "hi there"}]
INPUT_TOKENS = math.ceil(len(json.dumps(INPUT, separators=(",", ":")).encode()) / 4)
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with start_mock_upstream() as handle:
        yield handle


@pytest.fixture
def client(upstream: MockUpstream) -> Iterator[httpx.Client]:
    upstream.reset()
    with httpx.Client(base_url=upstream.base_url, trust_env=False, timeout=5) as http:
        yield http


@pytest.fixture
def sdk(upstream: MockUpstream) -> openai.OpenAI:
    upstream.reset()
    return openai.OpenAI(base_url=upstream.base_url + "/v1", api_key="sk-mock", max_retries=0, timeout=5)


def post(client: httpx.Client, model: str, **extra: Any) -> httpx.Response:
    return client.post(PATH, json={"model": model, "input": INPUT, "store": False, **extra})


def events(client: httpx.Client, model: str, **extra: Any) -> list[dict[str, Any]]:
    """Every frame's data; checks the event name, the type and the sequence numbers."""
    response = post(client, model, stream=True, **extra)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = []
    for number, block in enumerate(response.text.strip().split("\n\n")):
        name, data = block.split("\n")
        parsed = json.loads(data.removeprefix("data: "))
        assert name == f"event: {parsed['type']}"
        assert parsed["sequence_number"] == number
        EVENTS.validate_python(parsed)
        frames.append(parsed)
    return frames


# --- non-stream ----------------------------------------------------------------------------


def test_text_response(client: httpx.Client) -> None:
    body = post(client, "mock/text", instructions="Be brief.", temperature=0.5).json()
    response = Response.model_validate(body)
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "Hello from the mock upstream."
    assert (response.instructions, response.temperature, response.model) == ("Be brief.", 0.5, "mock/text")
    assert body["usage"] == {
        "input_tokens": INPUT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": INPUT_TOKENS + 5,
    }


def test_echo_reads_responses_input(client: httpx.Client) -> None:
    assert Response.model_validate(post(client, "mock/echo").json()).output_text == "echo: hi there"
    typed = [{"role": "user", "content": [{"type": "input_text", "text": "typed"}]}]
    assert Response.model_validate(post(client, "mock/echo", input=typed).json()).output_text == "echo: typed"
    assert Response.model_validate(post(client, "mock/echo", input="plain").json()).output_text == "echo: plain"


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        pytest.param("stop", "completed", None, id="stop"),
        pytest.param("length", "incomplete", "max_output_tokens", id="length"),
        pytest.param("content_filter", "incomplete", "content_filter", id="content_filter"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_statuses(client: httpx.Client, finish: str, status: str, reason: str | None, streamed: bool) -> None:
    model = f"mock/text?finish={finish}"
    if streamed:
        final = events(client, model)[-1]
        assert final["type"] == f"response.{status}"
        body = final["response"]
    else:
        body = post(client, model).json()
    assert body["status"] == status
    assert body["incomplete_details"] == ({"reason": reason} if reason else None)


@pytest.mark.parametrize(
    ("model", "calls"),
    [
        pytest.param("mock/tool", [("get_weather", {"city": "Paris"})], id="one"),
        pytest.param(
            "mock/tools_parallel", [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})], id="two"
        ),
    ],
)
def test_function_call_items(client: httpx.Client, model: str, calls: list[tuple[str, Any]]) -> None:
    response = Response.model_validate(post(client, model).json())
    items = [item for item in response.output if item.type == "function_call"]
    assert [(item.name, json.loads(item.arguments)) for item in items] == calls
    assert all(item.call_id.startswith("call_mock") and item.id and item.id.startswith("fc_") for item in items)
    assert response.status == "completed"


def test_usage_zero_is_null(client: httpx.Client) -> None:
    assert post(client, "mock/text?usage=0").json()["usage"] is None
    assert events(client, "mock/text?usage=0")[-1]["response"]["usage"] is None


# --- stream --------------------------------------------------------------------------------


def test_text_event_sequence(client: httpx.Client) -> None:
    frames = events(client, "mock/text?chunks=2&text=Hello there")
    assert [f["type"] for f in frames] == [
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
    assert frames[0]["response"]["status"] == "in_progress" and frames[0]["response"]["output"] == []
    assert "".join(f["delta"] for f in frames if f["type"] == "response.output_text.delta") == "Hello there"
    completed = frames[-1]["response"]
    assert completed["output"] == [frames[-2]["item"]]
    assert completed["output"][0]["content"][0]["text"] == "Hello there"


def test_parallel_calls_interleave_with_their_own_items(client: httpx.Client) -> None:
    frames = events(client, "mock/tools_parallel?text=Checking.")
    added = [f for f in frames if f["type"] == "response.output_item.added"]
    assert [f["item"]["type"] for f in added] == ["message", "function_call", "function_call"]
    deltas = [f for f in frames if f["type"] == "response.function_call_arguments.delta"]
    order = [f["output_index"] for f in deltas]
    assert order != sorted(order), "the two calls' argument deltas interleave"
    by_item: dict[str, str] = {}
    for delta in deltas:
        by_item[delta["item_id"]] = by_item.get(delta["item_id"], "") + delta["delta"]
    assert [json.loads(v) for v in by_item.values()] == [{"city": "Paris"}, {"tz": "Europe/Paris"}]
    output = frames[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call", "function_call"]
    assert all(item["status"] == "completed" for item in output)


@pytest.mark.parametrize(("query", "code"), [("", "server_error"), ("?status=429", "rate_limit_exceeded")])
def test_midstream_error_then_failed(client: httpx.Client, query: str, code: str) -> None:
    frames = events(client, f"mock/midstream_error{query}")
    assert [f["type"] for f in frames[-2:]] == ["error", "response.failed"]
    assert frames[-2]["code"] == code and frames[-2]["message"].startswith("mock error")
    assert frames[-1]["response"]["status"] == "failed"
    assert frames[-1]["response"]["error"]["code"] == code
    assert sum(f["type"] == "response.output_text.delta" for f in frames) == 2


def test_http_error_body(client: httpx.Client) -> None:
    response = post(client, "mock/error?status=429")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


# --- the SDK end to end --------------------------------------------------------------------


def test_sdk_create_and_stream(sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(model="mock/text", input="hi")
    assert created.output_text == "Hello from the mock upstream."
    with sdk.responses.stream(model="mock/tools_parallel", input="hi") as stream:
        arguments = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert len(arguments) == 6
    assert [item.type for item in final.output] == ["function_call", "function_call"]


def test_sdk_parses_a_midstream_failure(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="mock/midstream_error", input="hi") as stream:
        kinds = [event.type for event in stream]
        with pytest.raises(RuntimeError):  # no response.completed: there is no final response
            stream.get_final_response()
    assert kinds[-2:] == ["error", "response.failed"]

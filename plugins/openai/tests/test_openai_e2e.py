"""End to end over loopback: the official ``openai`` SDK -> a real gateway -> this plugin -> the
mock upstream process speaking Chat Completions. Catalog rows select mock scenarios through
``upstreamModelId``."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway_core.testing.contract import read_sse
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer, run_gateway

PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1.0, "output": 2.0}}]}
MESSAGES: list[Any] = [{"role": "user", "content": "What is the weather and the time in Paris?"}]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
ROWS = {
    "e2e-text": ("openai", "mock/text"),
    "e2e-tools": ("openai", "mock/tools_parallel"),
    "e2e-paced": ("openai", "mock/text?chunks=5&pace_ms=100"),
    "e2e-broken": ("openai", "mock/midstream_error"),
    "e2e-local": ("local", "mock/text?text=Hello from the local server."),
}


@pytest.fixture(scope="module")
def gateway(mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    rows = [
        {"modelId": model, "provider": provider, "upstreamModelId": upstream, "type": "chat", "pricing": PRICING}
        for model, (provider, upstream) in ROWS.items()
    ]
    catalog: Path = tmp_path_factory.mktemp("openai-e2e") / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"models": rows}), encoding="utf-8")
    config = {
        "GATEWAY_CATALOG": str(catalog),
        "GATEWAY_PROVIDER_OPENAI_BASE_URL": mock_upstream.base_url + "/v1",
        "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-e2e",
        "GATEWAY_OPENAI_INSTANCES": "local",
        "GATEWAY_PROVIDER_LOCAL_BASE_URL": mock_upstream.base_url + "/v1",
        "GATEWAY_PROVIDER_LOCAL_API_KEY_REQUIRED": "false",
        "GATEWAY_PROVIDER_LOCAL_LEGACY_MAX_TOKENS": "true",
    }
    with run_gateway(config) as server:
        yield server


@pytest.fixture
def sdk(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.api_key, max_retries=0, timeout=30)


def request_id() -> str:
    return "req-e2e-" + uuid.uuid4().hex[:12]


def logged(upstream: MockUpstream, rid: str) -> dict[str, Any]:
    """The upstream request the mock logged for one gateway request id."""
    return upstream.wait_for(lambda entry: entry["headers"].get("x-request-id") == rid)


def test_parallel_tool_calls_stream(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(model="e2e-tools", messages=MESSAGES, tools=TOOLS, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or ():
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "Europe/Paris"}),
    ]
    assert len({c["id"] for c in calls.values()}) == 2


def test_content_chunks_are_forwarded_as_paced(sdk: openai.OpenAI) -> None:
    arrivals: list[float] = []
    text = ""
    for chunk in sdk.chat.completions.create(model="e2e-paced", messages=MESSAGES, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
            text += chunk.choices[0].delta.content
    assert text == "Hello from the mock upstream."
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 4
    assert all(0.07 <= gap <= 0.2 for gap in gaps), f"chunks were held back or bunched: {gaps}"


def test_broken_stream_ends_with_error_frame_then_done(gateway: GatewayServer) -> None:
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth, timeout=30) as client:
        response = client.post(
            "/v1/chat/completions", json={"model": "e2e-broken", "messages": MESSAGES, "stream": True}
        )
    assert response.status_code == 200
    frames = read_sse(response)
    assert frames[-1] == (None, "[DONE]")
    event, data = frames[-2]
    assert event == "compose.error"
    assert data["code"] == data["error"]["code"] == "upstream_error"
    content = "".join(d["choices"][0]["delta"].get("content", "") for _, d in frames[:-2] if d["choices"])
    assert content, "the chunks before the failure were forwarded"


def test_broken_stream_raises_in_the_sdk(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError):
        for _ in sdk.chat.completions.create(model="e2e-broken", messages=MESSAGES, stream=True):
            pass


def test_upstream_request_of_a_stream(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    rid = request_id()
    stream = sdk.chat.completions.create(
        model="e2e-text",
        messages=MESSAGES,
        stream=True,
        max_tokens=77,
        stream_options={"include_usage": False},
        extra_headers={"X-Request-Id": rid},
    )
    chunks = list(stream)
    assert chunks[-1].object == "compose.receipt"  # the paid stream ends with its receipt
    assert chunks[-2].usage is not None and chunks[-2].usage.prompt_tokens > 0
    entry = logged(mock_upstream, rid)
    assert entry["path"] == "/v1/chat/completions"
    assert entry["headers"]["authorization"] == "Bearer sk-e2e"
    body = entry["body"]
    assert body["stream"] is True and body["stream_options"]["include_usage"] is True
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body
    assert body["model"] == "mock/text"


def test_second_instance_without_key_sends_max_tokens(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    rid = request_id()
    completion = sdk.chat.completions.create(
        model="e2e-local", messages=MESSAGES, max_tokens=33, extra_headers={"X-Request-Id": rid}
    )
    assert completion.choices[0].message.content == "Hello from the local server."
    entry = logged(mock_upstream, rid)
    assert "authorization" not in entry["headers"]
    assert entry["body"]["max_tokens"] == 33 and "max_completion_tokens" not in entry["body"]


def test_undeclared_passthrough_parameter_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="e2e-text", messages=MESSAGES, extra_body={"include": ["reasoning.encrypted_content"]}
        )
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "include"
    assert "'include'" in caught.value.message


# -- Responses API ---------------------------------------------------------------------------

RESPONSES_TOOLS: list[Any] = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}, "strict": False},
    {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}, "strict": False},
]


def test_responses_are_native_on_the_openai_instance(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    first = sdk.responses.create(model="e2e-tools", input="Weather and time in Paris?", tools=RESPONSES_TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    rid = request_id()
    with sdk.responses.stream(
        model="e2e-text",
        previous_response_id=first.id,
        instructions="Be brief.",
        input=[
            {"type": "function_call_output", "call_id": c.call_id, "output": f"result {i}"} for i, c in enumerate(calls)
        ],
        max_output_tokens=77,
        reasoning={"effort": "low"},
        extra_headers={"X-Request-Id": rid},
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Hello from the mock upstream."
    entry = logged(mock_upstream, rid)
    assert entry["path"] == "/v1/responses"
    assert entry["headers"]["authorization"] == "Bearer sk-e2e"
    body = entry["body"]
    assert (body["model"], body["stream"], body["store"], body["max_output_tokens"]) == ("mock/text", True, False, 77)
    assert (body["instructions"], body["reasoning"]) == ("Be brief.", {"effort": "low"})
    assert "previous_response_id" not in body, "the gateway sends the whole conversation itself"
    assert body["input"] == [
        {"role": "user", "content": "Weather and time in Paris?"},
        *({"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in calls),
        *({"type": "function_call_output", "call_id": c.call_id, "output": f"result {i}"} for i, c in enumerate(calls)),
    ]


def test_responses_deltas_are_forwarded_as_paced(sdk: openai.OpenAI) -> None:
    arrivals: list[float] = []
    with sdk.responses.stream(model="e2e-paced", input="hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                arrivals.append(time.monotonic())
        final = stream.get_final_response()
    assert final.output_text == "Hello from the mock upstream."
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 4
    assert all(0.07 <= gap <= 0.2 for gap in gaps), f"deltas were held back or bunched: {gaps}"


def test_responses_on_a_compatible_server_go_through_chat(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    rid = request_id()
    response = sdk.responses.create(model="e2e-local", input="hi", extra_headers={"X-Request-Id": rid})
    assert response.output_text == "Hello from the local server."
    assert logged(mock_upstream, rid)["path"] == "/v1/chat/completions"


def test_responses_midstream_failure_is_response_failed(sdk: openai.OpenAI) -> None:
    seen: list[str] = []
    with pytest.raises(openai.APIError), sdk.responses.stream(model="e2e-broken", input="hi") as stream:
        seen.extend(event.type for event in stream)
    assert seen.count("response.output_text.delta") == 2 and seen[-1] == "response.failed"

"""End to end: the official ``openai`` SDK -> a real gateway -> the plugin -> the mock upstream
speaking Anthropic Messages, all over loopback."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway_core.testing.contract import read_sse
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer, run_gateway

API_KEY = "sk-ant-e2e"
PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1.0, "output": 5.0}}]}
MESSAGES: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
#: public model id -> mock upstream scenario
ROWS = {
    "claude-e2e-echo": "mock/echo",
    "claude-e2e-paced": "mock/text?chunks=5&pace_ms=100",
    "claude-e2e-tools": "mock/tools_parallel",
    "claude-e2e-reset": "mock/midstream_reset",
    "claude-e2e-overloaded-once": "mock/text?fail_first=1&status=529",
}


@pytest.fixture(scope="module")
def gateway(mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    rows = [
        {
            "modelId": model,
            "provider": "anthropic",
            "upstreamModelId": upstream,
            "type": "chat",
            "input": ["text"],
            "output": ["text"],
            "capabilities": {"tool_calling": True},
            "pricing": PRICING,
        }
        for model, upstream in ROWS.items()
    ]
    catalog = tmp_path_factory.mktemp("anthropic-e2e") / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({"models": rows}), encoding="utf-8")
    config = {
        "GATEWAY_CATALOG": str(catalog),
        "GATEWAY_PROVIDER_ANTHROPIC_BASE_URL": mock_upstream.base_url,
        "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": API_KEY,
    }
    with run_gateway(config) as server:
        yield server


@pytest.fixture
def sdk(gateway: GatewayServer, mock_upstream: MockUpstream) -> Iterator[openai.OpenAI]:
    mock_upstream.reset()
    with openai.DefaultHttpxClient(trust_env=False) as http:
        yield openai.OpenAI(
            base_url=gateway.base_url + "/v1", api_key=gateway.api_key, max_retries=0, timeout=30, http_client=http
        )


def test_two_parallel_tool_calls_stream_in_openai_chunks(sdk: openai.OpenAI) -> None:
    chunks = list(sdk.chat.completions.create(model="claude-e2e-tools", messages=MESSAGES, tools=TOOLS, stream=True))
    deltas = [
        call.model_dump(exclude_none=True) for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()
    ]
    firsts: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        if delta["index"] in firsts:  # later fragments: an arguments piece only, as OpenAI sends them
            assert "id" not in delta and set(delta["function"]) == {"arguments"}, delta
        else:
            firsts[delta["index"]] = delta
    assert [(f["index"], f["type"], f["function"]["name"]) for f in firsts.values()] == [
        (0, "function", "get_weather"),
        (1, "function", "get_time"),
    ]
    assert firsts[0]["id"] and firsts[1]["id"] and firsts[0]["id"] != firsts[1]["id"]
    arguments = {i: "".join(d["function"].get("arguments", "") for d in deltas if d["index"] == i) for i in (0, 1)}
    assert (json.loads(arguments[0]), json.loads(arguments[1])) == ({"city": "Paris"}, {"tz": "Europe/Paris"})
    order = [d["index"] for d in deltas if "arguments" in d["function"]]
    assert order != sorted(order), "the upstream interleaves the two calls' fragments"
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["tool_calls"]
    assert chunks[-1].object == "compose.receipt"  # the paid stream ends with its receipt
    assert chunks[-2].usage is not None and chunks[-2].usage.completion_tokens == 6


def test_text_chunks_keep_the_upstream_pace(sdk: openai.OpenAI) -> None:
    arrivals = []
    for chunk in sdk.chat.completions.create(model="claude-e2e-paced", messages=MESSAGES, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic(), chunk.choices[0].delta.content))
    assert "".join(text for _, text in arrivals) == "Hello from the mock upstream."
    assert len(arrivals) == 5
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert all(0.07 <= gap <= 0.2 for gap in gaps), gaps


def test_connection_reset_mid_stream_ends_with_an_error_frame(gateway: GatewayServer) -> None:
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth, trust_env=False, timeout=30) as http:
        response = http.post(
            "/v1/chat/completions", json={"model": "claude-e2e-reset", "messages": MESSAGES, "stream": True}
        )
    assert response.status_code == 200
    frames = read_sse(response)
    texts = [d["choices"][0]["delta"].get("content") for e, d in frames if e is None and d != "[DONE]" and d["choices"]]
    assert texts == ["Hello ", "from "]
    event, error = frames[-2]
    assert event == "compose.error"
    assert error["code"] == error["error"]["code"] == "upstream_error"
    assert frames[-1] == (None, "[DONE]")


def test_overloaded_before_the_first_byte_is_retried(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="claude-e2e-overloaded-once", messages=MESSAGES)
    assert raw.headers["x-routing-attempts"] == "2"
    assert raw.parse().choices[0].message.content == "Hello from the mock upstream."
    statuses = [e["status"] for e in mock_upstream.requests()]
    assert statuses == [529, 200]


def test_upstream_request_is_an_anthropic_request(sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
    reply = sdk.chat.completions.create(
        model="claude-e2e-echo",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        max_tokens=77,
    )
    assert reply.choices[0].message.content == "echo: hello"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    (entry,) = mock_upstream.requests()
    assert entry["path"] == "/v1/messages"
    assert entry["headers"]["x-api-key"] == API_KEY
    assert entry["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in entry["headers"]
    body = entry["body"]
    assert (body["model"], body["max_tokens"], body["system"]) == ("mock/echo", 77, "Be brief.")
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]

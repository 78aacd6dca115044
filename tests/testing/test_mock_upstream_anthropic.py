"""The mock upstream's Anthropic Messages wire, and the ``midstream_reset`` scenario on every wire."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway_core.testing.mock_upstream import MockUpstream, start_mock_upstream

MESSAGES_PATH = "/v1/messages"
MESSAGES = [{"role": "user", "content": "hi there"}]
INPUT_TOKENS = math.ceil(len(json.dumps(MESSAGES, separators=(",", ":")).encode()) / 4)


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with start_mock_upstream() as handle:
        yield handle


@pytest.fixture
def client(upstream: MockUpstream) -> Iterator[httpx.Client]:
    upstream.reset()
    with httpx.Client(base_url=upstream.base_url, trust_env=False, timeout=5) as http:
        yield http


def post(client: httpx.Client, model: str, **extra: Any) -> httpx.Response:
    return client.post(MESSAGES_PATH, json={"model": model, "max_tokens": 64, "messages": MESSAGES, **extra})


def events(client: httpx.Client, model: str, **extra: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of every frame; checks that both name the same type."""
    response = post(client, model, stream=True, **extra)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = []
    for block in response.text.strip().split("\n\n"):
        name, data = block.split("\n")
        assert name.startswith("event: ") and data.startswith("data: ")
        parsed = json.loads(data[len("data: ") :])
        assert parsed["type"] == name[len("event: ") :]
        frames.append((parsed["type"], parsed))
    return frames


# --- non-stream ----------------------------------------------------------------------------


def test_text_message(client: httpx.Client) -> None:
    body = post(client, "mock/text").json()
    assert body.pop("id").startswith("msg_")
    assert body == {
        "type": "message",
        "role": "assistant",
        "model": "mock/text",
        "content": [{"type": "text", "text": "Hello from the mock upstream."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 5},
    }


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        pytest.param("stop", "end_turn", id="stop"),
        pytest.param("length", "max_tokens", id="length"),
        pytest.param("tool_calls", "tool_use", id="tool_calls"),
        pytest.param("content_filter", "refusal", id="content_filter"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_stop_reasons(client: httpx.Client, finish: str, stop_reason: str, streamed: bool) -> None:
    model = f"mock/text?finish={finish}"
    if streamed:
        delta = next(data for kind, data in events(client, model) if kind == "message_delta")
        assert delta["delta"] == {"stop_reason": stop_reason, "stop_sequence": None}
    else:
        assert post(client, model).json()["stop_reason"] == stop_reason


@pytest.mark.parametrize(
    ("model", "calls"),
    [
        pytest.param("mock/tool", [("get_weather", {"city": "Paris"})], id="tool"),
        pytest.param(
            "mock/tools_parallel", [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})], id="two"
        ),
    ],
)
def test_tool_use_blocks(client: httpx.Client, model: str, calls: list[tuple[str, Any]]) -> None:
    body = post(client, model).json()
    assert body["stop_reason"] == "tool_use"
    assert [(b["type"], b["name"], b["input"]) for b in body["content"]] == [("tool_use", n, i) for n, i in calls]
    assert all(b["id"].startswith("toolu_") for b in body["content"])


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"cache_control": {"type": "ephemeral"}}, id="top-level"),
        pytest.param({"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]}, id="block"),
    ],
)
def test_cache_usage_when_the_request_marks_a_cache(client: httpx.Client, extra: dict[str, Any]) -> None:
    usage = post(client, "mock/text", **extra).json()["usage"]
    assert set(usage) == {"input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"}
    assert usage["cache_read_input_tokens"] == INPUT_TOKENS // 2
    assert usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"] == (
        INPUT_TOKENS
    )
    start = next(data for kind, data in events(client, "mock/text", **extra) if kind == "message_start")
    assert start["message"]["usage"]["cache_read_input_tokens"] == INPUT_TOKENS // 2


def test_usage_zero_omits_usage(client: httpx.Client) -> None:
    assert "usage" not in post(client, "mock/text?usage=0").json()
    frames = events(client, "mock/text?usage=0")
    assert not any("usage" in data or "usage" in data.get("message", {}) for _, data in frames)


# --- streams -------------------------------------------------------------------------------


def test_text_stream_event_sequence(client: httpx.Client) -> None:
    frames = events(client, "mock/text?text=ab&chunks=2")
    assert [kind for kind, _ in frames] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = frames[0][1]["message"]
    assert (start["content"], start["stop_reason"]) == ([], None)
    assert start["usage"] == {"input_tokens": INPUT_TOKENS, "output_tokens": 1}
    assert frames[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert [d["delta"] for _, d in frames[3:5]] == [{"type": "text_delta", "text": t} for t in "ab"]
    assert frames[6][1]["usage"] == {"output_tokens": 2}


def test_parallel_tool_blocks_interleave_with_their_own_index(client: httpx.Client) -> None:
    frames = events(client, "mock/tools_parallel?text=Checking")
    starts = [d for kind, d in frames if kind == "content_block_start"]
    assert [(d["index"], d["content_block"]["type"]) for d in starts] == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert [d["content_block"].get("name") for d in starts] == [None, "get_weather", "get_time"]
    kinds = [kind for kind, _ in frames]
    assert kinds.index("content_block_stop") < kinds.index("content_block_start", 3), "text closes before tools"
    fragments = [d for kind, d in frames if kind == "content_block_delta" and d["delta"]["type"] == "input_json_delta"]
    order = [d["index"] for d in fragments]
    assert order != sorted(order), "tool blocks must interleave"
    inputs = {i: "".join(d["delta"]["partial_json"] for d in fragments if d["index"] == i) for i in (1, 2)}
    assert (json.loads(inputs[1]), json.loads(inputs[2])) == ({"city": "Paris"}, {"tz": "Europe/Paris"})
    stops = [d["index"] for kind, d in frames if kind == "content_block_stop"]
    assert stops == [0, 1, 2]
    assert kinds[-2:] == ["message_delta", "message_stop"]


@pytest.mark.parametrize(
    ("query", "error_type"),
    [
        pytest.param("", "api_error", id="default-500"),
        pytest.param("&status=529", "overloaded_error", id="529"),
        pytest.param("&status=429", "rate_limit_error", id="429"),
    ],
)
def test_midstream_error_event(client: httpx.Client, upstream: MockUpstream, query: str, error_type: str) -> None:
    frames = events(client, f"mock/midstream_error?message=boom{query}")
    texts = [d["delta"]["text"] for kind, d in frames if kind == "content_block_delta"]
    assert len(texts) == 2
    assert frames[-1] == ("error", {"type": "error", "error": {"type": error_type, "message": "boom"}})
    assert "message_stop" not in [kind for kind, _ in frames]
    assert upstream.requests()[-1]["outcome"] == "error"


# --- errors --------------------------------------------------------------------------------

ERRORS = [
    pytest.param(400, "invalid_request_error", id="400"),
    pytest.param(401, "authentication_error", id="401"),
    pytest.param(403, "permission_error", id="403"),
    pytest.param(404, "not_found_error", id="404"),
    pytest.param(408, "timeout_error", id="408"),
    pytest.param(413, "request_too_large", id="413"),
    pytest.param(422, "invalid_request_error", id="422-other-4xx"),
    pytest.param(429, "rate_limit_error", id="429"),
    pytest.param(500, "api_error", id="500"),
    pytest.param(503, "api_error", id="503-other-5xx"),
    pytest.param(529, "overloaded_error", id="529"),
]


@pytest.mark.parametrize(("status", "error_type"), ERRORS)
def test_http_errors(client: httpx.Client, status: int, error_type: str) -> None:
    response = post(client, f"mock/error?status={status}")
    assert response.status_code == status
    assert response.json() == {"type": "error", "error": {"type": error_type, "message": f"mock error {status}"}}


def test_bad_scenario_is_an_anthropic_400(client: httpx.Client) -> None:
    response = post(client, "claude-nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- midstream_reset, every wire -----------------------------------------------------------

WIRES = [
    pytest.param("/v1/chat", id="sandbox"),
    pytest.param("/v1/chat/completions", id="openai"),
    pytest.param(MESSAGES_PATH, id="anthropic"),
]


def _text_of(path: str, line: str) -> str | None:
    data = json.loads(line)
    if path == "/v1/chat":
        return data.get("text") if data.get("type") == "text" else None
    if path == MESSAGES_PATH:
        return data["delta"]["text"] if data["type"] == "content_block_delta" else None
    choices = data.get("choices")
    return (choices[0]["delta"].get("content") or None) if choices else None  # the role chunk has ""


@pytest.mark.parametrize("path", WIRES)
def test_midstream_reset_streams_two_chunks_then_resets(
    client: httpx.Client, upstream: MockUpstream, path: str
) -> None:
    texts: list[str] = []
    body = {"model": "mock/midstream_reset?pace_ms=20", "messages": MESSAGES, "stream": True}
    with pytest.raises(httpx.ReadError), client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and (text := _text_of(path, line[len("data: ") :])) is not None:
                texts.append(text)
    assert texts == ["Hello ", "from "]
    assert upstream.requests()[-1]["outcome"] == "reset"


@pytest.mark.parametrize("path", WIRES)
def test_midstream_reset_non_stream_gets_no_answer(client: httpx.Client, upstream: MockUpstream, path: str) -> None:
    with pytest.raises(httpx.TransportError):
        client.post(path, json={"model": "mock/midstream_reset", "messages": MESSAGES})
    assert upstream.requests()[-1]["outcome"] == "reset"

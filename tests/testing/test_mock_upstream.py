"""The mock upstream, exercised as a real subprocess over real loopback sockets."""

from __future__ import annotations

import itertools
import json
import math
import socket
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx
import pytest

from gateway_core.testing.mock_upstream import MockUpstream, scenario_model, start_mock_upstream
from gateway_core.testing.mock_upstream.scenarios import ScenarioError, parse_model

SANDBOX = "/v1/chat"
OPENAI = "/v1/chat/completions"
WIRES = [pytest.param(SANDBOX, id="sandbox"), pytest.param(OPENAI, id="openai")]
MESSAGES = [{"role": "user", "content": "hi there"}]
INPUT_TOKENS = math.ceil(len(json.dumps(MESSAGES, separators=(",", ":")).encode()) / 4)
WEATHER = ("get_weather", {"city": "Paris"})
TIME = ("get_time", {"tz": "Europe/Paris"})


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with start_mock_upstream() as handle:
        yield handle


@pytest.fixture
def client(upstream: MockUpstream) -> Iterator[httpx.Client]:
    upstream.reset()
    with httpx.Client(base_url=upstream.base_url, trust_env=False, timeout=5) as http:
        yield http


def post(client: httpx.Client, path: str, model: str, **extra: Any) -> httpx.Response:
    return client.post(path, json={"model": model, "messages": MESSAGES, **extra})


def stream(client: httpx.Client, path: str, model: str, **extra: Any) -> list[tuple[float, Any]]:
    """(arrival time, parsed data) for every SSE frame; ``[DONE]`` stays a string."""
    frames: list[tuple[float, Any]] = []
    body = {"model": model, "messages": MESSAGES, "stream": True, **extra}
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = line[len("data: ") :]
                frames.append((time.monotonic(), data if data == "[DONE]" else json.loads(data)))
    return frames


def answer_of(path: str, body: dict[str, Any]) -> tuple[str | None, list[tuple[str, Any]], str, dict[str, int] | None]:
    """(text, [(tool name, parsed arguments)], finish reason, usage) in sandbox terms."""
    if path == SANDBOX:
        calls = [(c["name"], json.loads(c["arguments"])) for c in body["tool_calls"]]
        return body["text"], calls, body["finish_reason"], body.get("usage")
    choice = body["choices"][0]
    message = choice["message"]
    calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message.get("tool_calls", [])]
    usage = body.get("usage")
    if usage is not None:
        usage = {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}
    return message["content"], calls, choice["finish_reason"], usage


def content_frames(path: str, frames: list[tuple[float, Any]]) -> list[tuple[float, str]]:
    out = []
    for at, data in frames:
        if path == SANDBOX and isinstance(data, dict) and data["type"] == "text":
            out.append((at, data["text"]))
        elif path == OPENAI and isinstance(data, dict) and data.get("choices"):
            content = data["choices"][0]["delta"].get("content")
            if content:
                out.append((at, content))
    return out


def raw_request(path: str, body: dict[str, Any], connection: str = "keep-alive") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: {connection}\r\n\r\n"
    return head.encode() + data


def read_response(f: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    status = int(f.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(f.readline().strip(), 16):
            body += f.read(size)
            assert f.read(2) == b"\r\n"
        assert f.readline() == b"\r\n"
        return status, headers, body
    return status, headers, f.read(int(headers["content-length"]))


# --- grammar -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        pytest.param("gpt-4o", id="no-prefix"),
        pytest.param("mock/nope", id="unknown-name"),
        pytest.param("mock/text?colour=red", id="unknown-param"),
        pytest.param("mock/text?chunks=x", id="non-int"),
        pytest.param("mock/text?finish=done", id="bad-finish"),
        pytest.param("mock/error?status=200", id="status-range"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_bad_model_strings_are_rejected(model: object) -> None:
    with pytest.raises(ScenarioError):
        parse_model(model)


def test_scenario_model_round_trips() -> None:
    model = scenario_model("text", text="a b&c", chunks=2)
    scenario = parse_model(model)
    assert (scenario.name, scenario.params) == ("text", {"text": "a b&c", "chunks": "2"})
    assert scenario_model("tool") == "mock/tool"


# --- non-stream ----------------------------------------------------------------------------


def test_health(upstream: MockUpstream) -> None:
    assert httpx.get(upstream.base_url + "/_mock/health", trust_env=False).json() == {"ok": True}


@pytest.mark.parametrize("path", WIRES)
def test_non_stream_text(client: httpx.Client, path: str) -> None:
    response = post(client, path, "mock/text")
    assert response.status_code == 200
    usage = {"input_tokens": INPUT_TOKENS, "output_tokens": 5}  # one chunk per word
    assert answer_of(path, response.json()) == ("Hello from the mock upstream.", [], "stop", usage)


@pytest.mark.parametrize("path", WIRES)
def test_non_stream_text_params(client: httpx.Client, path: str) -> None:
    response = post(client, path, scenario_model("text", text="a b c", finish="length", usage=0))
    assert answer_of(path, response.json()) == ("a b c", [], "length", None)


@pytest.mark.parametrize("path", WIRES)
def test_echo(client: httpx.Client, path: str) -> None:
    text, *_ = answer_of(path, post(client, path, "mock/echo").json())
    assert text == "echo: hi there"


@pytest.mark.parametrize("path", WIRES)
@pytest.mark.parametrize(
    ("model", "calls"),
    [
        pytest.param("mock/tool", [WEATHER], id="tool"),
        pytest.param("mock/tools_parallel", [WEATHER, TIME], id="parallel"),
    ],
)
def test_non_stream_tools(client: httpx.Client, path: str, model: str, calls: list[tuple[str, Any]]) -> None:
    text, got, finish, _ = answer_of(path, post(client, path, model).json())
    assert (got, finish) == (calls, "tool_calls")
    assert text == ("" if path == SANDBOX else None)


# --- streams -------------------------------------------------------------------------------


def test_sandbox_stream_frames(client: httpx.Client) -> None:
    frames = [data for _, data in stream(client, SANDBOX, "mock/text?text=abcdef&chunks=3")]
    assert frames == [
        {"type": "text", "text": "ab"},
        {"type": "text", "text": "cd"},
        {"type": "text", "text": "ef"},
        {"type": "finish", "finish_reason": "stop", "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 3}},
        "[DONE]",
    ]


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_stream_shapes(client: httpx.Client, include_usage: bool) -> None:
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    frames = [data for _, data in stream(client, OPENAI, "mock/text?text=ab&chunks=2", **extra)]
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["a", "b"]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert chunks[4]["choices"] == [] and chunks[4]["usage"]["completion_tokens"] == 2
        assert all(c["usage"] is None for c in chunks[:4])
    else:
        assert len(chunks) == 4 and all("usage" not in c for c in chunks)


@pytest.mark.parametrize("path", WIRES)
def test_stream_frames_arrive_paced(client: httpx.Client, path: str) -> None:
    started = time.monotonic()
    frames = stream(client, path, "mock/text?text=abcd&chunks=4&pace_ms=100&first_ms=150")
    content = content_frames(path, frames)
    assert [text for _, text in content] == ["a", "b", "c", "d"]
    assert content[0][0] - started >= 0.13
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(content)]
    assert min(gaps) >= 0.08, gaps


def test_sandbox_tools_parallel_interleaved(client: httpx.Client) -> None:
    frames = [data for _, data in stream(client, SANDBOX, "mock/tools_parallel?text=Checking")]
    assert frames[0] == {"type": "text", "text": "Checking"}
    tool_frames = [f for f in frames if isinstance(f, dict) and f["type"].startswith("tool_call")]
    order = [(f["type"].removeprefix("tool_call_"), f["index"]) for f in tool_frames]
    assert order[:4] == [("start", 0), ("args", 0), ("start", 1), ("args", 1)]
    assert [index for kind, index in order[4:]] == [0, 1] * (len(order[4:]) // 2)
    args = {0: "", 1: ""}
    for f in tool_frames:
        args[f["index"]] += f.get("arguments", "")
    assert (json.loads(args[0]), json.loads(args[1])) == (WEATHER[1], TIME[1])
    assert frames[-2]["finish_reason"] == "tool_calls"


def test_openai_tools_parallel_interleaved(client: httpx.Client) -> None:
    frames = [data for _, data in stream(client, OPENAI, "mock/tools_parallel")]
    deltas = [d for f in frames[:-1] for d in f["choices"][0]["delta"].get("tool_calls", [])]
    firsts = [d for d in deltas if "id" in d]
    assert [(d["index"], d["type"], d["function"]["name"]) for d in firsts] == [
        (0, "function", "get_weather"),
        (1, "function", "get_time"),
    ]
    fragments = [d for d in deltas if "id" not in d]
    assert [d["index"] for d in fragments] == [0, 1] * (len(fragments) // 2)
    args = {0: "", 1: ""}
    for d in deltas:
        args[d["index"]] += d["function"]["arguments"]
    assert (json.loads(args[0]), json.loads(args[1])) == (WEATHER[1], TIME[1])
    assert frames[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("path", WIRES)
def test_midstream_error(client: httpx.Client, upstream: MockUpstream, path: str) -> None:
    frames = [data for _, data in stream(client, path, "mock/midstream_error?message=boom")]
    assert len(content_frames(path, [(0.0, f) for f in frames])) == 2
    assert "[DONE]" not in frames
    if path == SANDBOX:
        assert frames[-1] == {"type": "error", "status": 500, "message": "boom"}
    else:
        assert frames[-1] == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    assert upstream.requests()[-1]["outcome"] == "error"
    assert post(client, path, "mock/midstream_error").status_code == 500


def test_openai_sdk_parses_answers(upstream: MockUpstream) -> None:
    openai = pytest.importorskip("openai")
    with httpx.Client(trust_env=False) as http:
        sdk = openai.OpenAI(base_url=upstream.base_url + "/v1", api_key="k", max_retries=0, http_client=http)
        done = sdk.chat.completions.create(model="mock/tool", messages=MESSAGES)
        assert done.choices[0].message.tool_calls[0].function.name == "get_weather"
        chunks = list(
            sdk.chat.completions.create(
                model="mock/text", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the mock upstream."
        assert chunks[-1].usage.completion_tokens == 5
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="mock/error?status=429", messages=MESSAGES)


# --- errors --------------------------------------------------------------------------------

OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    408: ("timeout_error", "timeout"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "overloaded"),
}


@pytest.mark.parametrize("path", WIRES)
@pytest.mark.parametrize("status", sorted(OPENAI_ERRORS))
def test_error_status_and_body(client: httpx.Client, path: str, status: int) -> None:
    response = post(client, path, f"mock/error?status={status}")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] == f"mock error {status}"
    if path == OPENAI:
        assert (error["type"], error["code"], error["param"]) == (*OPENAI_ERRORS[status], None)
    else:
        assert set(error) == {"message", "type"}
    assert response.headers.get("retry-after") == ("0" if status == 429 else None)


@pytest.mark.parametrize("path", WIRES)
@pytest.mark.parametrize(
    ("model", "status"),
    [
        pytest.param("mock/unknown", 400, id="unknown-scenario"),
        pytest.param("gpt-4o", 400, id="not-mock"),
        pytest.param("mock/text?bogus=1", 400, id="unknown-param"),
    ],
)
def test_bad_requests_get_wire_errors(client: httpx.Client, path: str, model: str, status: int) -> None:
    response = post(client, path, model)
    assert response.status_code == status
    assert "message" in response.json()["error"]


def test_unknown_path_and_method(client: httpx.Client) -> None:
    assert client.post("/v1/embeddings", json={"model": "mock/text"}).status_code == 404
    assert client.get(SANDBOX).status_code == 405
    assert client.get("/_mock/nothing").status_code == 404


def test_fail_first_counts_per_model_string(client: httpx.Client, upstream: MockUpstream) -> None:
    model = "mock/text?fail_first=2"
    assert [post(client, SANDBOX, model).status_code for _ in range(3)] == [503, 503, 200]
    assert post(client, SANDBOX, model + "&status=429").status_code == 429  # a distinct string counts anew
    upstream.reset()
    assert [post(client, OPENAI, model).status_code for _ in range(3)] == [503, 503, 200]


def test_reset_scenario_aborts_connection(client: httpx.Client, upstream: MockUpstream) -> None:
    with pytest.raises(httpx.TransportError):
        post(client, SANDBOX, "mock/reset")
    with socket.create_connection(("127.0.0.1", upstream.port)) as sock:
        sock.sendall(raw_request(SANDBOX, {"model": "mock/reset", "messages": MESSAGES}))
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)
    assert [e["outcome"] for e in upstream.requests()] == ["reset", "reset"]


# --- connections ---------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "non-stream"])
def test_hang_client_close_is_logged(upstream: MockUpstream, client: httpx.Client, streamed: bool) -> None:
    body = {"model": "mock/hang?pace_ms=20", "messages": MESSAGES, "stream": streamed}
    with socket.create_connection(("127.0.0.1", upstream.port)) as sock:
        sock.sendall(raw_request(SANDBOX, body))
        if streamed:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        upstream.wait_for(lambda e: e["outcome"] == "in_progress", timeout=2)
    closed = time.monotonic()
    entry = upstream.wait_for(lambda e: e["outcome"] != "in_progress", timeout=2)
    assert entry["outcome"] == "client_disconnected"
    assert time.monotonic() - closed < 2


def test_keep_alive_serves_two_requests_on_one_connection(upstream: MockUpstream, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", upstream.port)) as sock, sock.makefile("rb") as f:
        sock.sendall(raw_request(OPENAI, {"model": "mock/text?text=one", "messages": MESSAGES, "stream": True}))
        status, headers, body = read_response(f)
        assert status == 200 and body.endswith(b"data: [DONE]\n\n")
        sock.sendall(raw_request(SANDBOX, {"model": "mock/text?text=two", "messages": MESSAGES}))
        status, headers, body = read_response(f)
        assert status == 200 and json.loads(body)["text"] == "two"
        # Pipelined: both requests in one write, answered in order.
        both = raw_request(SANDBOX, {"model": "mock/echo", "messages": MESSAGES}) + raw_request(
            SANDBOX, {"model": "mock/text?text=last", "messages": MESSAGES}, connection="close"
        )
        sock.sendall(both)
        assert json.loads(read_response(f)[2])["text"] == "echo: hi there"
        status, headers, body = read_response(f)
        assert headers["connection"] == "close" and json.loads(body)["text"] == "last"
        assert f.read() == b""


def test_request_log_format(client: httpx.Client, upstream: MockUpstream) -> None:
    post(client, SANDBOX, "mock/text", stream=False, max_tokens=5)
    client.post(OPENAI, json={"model": "mock/error?status=404"}, headers={"X-Trace-Id": "t-1"})
    first, second = upstream.requests()
    assert first["seq"] < second["seq"]
    assert first["path"] == SANDBOX and first["model"] == "mock/text" and first["stream"] is False
    assert first["body"] == {"model": "mock/text", "messages": MESSAGES, "stream": False, "max_tokens": 5}
    assert (first["status"], first["outcome"]) == (200, "completed")
    assert second["headers"]["x-trace-id"] == "t-1"
    assert (second["status"], second["outcome"]) == (404, "error")
    upstream.reset()
    assert upstream.requests() == []


def test_uvloop_server_smoke() -> None:
    pytest.importorskip("uvloop")
    with start_mock_upstream(uvloop=True) as handle, httpx.Client(base_url=handle.base_url, trust_env=False) as http:
        frames = [data for _, data in stream(http, SANDBOX, "mock/text?text=ab&chunks=2&pace_ms=20")]
        assert [f["text"] for f in frames if isinstance(f, dict) and f["type"] == "text"] == ["a", "b"]
        with pytest.raises(httpx.TransportError):
            post(http, SANDBOX, "mock/reset")
        assert [e["outcome"] for e in handle.requests()] == ["completed", "reset"]

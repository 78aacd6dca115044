"""The benchmark's mock upstream over real sockets: both wires, JSON and SSE, pacing, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from mock_wire import expected_text, parse_scenario
from procs import start_mock, stop

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def mock_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = open(tmp_path_factory.mktemp("mock") / "mock.log", "wb")
    process, port = start_mock(None, log, 15)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        yield http


def _sse(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event."""
    events = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        data = [line[6:] for line in lines if line.startswith("data: ")]
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        if data:
            events.append((name, "\n".join(data)))
    return events


@pytest.mark.parametrize(
    ("model", "chunks", "pace"),
    [
        pytest.param("mock-c50", 50, 0, id="chunks"),
        pytest.param("mock-c3-p5", 3, 5, id="paced"),
        pytest.param("gpt-4o", 1, 0, id="not-a-scenario"),
        pytest.param("mock-c0-p99999", 1, 10_000, id="clamped"),
    ],
)
def test_scenario_grammar(model: str, chunks: int, pace: int) -> None:
    scenario = parse_scenario(model)
    assert (scenario.chunks, scenario.pace_ms) == (chunks, pace)


def test_openai_completion(mock_url: str, client: httpx.Client) -> None:
    answer = client.post(mock_url + "/v1/chat/completions", json={"model": "mock-c5", "messages": MESSAGES}).json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "hello t1 t2 t3 t4" == expected_text("hello", 5)
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_stream(mock_url: str, client: httpx.Client, include_usage: bool) -> None:
    options = {"include_usage": include_usage}
    body = {"model": "mock-c4", "messages": MESSAGES, "stream": True, "stream_options": options}
    response = client.post(mock_url + "/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [data for _, data in _sse(response.text)]
    assert events[-1] == "[DONE]"
    frames = [json.loads(data) for data in events[:-1]]
    text = "".join(f["choices"][0]["delta"].get("content") or "" for f in frames if f["choices"])
    assert text == expected_text("hello", 4)
    assert [f["choices"][0]["finish_reason"] for f in frames if f["choices"]][-1] == "stop"
    usage = [f["usage"] for f in frames if f.get("usage")]
    assert usage == ([{"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}] if include_usage else [])


def test_openai_sdk_reads_both_forms(mock_url: str) -> None:
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(base_url=mock_url + "/v1", api_key="unused", http_client=httpx.Client(trust_env=False))
    completion = sdk.chat.completions.create(model="mock-c3", messages=MESSAGES)
    assert completion.choices[0].message.content == "hello t1 t2"
    stream = sdk.chat.completions.create(
        model="mock-c3", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello t1 t2"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_anthropic_message(mock_url: str, client: httpx.Client) -> None:
    content = [{"type": "text", "text": "hey"}]
    body = {"model": "mock-c3", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}
    answer = client.post(mock_url + "/v1/messages", json=body).json()
    assert answer["type"] == "message" and answer["stop_reason"] == "end_turn"
    assert answer["content"] == [{"type": "text", "text": "hey t1 t2"}]
    assert answer["usage"] == {"input_tokens": 3, "output_tokens": 3}


def test_anthropic_stream(mock_url: str, client: httpx.Client) -> None:
    body = {"model": "mock-c3", "max_tokens": 10, "messages": MESSAGES, "stream": True}
    events = _sse(client.post(mock_url + "/v1/messages", json=body).text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(d) for _, d in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    assert "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta") == "hello t1 t2"
    assert data[0]["message"]["usage"]["input_tokens"] == 5
    assert data[-2]["usage"] == {"output_tokens": 3}


def test_pacing_spaces_the_chunks(mock_url: str, client: httpx.Client) -> None:
    body = {"model": "mock-c6-p20", "messages": MESSAGES, "stream": True}
    arrivals = []
    start = time.perf_counter()
    with client.stream("POST", mock_url + "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                arrivals.append(time.perf_counter() - start)
    assert len(arrivals) == 6
    # Chunk i leaves i * 20 ms after the request came in: the last one 100 ms after it at the
    # earliest, however late the first one was read.
    assert arrivals[-1] >= 0.099
    assert arrivals == sorted(arrivals)


def test_keep_alive_serves_many_requests_on_one_connection(mock_url: str, client: httpx.Client) -> None:
    for i in range(20):
        body = {"model": "mock-c2-p1" if i % 2 else "mock-c2", "messages": MESSAGES, "stream": bool(i % 3)}
        assert client.post(mock_url + "/v1/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        pytest.param("GET", "/nope", None, 404, id="unknown-route"),
        pytest.param("POST", "/v1/chat/completions", b"{not json", 400, id="bad-json"),
        pytest.param("POST", "/v1/chat/completions", b"[1]", 400, id="not-an-object"),
        pytest.param("GET", "/health", None, 200, id="health"),
    ],
)
def test_errors_and_health(
    mock_url: str, client: httpx.Client, method: str, path: str, content: bytes | None, status: int
) -> None:
    assert client.request(method, mock_url + path, content=content).status_code == status

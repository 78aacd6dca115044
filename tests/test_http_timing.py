"""``Server-Timing`` on every response (README § Server-Timing): W3C syntax, the phases each
kind of route measures, and what browsers need to read it. End to end over loopback, plus the
middleware alone for what a route cannot provoke."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway_core import timing
from gateway_core.http import GatewayHTTPMiddleware
from gateway_core.streaming import Message
from gateway_core.testing.server import GatewayServer, run_gateway
from gateway_core.timing import RECEIVED_KEY, parse_server_timing

CHAT = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hello there"}]}
PAID_PHASES = ["queue", "auth", "translate", "upstream"]
# Each duration is rounded to a microsecond: the sum of rounded phases may pass total by that.
ROUNDING_MS = 0.001


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    with run_gateway({}) as server:
        yield server


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth, timeout=30) as http:
        yield http


def _timings(headers: httpx.Headers) -> dict[str, float]:
    values = headers.get_list("server-timing")
    assert len(values) == 1, values
    metrics = parse_server_timing(values[0])
    names = [item.split(";")[0].strip() for item in values[0].split(",")]
    assert len(names) == len(set(names)) == len(metrics), "each metric once"
    assert names[0] == "queue" and names[-1] == "total", names
    assert all(value >= 0 for value in metrics.values()), metrics
    # The phases are sequential parts of the request, so together they fit in total.
    assert sum(v for k, v in metrics.items() if k != "total") <= metrics["total"] + len(metrics) * ROUNDING_MS
    return metrics


def test_chat_non_stream_measures_every_phase(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    metrics = _timings(response.headers)
    assert list(metrics) == [*PAID_PHASES, "settle", "total"]
    assert metrics["auth"] > 0 and metrics["upstream"] > 0 and metrics["settle"] > 0


def test_chat_stream_has_every_phase_up_to_the_first_event(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        metrics = _timings(response.headers)
        body = response.read()
    assert body.endswith(b"data: [DONE]\n\n")
    # Settlement happens after the headers went out, so it cannot be in them.
    assert list(metrics) == [*PAID_PHASES, "total"]
    assert metrics["upstream"] > 0


def test_responses_route_is_timed_like_chat(client: httpx.Client) -> None:
    response = client.post("/v1/responses", json={"model": "sandbox-echo", "input": "hi"})
    assert response.status_code == 200, response.text
    assert set(PAID_PHASES) <= set(_timings(response.headers))


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/v1/models", 200, id="models"),
        pytest.param("GET", "/health", 200, id="health"),
        pytest.param("HEAD", "/v1/models", 200, id="head"),
        pytest.param("OPTIONS", "/v1/chat/completions", 204, id="preflight"),
        pytest.param("GET", "/nope", 404, id="unknown-route"),
        pytest.param("DELETE", "/v1/models", 405, id="method-not-allowed"),
    ],
)
def test_routes_without_an_upstream_call_carry_queue_and_total(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert list(_timings(response.headers)) == ["queue", "total"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({**CHAT, "model": "no-such-model"}, 404, id="model-not-found"),
        pytest.param({"model": "sandbox-echo"}, 400, id="invalid-request"),
    ],
)
def test_client_errors_before_payment_carry_queue_and_total(
    client: httpx.Client, body: dict[str, Any], status: int
) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    assert list(_timings(response.headers)) == ["queue", "total"]


def test_payment_required_includes_the_authorization_attempt(gateway: GatewayServer) -> None:
    response = httpx.post(gateway.base_url + "/v1/chat/completions", json=CHAT, timeout=30)
    assert response.status_code == 402
    assert list(_timings(response.headers)) == ["queue", "auth", "total"]


def test_browsers_may_read_it_cross_origin(client: httpx.Client) -> None:
    response = client.get("/v1/models", headers={"origin": "https://app.example"})
    exposed = [name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")]
    assert "server-timing" in exposed
    assert response.headers["timing-allow-origin"] == "*"


# -- the middleware alone ---------------------------------------------------------------------


def _call(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(GatewayHTTPMiddleware(app)(scope, receive, send))
    return sent


def _scope(**extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "headers": [], **extra}


def _server_timing(start: Message) -> dict[str, float]:
    values = [v.decode() for k, v in start["headers"] if k == b"server-timing"]
    assert len(values) == 1
    return parse_server_timing(values[0])


def test_an_unexpected_failure_still_carries_it() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    start = _call(broken, _scope())[0]
    assert start["status"] == 500
    assert list(_server_timing(start)) == ["queue", "total"]


def test_queue_starts_at_the_servers_stamp() -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stamp = time.perf_counter_ns() - 5_000_000  # read 5 ms before the app got it
    metrics = _server_timing(_call(ok, _scope(**{RECEIVED_KEY: stamp}))[0])
    assert metrics["queue"] >= 5
    assert metrics["total"] >= metrics["queue"]


def test_phases_marked_in_a_task_the_handler_spawned_are_reported() -> None:
    async def spawns(scope: Any, receive: Any, send: Any) -> None:
        async def upstream() -> None:
            timing.add("upstream", time.perf_counter_ns() - 2_000_000)

        await asyncio.ensure_future(upstream())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    assert _server_timing(_call(spawns, _scope())[0])["upstream"] >= 2

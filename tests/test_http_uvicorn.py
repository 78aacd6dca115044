"""``gateway_core.uvicorn_http``: the uvicorn protocols ``gateway serve`` uses stamp the moment
the request's first byte was read into the scope, with either parser, for every request of a
keep-alive connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import uvicorn

from gateway_core.timing import RECEIVED_KEY
from gateway_core.uvicorn_http import HAS_HTTPTOOLS, HttpChoice, protocol_path

PARSERS = [
    pytest.param("httptools", id="httptools", marks=pytest.mark.skipif(not HAS_HTTPTOOLS, reason="no httptools")),
    pytest.param("h11", id="h11"),
]
SPLIT_DELAY_S = 0.05


async def _echo_stamp(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers how long ago (ns) the server stamped the request, or null without a stamp."""
    entered = time.perf_counter_ns()
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    stamp = scope.get(RECEIVED_KEY)
    body = orjson.dumps({"queue_ns": None if stamp is None else entered - stamp})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=PARSERS)
def server_port(request: pytest.FixtureRequest) -> Iterator[int]:
    choice: HttpChoice = request.param
    config = uvicorn.Config(
        _echo_stamp, host="127.0.0.1", port=0, http=protocol_path(choice), log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.005)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)


def _read_response(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    parsed: dict[str, Any] = orjson.loads(body)
    return parsed


def test_auto_prefers_httptools_when_installed() -> None:
    expected = "StampingHttpToolsProtocol" if HAS_HTTPTOOLS else "StampingH11Protocol"
    assert protocol_path("auto") == f"gateway_core.uvicorn_http:{expected}"
    assert protocol_path("h11") == "gateway_core.uvicorn_http:StampingH11Protocol"


def test_every_request_of_a_keep_alive_connection_is_stamped(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            queue_ns = _read_response(sock)["queue_ns"]
            assert queue_ns is not None and 0 <= queue_ns < 1_000_000_000


def test_the_stamp_is_the_first_byte_not_the_end_of_the_head(server_port: int) -> None:
    with socket.create_connection(("127.0.0.1", server_port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\n")
        time.sleep(SPLIT_DELAY_S)
        sock.sendall(b"Content-Length: 2\r\n\r\n{}")
        queue_ns = _read_response(sock)["queue_ns"]
    assert queue_ns is not None and queue_ns >= SPLIT_DELAY_S * 1e9 * 0.9


def test_httptools_asked_for_but_missing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway_core.uvicorn_http.HAS_HTTPTOOLS", False)
    with pytest.raises(ValueError, match="httptools"):
        protocol_path("httptools")
    assert protocol_path("auto").endswith(":StampingH11Protocol")

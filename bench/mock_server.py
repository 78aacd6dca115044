"""The benchmark's mock upstream: a fast HTTP/1.1 server speaking OpenAI Chat Completions and
Anthropic Messages, JSON and SSE. Standard library only (uvloop when asked for and importable).

    python bench/mock_server.py [--host 127.0.0.1] [--port 0] [--uvloop] [--exit-on-stdin-eof]

Prints one line ``{"port": N}`` on stdout once it listens. Routes:

- ``POST /v1/chat/completions`` (also ``/chat/completions``): a ``chat.completion``, or with
  ``"stream": true`` a ``chat.completion.chunk`` SSE stream ending in ``data: [DONE]``, with a
  ``choices: []`` usage frame first when ``stream_options.include_usage`` is true.
- ``POST /v1/messages`` (also ``/messages``): an Anthropic ``message``, or its event stream.
- ``GET /health``: ``{"status":"ok"}``.

What is answered, and how fast the chunks come, is the request's ``model`` (see
:mod:`mock_wire`): ``mock-c50-p5`` is 50 chunks, 5 ms apart. Chunk ``i`` is sent at
``start + i * pace`` on the loop's clock, so a late timer does not push every later chunk back.
Unpaced streams go out in one write.

Why not ``gateway_core.testing.mock_upstream``: that one is built for tests (scenario grammar
with failures, a request log) and costs ~10x more CPU per request; here the mock shares a CPU
with the load client and must never be what limits the direct column.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from typing import Any, cast

from mock_wire import (
    anthropic_message,
    anthropic_stream_frames,
    openai_completion,
    openai_stream_frames,
    parse_scenario,
    user_text,
)

MAX_HEAD = 65_536
MAX_BODY = 16 * 1024 * 1024
_OPENAI_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_ANTHROPIC_PATHS = frozenset({"/v1/messages", "/messages"})
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
}


def _json_response(status: int, body: bytes, keep_alive: bool) -> bytes:
    close = "" if keep_alive else "connection: close\r\n"
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{close}\r\n"
    )
    return head.encode() + body


def _stream_head(keep_alive: bool) -> bytes:
    close = "" if keep_alive else "connection: close\r\n"
    return (
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
        f"transfer-encoding: chunked\r\n{close}\r\n"
    ).encode()


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


class MockProtocol(asyncio.Protocol):
    """One client connection: keep-alive, requests answered in order (pipelining is queued)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # True while a paced stream is being written: later pipelined requests wait for it.
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # pending paced writes see this and stop

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._drain()

    def _drain(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._reply(_json_response(431, _error("request head too large"), False), False)
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._reply(_json_response(400, _error("bad request line"), False), False)
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:
                # Every client of the benchmark sends a Content-Length; chunked uploads are not needed.
                self._reply(_json_response(400, _error("chunked request bodies are not supported"), False), False)
                return
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._reply(_json_response(413, _error("request body too large"), False), False)
                return
            if len(self.buffer) < end + 4 + length:
                return  # the body is still coming
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            self._handle(method, target.split("?", 1)[0], body, keep_alive)

    def _reply(self, data: bytes, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()
            self.transport = None

    def _handle(self, method: str, path: str, raw: bytes, keep_alive: bool) -> None:
        if method == "GET" and path == "/health":
            self._reply(_json_response(200, b'{"status":"ok"}', keep_alive), keep_alive)
            return
        wire = "openai" if path in _OPENAI_PATHS else "anthropic" if path in _ANTHROPIC_PATHS else None
        if method != "POST" or wire is None:
            self._reply(_json_response(404, _error(f"no route {method} {path}"), keep_alive), keep_alive)
            return
        try:
            body: Any = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            self._reply(_json_response(400, _error(f"invalid JSON: {exc}"), keep_alive), keep_alive)
            return
        model = body["model"] if isinstance(body.get("model"), str) else "mock"
        scenario = parse_scenario(model)
        text = user_text(body)
        if not body.get("stream"):
            make = openai_completion if wire == "openai" else anthropic_message
            self._reply(_json_response(200, make(model, text, scenario.chunks), keep_alive), keep_alive)
            return
        if wire == "openai":
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            head, frames, tail = openai_stream_frames(model, text, scenario.chunks, include_usage)
        else:
            head, frames, tail = anthropic_stream_frames(model, text, scenario.chunks)
        if scenario.pace_ms == 0:
            payload = head + b"".join(frames) + tail
            self._reply(_stream_head(keep_alive) + _chunked(payload) + b"0\r\n\r\n", keep_alive)
            return
        self._paced(head, frames, tail, scenario.pace_ms / 1000, keep_alive)

    def _paced(self, head: bytes, frames: list[bytes], tail: bytes, pace: float, keep_alive: bool) -> None:
        assert self.transport is not None
        self.busy = True
        self.transport.write(_stream_head(keep_alive) + _chunked(head + frames[0]))
        loop = asyncio.get_running_loop()
        start = loop.time()

        def send(index: int) -> None:
            if self.transport is None:
                return  # the client went away
            if index < len(frames):
                self.transport.write(_chunked(frames[index]))
                if index + 1 < len(frames):
                    # Scheduled from the start, not from now: a late timer does not delay the rest.
                    loop.call_at(start + (index + 1) * pace, send, index + 1)
                    return
                index += 1  # the last chunk: the tail goes out with it
            self.busy = False
            self._reply(_chunked(tail) + b"0\r\n\r\n", keep_alive)
            self._drain()

        if len(frames) == 1:
            send(1)
        else:
            loop.call_at(start + pace, send, 1)


async def serve(host: str, port: int, exit_on_stdin_eof: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = await loop.create_server(MockProtocol, host, port, backlog=4096, reuse_address=True)
    sys.stdout.write(json.dumps({"port": server.sockets[0].getsockname()[1]}) + "\n")
    sys.stdout.flush()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if exit_on_stdin_eof:
        # The parent holds our stdin: when it dies, however it dies, the pipe closes and so do we.
        def watch() -> None:
            sys.stdin.buffer.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true", help="use uvloop when importable")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args(argv)
    coroutine = serve(args.host, args.port, args.exit_on_stdin_eof)
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coroutine)
            return
    asyncio.run(coroutine)


if __name__ == "__main__":
    main()

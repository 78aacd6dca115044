"""The mock upstream's HTTP/1.1 server: a small hand-written parser on ``asyncio`` streams.

Supported: request line, headers, ``Content-Length`` or chunked request bodies,
``Expect: 100-continue``, keep-alive (HTTP/1.1 default, ``Connection: close`` honoured),
pipelined requests, ``Content-Length`` answers and chunked SSE streams. Nothing else -- it
only has to speak to HTTP clients under test, quickly and predictably.

Routing: ``/_mock/*`` are control endpoints; any other path is matched against
:data:`WIRES` by suffix (longest first) and plays the scenario named by the body's ``model``.

While a scenario plays, a watcher keeps reading the socket: EOF or a reset there means the
client went away, so the scenario is cancelled and logged ``client_disconnected`` at once
rather than on the next failed write (``hang`` may not write for a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from . import wire_anthropic, wire_openai, wire_openai_responses, wire_sandbox
from .log import LogEntry, RequestLog
from .scenarios import (
    Answer,
    ErrorReply,
    RequestContext,
    ResetReply,
    ScenarioError,
    StreamError,
    WireFormat,
    build_plan,
    collect,
    dumps,
    parse_model,
)

__all__ = ["MAX_BODY_BYTES", "MAX_HEAD_BYTES", "WIRES", "MockServer", "match_wire"]

#: Path suffix -> wire format. A new wire is one module plus one entry here.
WIRES: dict[str, WireFormat] = {
    "/chat/completions": wire_openai.WIRE,
    "/responses": wire_openai_responses.WIRE,
    "/chat": wire_sandbox.WIRE,
    "/messages": wire_anthropic.WIRE,
}

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_READ_SIZE = 64 * 1024


def match_wire(path: str) -> WireFormat | None:
    """The wire whose suffix ends ``path``; the longest suffix wins (``/chat/completions``
    must not be served as ``/chat``)."""
    for suffix in sorted(WIRES, key=len, reverse=True):
        if path.endswith(suffix):
            return WIRES[suffix]
    return None


class _ProtocolError(Exception):
    """The bytes are not HTTP we accept; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip() for t in self.headers.get("connection", "").lower().split(",")}
        return "keep-alive" in tokens if self.version == "HTTP/1.0" else "close" not in tokens


class _Input:
    """Buffered reads over a StreamReader, so the disconnect watcher can read ahead without
    losing a pipelined next request."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buf = bytearray()

    async def _fill(self) -> bool:
        data = await self._reader.read(_READ_SIZE)
        self._buf += data
        return bool(data)

    async def read_until(self, sep: bytes, limit: int) -> bytes | None:
        """Bytes before ``sep`` (consumed); ``None`` on EOF before any byte."""
        while (end := self._buf.find(sep)) < 0:
            if len(self._buf) > limit:
                raise _ProtocolError(431, "Request head too large")
            if not await self._fill():
                if self._buf:
                    raise ConnectionResetError("EOF inside a request")
                return None
        data = bytes(self._buf[:end])
        del self._buf[: end + len(sep)]
        return data

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise ConnectionResetError("EOF inside a request body")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def wait_closed(self) -> None:
        """Return once the peer closed or reset the connection."""
        try:
            while len(self._buf) <= MAX_HEAD_BYTES + MAX_BODY_BYTES:
                if not await self._fill():
                    return
        except ConnectionError:
            return
        # A client flooding us while we answer: stop reading, rely on write errors instead.
        await asyncio.get_running_loop().create_future()


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1]:
        raise _ProtocolError(400, f"Malformed request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _ProtocolError(400, f"Malformed header line {line!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return parts[0], parts[1], parts[2], headers


async def _read_chunked(inp: _Input) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await inp.read_until(b"\r\n", MAX_HEAD_BYTES)
        if line is None:
            raise ConnectionResetError("EOF inside a chunked body")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _ProtocolError(400, "Malformed chunk size") from None
        if size == 0:
            while await inp.read_until(b"\r\n", MAX_HEAD_BYTES):  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise _ProtocolError(413, "Request body too large")
        parts.append(await inp.read_exactly(size))
        if await inp.read_exactly(2) != b"\r\n":
            raise _ProtocolError(400, "Malformed chunk terminator")


async def _read_request(inp: _Input, writer: asyncio.StreamWriter) -> _Request | None:
    head = await inp.read_until(b"\r\n\r\n", MAX_HEAD_BYTES)
    if head is None:
        return None
    method, target, version, headers = _parse_head(head.lstrip(b"\r\n"))
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(inp)
    else:
        length = headers.get("content-length", "0")
        if not length.isdigit():
            raise _ProtocolError(400, "Malformed Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise _ProtocolError(413, "Request body too large")
        body = await inp.read_exactly(int(length))
    return _Request(method, target, version, headers, body)


def _head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Mock Status"
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    # SO_LINGER with a zero timeout turns close() into an RST instead of a FIN.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pace(delay_s: float, index: int) -> None:
    """Sleep before step ``index``. Undelayed steps still yield now and then, so a pace-0
    ``hang`` cannot starve the loop (drain() does not yield while the socket keeps up)."""
    if delay_s > 0 or index % 64 == 63:
        await asyncio.sleep(delay_s)


def _parse_body(raw: bytes) -> tuple[Any, bool]:
    if not raw:
        return None, False
    try:
        return json.loads(raw), True
    except ValueError:
        return raw.decode("utf-8", "replace"), False


class MockServer:
    """The server and its state (request log, fail_first counters). One per process."""

    def __init__(self) -> None:
        self.log = RequestLog()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port."""
        self._server = await asyncio.start_server(self._on_connection, host, port, backlog=1024)
        port_: int = self._server.sockets[0].getsockname()[1]
        return port_

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Open streams (hang) would otherwise keep shutdown waiting for minutes.
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inp = _Input(reader)
        try:
            while True:
                try:
                    request = await _read_request(inp, writer)
                except _ProtocolError as exc:
                    body = wire_sandbox.WIRE.error_body(exc.status, exc.message)
                    await self._send(writer, None, exc.status, body, keep_alive=False)
                    break
                if request is None or not await self._respond(request, inp, writer):
                    break
        except ConnectionError:
            pass
        except asyncio.CancelledError:
            # Only close() cancels us. Ending normally matters: on Python 3.11 asyncio's
            # start_server done-callback calls task.exception(), which raises on a
            # cancelled task and logs a spurious traceback.
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            if not writer.is_closing():
                writer.close()

    # --- routing ---------------------------------------------------------------------------

    async def _respond(self, request: _Request, inp: _Input, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; returns whether the connection may serve another."""
        path, keep = request.path, request.keep_alive
        if path.startswith("/_mock/"):
            return await self._control(request, writer)
        body, is_json = _parse_body(request.body)
        entry = self.log.start(path, request.headers, body)
        wire = match_wire(path)
        if wire is None:
            return await self._error(writer, entry, wire_sandbox.WIRE, 404, f"No mock route for {path}", keep)
        if request.method != "POST":
            return await self._error(writer, entry, wire, 405, f"Use POST for {path}", keep)
        if not is_json or not isinstance(body, dict):
            return await self._error(writer, entry, wire, 400, "Request body must be a JSON object", keep)
        try:
            scenario = parse_model(body.get("model"))
        except ScenarioError as exc:
            return await self._error(writer, entry, wire, 400, str(exc), keep)
        fail_first = scenario.number("fail_first", 0)
        if fail_first and self.log.count_attempt(scenario.model) <= fail_first:
            return await self._error(writer, entry, wire, scenario.status, scenario.message, keep)
        plan = build_plan(scenario, body, entry.seq)
        if isinstance(plan, ErrorReply):
            return await self._error(writer, entry, wire, plan.status, plan.message, keep)
        if isinstance(plan, ResetReply):
            entry.finish("reset")
            _abort_with_rst(writer)
            return False
        ctx = RequestContext(entry.seq, scenario.model, body, int(time.time()))
        play = self._stream if entry.stream else self._complete
        return await self._guard(inp, writer, entry, play(writer, wire, ctx, plan, entry, keep))

    async def _control(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "/_mock/requests"): self.log.to_json,
            ("POST", "/_mock/reset"): self._reset,
            ("GET", "/_mock/health"): lambda: {"ok": True},
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            body = wire_sandbox.WIRE.error_body(404, f"No control route {request.method} {request.path}")
            return await self._send(writer, None, 404, body, request.keep_alive)
        return await self._send(writer, None, 200, handler(), request.keep_alive)

    def _reset(self) -> dict[str, bool]:
        self.log.reset()
        return {"ok": True}

    # --- playing ---------------------------------------------------------------------------

    async def _guard(
        self, inp: _Input, writer: asyncio.StreamWriter, entry: LogEntry, play: Coroutine[Any, Any, bool]
    ) -> bool:
        """Run ``play`` until it ends or the client disconnects, whichever is first."""
        play_task = asyncio.ensure_future(play)
        watch = asyncio.ensure_future(inp.wait_closed())
        try:
            await asyncio.wait({play_task, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, play_task):
                task.cancel()
            await asyncio.gather(watch, play_task, return_exceptions=True)
        if play_task.cancelled():
            entry.finish("client_disconnected")
            return False
        if (exc := play_task.exception()) is not None:
            # A bug in a scenario or renderer: log it, drop the connection, keep serving.
            traceback.print_exception(exc, file=sys.stderr)
            entry.finish("error")
            _abort_with_rst(writer)
            return False
        return play_task.result()

    async def _send(
        self, writer: asyncio.StreamWriter, entry: LogEntry | None, status: int, obj: Any, keep_alive: bool
    ) -> bool:
        payload = dumps(obj).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
        if entry is not None:
            headers.append(("x-mock-seq", str(entry.seq)))
        if status == 429:
            headers.append(("retry-after", "0"))
        if not keep_alive:
            headers.append(("connection", "close"))
        try:
            writer.write(_head(status, headers) + payload)
            await writer.drain()
        except ConnectionError:
            if entry is not None:
                entry.finish("client_disconnected")
            return False
        if entry is not None:
            entry.finish("completed" if status < 400 else "error", status)
        return keep_alive

    async def _error(
        self, writer: asyncio.StreamWriter, entry: LogEntry, wire: WireFormat, status: int, message: str, keep: bool
    ) -> bool:
        return await self._send(writer, entry, status, wire.error_body(status, message), keep)

    async def _complete(
        self,
        writer: asyncio.StreamWriter,
        wire: WireFormat,
        ctx: RequestContext,
        plan: Answer,
        entry: LogEntry,
        keep: bool,
    ) -> bool:
        events = []
        for i, step in enumerate(plan.steps):
            await _pace(step.delay_s, i)
            events.append(step.event)
        if plan.reset:
            entry.finish("reset")
            _abort_with_rst(writer)
            return False
        result = collect(events)
        if result.error is not None:
            return await self._error(writer, entry, wire, result.error.status, result.error.message, keep)
        return await self._send(writer, entry, 200, wire.completion(ctx, result), keep)

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        wire: WireFormat,
        ctx: RequestContext,
        plan: Answer,
        entry: LogEntry,
        keep: bool,
    ) -> bool:
        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
            ("x-mock-seq", str(entry.seq)),
        ]
        if not keep:
            headers.append(("connection", "close"))
        entry.status = 200
        errored = False
        try:
            writer.write(_head(200, headers))
            await writer.drain()
            renderer = wire.stream(ctx)
            await self._frames(writer, entry, renderer.start())
            for i, step in enumerate(plan.steps):
                await _pace(step.delay_s, i)
                await self._frames(writer, entry, renderer.event(step.event))
                if isinstance(step.event, StreamError):
                    errored = True
                    break
            if plan.reset:
                # Every frame so far was flushed; the client sees them, then the RST.
                entry.finish("reset")
                _abort_with_rst(writer)
                return False
            await self._frames(writer, entry, renderer.end(errored=errored))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            entry.finish("client_disconnected")
            return False
        entry.finish("error" if errored else "completed")
        return keep

    @staticmethod
    async def _frames(writer: asyncio.StreamWriter, entry: LogEntry, frames: Iterable[bytes]) -> None:
        # One HTTP chunk and one flush per frame: clients under test must see frames as
        # they are produced, never coalesced.
        for frame in frames:
            writer.write(b"%x\r\n%b\r\n" % (len(frame), frame))
            await writer.drain()
            entry.frames += 1

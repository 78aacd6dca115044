"""A minimal HTTP/1.1 keep-alive client on asyncio's Protocol API, built to be cheap per byte.

The load client shares a CPU with the mock upstream, so what it costs per request caps every
column. httpx spends ~0.6 ms of CPU per request (and ~5 ms with a shared pool at 64 in flight,
encode/httpx#3215); this one spends a few tens of microseconds: it only frames the response
(``Content-Length`` or chunked) and stamps each piece of body with its arrival time. Parsing
and checking the body happen later, in :mod:`answers`, outside the timed part when that matters.

One :class:`Connection` carries one request at a time (no pipelining).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import cast

__all__ = ["Connection", "Exchange", "request_bytes"]

MAX_HEAD = 65_536


@dataclass
class Exchange:
    """One request and what came back; ``pieces`` are (arrival time, body bytes) in order."""

    sent: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[tuple[float, bytes]] = field(default_factory=list)
    done: float = 0.0
    error: str | None = None
    keep_alive: bool = True

    @property
    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)


def request_bytes(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Framer:
    """Splits one response into status, headers and de-chunked body pieces, incrementally."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.head = bytearray()
        self.raw = bytearray()
        self.in_body = False
        self.chunked = False
        self.remaining = 0  # Content-Length left, or bytes left in the current chunk
        self.state = "size"  # chunked: size | data | crlf | trailer

    def feed(self, now: float, data: bytes) -> bool:
        """True once the response is complete. Raises ValueError on a malformed response."""
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > MAX_HEAD:
                    raise ValueError("response head too large")
                return False
            self._parse_head(bytes(self.head[:end]))
            data = bytes(self.head[end + 4 :])
            self.in_body = True
        if not self.chunked:
            if data:
                if len(data) > self.remaining:
                    raise ValueError("more body than Content-Length")
                self.exchange.pieces.append((now, data))
                self.remaining -= len(data)
            return self.remaining == 0
        self.raw += data
        return self._dechunk(now)

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {lines[0]!r}")
        self.exchange.status = int(parts[1])
        headers = self.exchange.headers
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.exchange.keep_alive = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in headers:
            self.remaining = int(headers["content-length"])
        else:
            # Every server measured here frames its answers; reading to close is not supported.
            raise ValueError("response without Content-Length or chunked encoding")

    def _dechunk(self, now: float) -> bool:
        raw = self.raw
        while True:
            if self.state == "data":
                if not raw:
                    return False
                take = min(self.remaining, len(raw))
                self.exchange.pieces.append((now, bytes(raw[:take])))
                del raw[:take]
                self.remaining -= take
                if self.remaining:
                    return False
                self.state = "crlf"
            elif self.state == "crlf":
                if len(raw) < 2:
                    return False
                if raw[:2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                del raw[:2]
                self.state = "size"
            elif self.state == "size":
                end = raw.find(b"\r\n")
                if end < 0:
                    return False
                size = int(bytes(raw[:end]).split(b";", 1)[0], 16)
                del raw[: end + 2]
                self.remaining, self.state = size, ("data" if size else "trailer")
            else:  # trailer: none expected, but skip any up to the blank line
                if raw.startswith(b"\r\n"):
                    return True
                if raw.find(b"\r\n\r\n") >= 0:
                    return True
                return False


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``await request(...)`` one at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.framer: _Framer | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.failure = "connection closed before the request"

    @classmethod
    async def open(cls, host: str, port: int, limit_s: float) -> Connection:
        """A connected Connection, or, when connecting fails, a closed one whose requests all
        answer with that failure: a server refusing connections under load is a result to
        count, not a reason to stop the run."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(limit_s):
                _, protocol = await loop.create_connection(cls, host, port)
        except (OSError, TimeoutError) as exc:
            failed = cls()
            failed.failure = f"connect failed: {exc or type(exc).__name__}"
            return failed
        return protocol

    @property
    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.framer is None or self.waiter is None or self.waiter.done():
            return  # bytes after a finished (or abandoned) exchange: nothing waits for them
        try:
            complete = self.framer.feed(now, data)
        except ValueError as exc:
            self.framer.exchange.error = f"malformed response: {exc}"
            self.waiter.set_result(None)
            self.close()
            return
        if complete:
            self.framer.exchange.done = now
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            assert self.framer is not None
            self.framer.exchange.error = f"connection closed mid-response ({exc or 'EOF'})"
            self.waiter.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    async def request(self, data: bytes, limit_s: float) -> Exchange:
        """Send one request; the Exchange carries an ``error`` rather than raising."""
        exchange = Exchange(sent=time.perf_counter())
        if self.transport is None:
            exchange.error = self.failure
            return exchange
        self.framer = _Framer(exchange)
        self.waiter = asyncio.get_running_loop().create_future()
        exchange.sent = time.perf_counter()
        self.transport.write(data)
        try:
            async with asyncio.timeout(limit_s):
                await self.waiter
        except TimeoutError:
            exchange.error = f"no complete answer within {limit_s:g} s"
            self.close()
        if not exchange.keep_alive:
            self.close()
        return exchange

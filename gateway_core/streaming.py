"""Stream plumbing: upstream frame splitting, SSE encoding, and the ASGI response that sends it.

Nothing here buffers a stream: each upstream read is split into whatever complete frames it
holds and those are handed on at once; each frame the gateway produces is one ASGI ``send``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson
from starlette.responses import Response

from gateway_core.types import StreamFormat, UpstreamFrame

__all__ = [
    "DONE_FRAME",
    "KEEPALIVE_FRAME",
    "SSEResponse",
    "iter_frame_batches",
    "iter_frames",
    "sse_event",
    "sse_frame",
]

DONE_FRAME = b"data: [DONE]\n\n"
KEEPALIVE_FRAME = b": keep-alive\n\n"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def sse_frame(data: Any) -> bytes:
    """``data: <compact JSON>\\n\\n`` (never split over several ``data:`` lines)."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def sse_event(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\n" + sse_frame(data)


async def _sse_batches(chunks: AsyncIterator[bytes]) -> AsyncGenerator[list[UpstreamFrame], None]:
    # Line-based parser of the SSE wire format (WHATWG "event stream interpretation"):
    # CRLF, LF and CR all end a line; a blank line dispatches the event; comment lines
    # (leading ':') and unknown fields are ignored; several data lines join with '\n'.
    buffer = b""
    event: str | None = None
    data: list[str] = []
    async for chunk in chunks:
        buffer += chunk
        held = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):
                # A CR at the end may be the first half of a CRLF split across reads.
                buffer, held = buffer[:-1], b"\r"
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, rest = buffer.split(b"\n")
        buffer = rest + held
        batch: list[UpstreamFrame] = []
        for line in lines:
            if not line:
                if data:
                    batch.append(UpstreamFrame("\n".join(data), event))
                event, data = None, []
            elif line[:1] != b":":
                event = _sse_field(line, event, data)
        if batch:
            yield batch
    # A stream cut without the final blank line still delivers its last complete event.
    last = buffer.rstrip(b"\r")
    if last and last[:1] != b":":
        event = _sse_field(last, event, data)
    if data:
        yield [UpstreamFrame("\n".join(data), event)]


def _sse_field(line: bytes, event: str | None, data: list[str]) -> str | None:
    name, _, value = line.partition(b":")
    if value[:1] == b" ":
        value = value[1:]
    if name == b"data":
        data.append(value.decode("utf-8"))
    elif name == b"event":
        return value.decode("utf-8")
    return event


async def _ndjson_batches(chunks: AsyncIterator[bytes]) -> AsyncGenerator[list[UpstreamFrame], None]:
    pending = b""
    async for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        batch = [UpstreamFrame(line.decode("utf-8").strip()) for line in lines if line.strip()]
        if batch:
            yield batch
    if pending.strip():
        yield [UpstreamFrame(pending.decode("utf-8").strip())]


async def _raw_batches(chunks: AsyncIterator[bytes]) -> AsyncGenerator[list[UpstreamFrame], None]:
    async for chunk in chunks:
        if chunk:
            yield [UpstreamFrame("", raw=chunk)]


def iter_frame_batches(
    chunks: AsyncIterator[bytes], stream_format: StreamFormat
) -> AsyncGenerator[list[UpstreamFrame], None]:
    """Split an upstream byte stream into frames of the given format: per upstream read, the
    complete frames it finished (never empty). Frames that arrived together can then be
    answered with one write, while frames that arrive apart still leave apart."""
    if stream_format == "sse":
        return _sse_batches(chunks)
    if stream_format == "ndjson":
        return _ndjson_batches(chunks)
    return _raw_batches(chunks)


async def iter_frames(chunks: AsyncIterator[bytes], stream_format: StreamFormat) -> AsyncIterator[UpstreamFrame]:
    """Split an upstream byte stream into frames of the given format, one at a time."""
    batches = iter_frame_batches(chunks, stream_format)
    try:
        async for batch in batches:
            for frame in batch:
                yield frame
    finally:
        await batches.aclose()


class SSEResponse(Response):
    """A pure-ASGI ``text/event-stream`` response.

    Unlike a generic streaming response it (1) watches for the client's disconnect while the
    body is produced and cancels the producer at once, so the upstream request is closed even
    if the upstream is silent, and (2) writes a ``: keep-alive`` comment when nothing was sent
    for ``keepalive`` seconds (spec/README.md § Server-sent events).

    :param body: async iterator of complete frames; closed (``aclose``) on disconnect.
    :param on_disconnect: awaited after the producer was cancelled because the client left.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: Mapping[str, str],
        *,
        keepalive: float = 15.0,
        on_disconnect: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.body_iterator = body
        self.extra_headers = headers
        self.status_code = 200
        self.background = None
        self.keepalive = keepalive
        self.on_disconnect = on_disconnect
        self._last_write = time.monotonic()
        self.raw_headers = self._raw_headers()

    def _raw_headers(self) -> list[tuple[bytes, bytes]]:
        raw = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.extra_headers.items())
        return raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(self._wait_for_disconnect(receive))
        ticker = asyncio.ensure_future(self._keepalive(send))
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
            client_left = not producer.done()
            if client_left:
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
            elif producer.exception() is not None:
                # The server reports writes to a closed socket as OSError: the client left.
                client_left = isinstance(producer.exception(), OSError)
                if not client_left:
                    producer.result()  # re-raise the unexpected failure
        finally:
            for task in (producer, watcher, ticker):
                task.cancel()
        if client_left:
            if self.on_disconnect is not None:
                await self.on_disconnect()
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _produce(self, send: Send) -> None:
        try:
            async for frame in self.body_iterator:
                self._last_write = time.monotonic()
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    @staticmethod
    async def _wait_for_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _keepalive(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self.keepalive)
            if time.monotonic() - self._last_write >= self.keepalive:
                self._last_write = time.monotonic()
                await send({"type": "http.response.body", "body": KEEPALIVE_FRAME, "more_body": True})

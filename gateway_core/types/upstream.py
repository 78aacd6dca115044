"""How a plugin describes an upstream HTTP exchange without doing any I/O.

The plugin returns an :class:`UpstreamRequest`; the core sends it with the provider's pooled
client and hands back an :class:`UpstreamResponse` (non-stream) or feeds
:class:`UpstreamFrame` objects to the plugin's stream decoder (stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from gateway_core.types.output import StreamEvent

__all__ = ["StreamDecoder", "StreamFormat", "UpstreamFrame", "UpstreamRequest", "UpstreamResponse"]

#: How the core splits an upstream byte stream into frames for the decoder:
#: ``sse`` = server-sent events, ``ndjson`` = one JSON value per line, ``raw`` = byte chunks.
StreamFormat = Literal["sse", "ndjson", "raw"]


@dataclass(slots=True)
class UpstreamRequest:
    """One HTTP request to the provider.

    :ivar url: absolute, or relative to the provider's ``base_url`` setting.
    :ivar json: a JSON body (serialized by the core), or ``None``.
    :ivar content: raw body bytes, when the body is not JSON.
    :ivar files: multipart files ``{field: (filename, bytes, content_type)}``; ``data`` then
        carries the other form fields.
    :ivar stream: read the answer as a stream of frames in ``stream_format``.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    params: Mapping[str, str] | None = None
    stream: bool = False
    stream_format: StreamFormat = "sse"


@dataclass(slots=True)
class UpstreamResponse:
    """A complete upstream answer (status, headers, body bytes)."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """Parse the body as JSON (raises ``ValueError`` when it is not)."""
        return orjson.loads(self.content)


@dataclass(slots=True)
class UpstreamFrame:
    """One frame of an upstream stream.

    For ``sse``: ``event`` is the ``event:`` field (or ``None``) and ``data`` the joined
    ``data:`` lines. For ``ndjson``: ``data`` is one line. For ``raw``: ``data`` is empty and
    ``raw`` holds the bytes.
    """

    data: str
    event: str | None = None
    raw: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.data)


class StreamDecoder(Protocol):
    """Turns the frames of one upstream stream into canonical events (one per stream).

    A decoder is created per call by ``gateway_stream_decoder`` and keeps whatever state the
    wire format needs (tool-call indices, usage seen so far). It is pure: no I/O, no clock.
    """

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        """Translate one frame. Raise :class:`~gateway_core.errors.ProviderError` for an
        in-band upstream error."""
        ...

    def close(self) -> Iterable[StreamEvent]:
        """The upstream stream ended. Yield what is still pending, ending with exactly one
        :class:`~gateway_core.types.output.Done` unless ``feed`` already produced it."""
        ...

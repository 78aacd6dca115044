"""Upstream frame splitting and SSE encoding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway_core.streaming import iter_frames, sse_event, sse_frame


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _frames(parts: list[bytes], fmt: str = "sse") -> list[tuple[str | None, str]]:
    async def collect() -> list[tuple[str | None, str]]:
        return [(f.event, f.data or f.raw.decode()) async for f in iter_frames(_chunks(parts), fmt)]  # type: ignore[arg-type]

    return asyncio.run(collect())


SSE = b'event: a\r\ndata: {"x":1}\r\n\r\n: comment\n\nid: 7\ndata: line1\ndata: line2\n\ndata:nospace\n\ndata: [DONE]'
EXPECTED = [("a", '{"x":1}'), (None, "line1\nline2"), (None, "nospace"), (None, "[DONE]")]


@pytest.mark.parametrize("split", range(1, len(SSE)))
def test_sse_frames_survive_any_split(split: int) -> None:
    assert _frames([SSE[:split], SSE[split:]]) == EXPECTED


def test_sse_byte_by_byte_and_cr_line_endings() -> None:
    assert _frames([bytes([b]) for b in SSE]) == EXPECTED
    assert _frames([b"data: a\r\rdata: b\r\r"]) == [(None, "a"), (None, "b")]


def test_sse_event_without_data_is_not_dispatched() -> None:
    assert _frames([b"event: ping\n\ndata: x\n\n"]) == [(None, "x")]


def test_ndjson_and_raw() -> None:
    assert _frames([b'{"a":1}\n{"b"', b":2}\n\n", b'{"c":3}'], "ndjson") == [
        (None, '{"a":1}'),
        (None, '{"b":2}'),
        (None, '{"c":3}'),
    ]
    assert _frames([b"ab", b"", b"cd"], "raw") == [(None, "ab"), (None, "cd")]


def test_encoding() -> None:
    assert sse_frame({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert sse_event("compose.error", {"code": "x"}) == b'event: compose.error\ndata: {"code":"x"}\n\n'

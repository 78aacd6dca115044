"""Upstream frame splitting and SSE encoding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway_core.streaming import iter_frame_batches, iter_frames, sse_event, sse_frame


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


def _batches(parts: list[bytes], fmt: str) -> list[list[tuple[str | None, str]]]:
    async def collect() -> list[list[tuple[str | None, str]]]:
        return [
            [(f.event, f.data or f.raw.decode()) for f in batch]
            async for batch in iter_frame_batches(_chunks(parts), fmt)  # type: ignore[arg-type]
        ]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    ("fmt", "parts", "expected"),
    [
        pytest.param(
            "sse",
            [b"data: a\n\nevent: e\ndata: b\n\n", b"data: c\n\n"],
            [[(None, "a"), ("e", "b")], [(None, "c")]],
            id="sse-reads",
        ),
        pytest.param(
            "sse",
            [b"data: a\n\ndata: b", b"b\n\ndata: c\n\nda", b"ta: d\n", b"\n"],
            [[(None, "a")], [(None, "bb"), (None, "c")], [(None, "d")]],
            id="sse-split-frames",
        ),
        pytest.param(
            "sse",
            [b"data: a\r", b"\n\r\ndata: b\r\n\r\n"],
            [[(None, "a"), (None, "b")]],
            id="sse-crlf-split",
        ),
        pytest.param(
            "sse",
            [b": keep-alive\n\n", b"data: x", b"", b"\n\n", b"\n\n", b"event: ping\n\n", b"data: y"],
            [[(None, "x")], [(None, "y")]],
            id="sse-reads-without-frames",
        ),
        pytest.param(
            "ndjson",
            [b'{"a":1}\n{"b":2}\n', b'{"c"', b":3}\n\n", b"\n", b'{"d":4}\n{"e"', b":5}"],
            [[(None, '{"a":1}'), (None, '{"b":2}')], [(None, '{"c":3}')], [(None, '{"d":4}')], [(None, '{"e":5}')]],
            id="ndjson",
        ),
        pytest.param("raw", [b"ab", b"", b"cd"], [[(None, "ab")], [(None, "cd")]], id="raw"),
    ],
)
def test_frame_batches_follow_the_reads(
    fmt: str, parts: list[bytes], expected: list[list[tuple[str | None, str]]]
) -> None:
    """One list per read that completed frames: together if they arrived together, apart if
    apart, a split frame with the read that completes it, never an empty list."""
    assert _batches(parts, fmt) == expected


def test_encoding() -> None:
    assert sse_frame({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert sse_event("compose.error", {"code": "x"}) == b'event: compose.error\ndata: {"code":"x"}\n\n'

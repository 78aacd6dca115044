"""Checking answers on the OpenAI chat wire, and reading stream timings off them.

Every target (the mock direct, this gateway, LiteLLM) answers in the same wire, and the mock's
answer is a pure function of the request (:mod:`mock_wire`), so "correct" is exact: status 200,
the content equals the expected text, and the usage equals the mock's (prompt and completion
tokens). A stream must also carry exactly that text in its deltas, a usage chunk (the client
asks with ``stream_options.include_usage``), no error frame, and end with ``data: [DONE]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import orjson
from http_client import Exchange
from mock_wire import expected_text

__all__ = ["Expected", "StreamTiming", "WrongAnswer", "check_completion", "check_stream", "expected_for"]


class WrongAnswer(Exception):
    """An answer that must not count as a success."""


@dataclass(frozen=True)
class Expected:
    text: str
    prompt_tokens: int
    completion_tokens: int


def expected_for(user_text: str, chunks: int) -> Expected:
    return Expected(expected_text(user_text, chunks), len(user_text), chunks)


@dataclass(frozen=True)
class StreamTiming:
    """Client-side times of one stream, in seconds from the request being written."""

    ttfc: float  # to the first event with content
    total: float  # to the end of the response
    gaps: list[float]  # between consecutive content events


def _check_usage(usage: object, expected: Expected) -> None:
    if not isinstance(usage, dict):
        raise WrongAnswer(f"no usage: {usage!r}")
    got = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    if got != (expected.prompt_tokens, expected.completion_tokens):
        raise WrongAnswer(f"usage {got}, expected {(expected.prompt_tokens, expected.completion_tokens)}")


def _check_transport(exchange: Exchange) -> None:
    if exchange.error is not None:
        raise WrongAnswer(exchange.error)
    if exchange.status != 200:
        raise WrongAnswer(f"status {exchange.status}: {exchange.body[:200]!r}")


def check_completion(exchange: Exchange, expected: Expected) -> float:
    """Latency of a correct non-stream answer; raises WrongAnswer otherwise."""
    _check_transport(exchange)
    try:
        body = orjson.loads(exchange.body)
        content = body["choices"][0]["message"]["content"]
        usage = body.get("usage")
    except (orjson.JSONDecodeError, LookupError, TypeError, AttributeError) as exc:
        raise WrongAnswer(f"not a chat.completion ({type(exc).__name__}): {exchange.body[:200]!r}") from None
    if content != expected.text:
        raise WrongAnswer(f"content {content!r:.120}, expected {expected.text!r:.120}")
    _check_usage(usage, expected)
    return exchange.done - exchange.sent


def _events(exchange: Exchange) -> list[tuple[float, bytes]]:
    """The ``data:`` payloads of an SSE body, each stamped with when its blank line arrived."""
    events: list[tuple[float, bytes]] = []
    pending = b""
    for arrived, piece in exchange.pieces:
        pending += piece
        if b"\n\n" not in pending and b"\r\n\r\n" not in pending:
            continue
        blocks = pending.replace(b"\r\n", b"\n").split(b"\n\n")
        pending = blocks.pop()  # an unfinished event stays for the next piece
        for block in blocks:
            data = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
            if any(line.startswith(b"event:") and b"error" in line for line in block.split(b"\n")):
                raise WrongAnswer(f"error event in the stream: {block[:200]!r}")
            if data:
                events.append((arrived, b"\n".join(data)))
    if pending.strip():
        raise WrongAnswer(f"the stream ended inside an event: {pending[:200]!r}")
    return events


def check_stream(exchange: Exchange, expected: Expected) -> StreamTiming:
    """Timings of a correct stream; raises WrongAnswer otherwise."""
    _check_transport(exchange)
    events = _events(exchange)
    if not events or events[-1][1] != b"[DONE]":
        raise WrongAnswer(f"the stream did not end with [DONE]: {events[-1][1][:200] if events else b''!r}")
    text: list[str] = []
    times: list[float] = []
    usage: object = None
    for arrived, data in events[:-1]:
        try:
            frame = orjson.loads(data)
            if "error" in frame:
                raise WrongAnswer(f"error frame in the stream: {data[:200]!r}")
            choices = frame.get("choices") or []
            content = choices[0].get("delta", {}).get("content") if choices else None
        except (orjson.JSONDecodeError, LookupError, TypeError, AttributeError) as exc:
            raise WrongAnswer(f"not a chat.completion.chunk ({type(exc).__name__}): {data[:200]!r}") from None
        if frame.get("usage"):
            usage = frame["usage"]
        if content:
            text.append(content)
            times.append(arrived)
    joined = "".join(text)
    if joined != expected.text:
        raise WrongAnswer(f"streamed content {joined!r:.120}, expected {expected.text!r:.120}")
    _check_usage(usage, expected)
    gaps = [later - earlier for earlier, later in pairwise(times)]
    return StreamTiming(times[0] - exchange.sent, exchange.done - exchange.sent, gaps)

"""What the benchmark's mock upstream answers: the scenario grammar and the wire bodies.

Standard library only: :mod:`mock_server` (the upstream process) builds its answers here and the
load client (:mod:`answers`) computes the answer it must receive from the same functions, so the
two can never disagree about what "correct" means.

The scenario is the request's ``model``: ``mock-c<N>[-p<MS>]`` asks for a reply in ``N`` chunks
(1..10,000), streamed ``MS`` milliseconds apart (0..10,000; default 0, all chunks in one write).
A ``model`` that is not a scenario is answered as ``mock-c1``. The reply echoes the last user
message: chunk 0 is its text, chunk ``i`` is `` t<i>``, so a proxy that mixes up answers (or
drops a chunk) is caught. Usage: ``prompt_tokens`` = characters of that text,
``completion_tokens`` = ``N``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Scenario",
    "anthropic_message",
    "anthropic_stream_frames",
    "expected_text",
    "openai_completion",
    "openai_stream_frames",
    "parse_scenario",
    "pieces",
    "user_text",
]

_SCENARIO = re.compile(r"mock-c(\d{1,5})(?:-p(\d{1,5}))?")
MAX_CHUNKS = 10_000
MAX_PACE_MS = 10_000
# Fixed ids and timestamps: the answers are cached per scenario, and a proxy that rewrites ids
# (both gateways do) is not wrong for it.
_CREATED = 1_700_000_000
_OPENAI_ID = "chatcmpl-mock"
_ANTHROPIC_ID = "msg_mock"


@dataclass(frozen=True)
class Scenario:
    chunks: int
    pace_ms: int


def parse_scenario(model: object) -> Scenario:
    match = _SCENARIO.fullmatch(model) if isinstance(model, str) else None
    if match is None:
        return Scenario(1, 0)
    chunks = min(max(int(match[1]), 1), MAX_CHUNKS)
    return Scenario(chunks, min(int(match[2] or 0), MAX_PACE_MS))


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message (a string, or the text parts of a content list)."""
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return ""
    return ""


def pieces(text: str, chunks: int) -> list[str]:
    return [text, *(f" t{i}" for i in range(1, chunks))]


@lru_cache(maxsize=256)
def _tail_text(chunks: int) -> str:
    return "".join(pieces("", chunks))


def expected_text(text: str, chunks: int) -> str:
    return text + _tail_text(chunks)


def _dumps(value: Any) -> bytes:
    # Compact like real providers; ensure_ascii keeps every frame one plain ASCII line.
    return json.dumps(value, separators=(",", ":")).encode()


# --- OpenAI Chat Completions ------------------------------------------------------------------


def _usage(text: str, chunks: int) -> dict[str, int]:
    return {"prompt_tokens": len(text), "completion_tokens": chunks, "total_tokens": len(text) + chunks}


@lru_cache(maxsize=256)
def _split_template(template: str) -> tuple[bytes, bytes, bytes]:
    # A body rendered once with placeholders, then cut around them: per request only the content
    # and the usage are encoded (json.dumps of the whole body would be most of the mock's CPU).
    before, _, rest = template.partition('"@CONTENT@"')
    middle, _, after = rest.partition('"@USAGE@"')
    return before.encode(), middle.encode(), after.encode()


def _render(template: str, content: str, usage: dict[str, Any]) -> bytes:
    before, middle, after = _split_template(template)
    return before + _dumps(content) + middle + _dumps(usage) + after


@lru_cache(maxsize=256)
def _completion_template(model: str) -> str:
    message = {"role": "assistant", "content": "@CONTENT@", "refusal": None}
    return json.dumps(
        {
            "id": _OPENAI_ID,
            "object": "chat.completion",
            "created": _CREATED,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": "@USAGE@",
            "system_fingerprint": None,
        },
        separators=(",", ":"),
    )


def openai_completion(model: str, text: str, chunks: int) -> bytes:
    return _render(_completion_template(model), expected_text(text, chunks), _usage(text, chunks))


def _chunk(model: str, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
    frame: dict[str, Any] = {
        "id": _OPENAI_ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        frame["usage"] = usage
    return b"data: " + _dumps(frame) + b"\n\n"


@lru_cache(maxsize=256)
def _openai_static(model: str, chunks: int) -> tuple[bytes, tuple[bytes, ...], bytes]:
    # Only chunk 0 and the usage depend on the request: the rest is built once per scenario.
    head = _chunk(model, [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    rest = tuple(
        _chunk(model, [{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        for piece in pieces("", chunks)[1:]
    )
    return head, rest, _chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}])


def openai_stream_frames(model: str, text: str, chunks: int, include_usage: bool) -> tuple[bytes, list[bytes], bytes]:
    """(head, one frame per chunk, tail) of a ``chat.completion.chunk`` stream.

    The head is the role frame; the tail holds the finish frame, the usage frame when the request
    set ``stream_options.include_usage`` (as OpenAI does: ``choices: []``), and ``[DONE]``.
    """
    head, rest, tail = _openai_static(model, chunks)
    first = _chunk(model, [{"index": 0, "delta": {"content": text}, "finish_reason": None}])
    if include_usage:
        tail += _chunk(model, [], _usage(text, chunks))
    return head, [first, *rest], tail + b"data: [DONE]\n\n"


# --- Anthropic Messages -----------------------------------------------------------------------


@lru_cache(maxsize=256)
def _message_template(model: str) -> str:
    return json.dumps(
        {
            "id": _ANTHROPIC_ID,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "@CONTENT@"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": "@USAGE@",
        },
        separators=(",", ":"),
    )


def anthropic_message(model: str, text: str, chunks: int) -> bytes:
    usage = {"input_tokens": len(text), "output_tokens": chunks}
    return _render(_message_template(model), expected_text(text, chunks), usage)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


@lru_cache(maxsize=256)
def _anthropic_static(chunks: int) -> tuple[bytes, tuple[bytes, ...], bytes]:
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    head = _event("content_block_start", block) + _event("ping", {"type": "ping"})
    rest = tuple(_text_delta(piece) for piece in pieces("", chunks)[1:])
    tail = _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    stop = {"stop_reason": "end_turn", "stop_sequence": None}
    tail += _event("message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": chunks}})
    return head, rest, tail + _event("message_stop", {"type": "message_stop"})


def _text_delta(piece: str) -> bytes:
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
    return _event("content_block_delta", delta)


def anthropic_stream_frames(model: str, text: str, chunks: int) -> tuple[bytes, list[bytes], bytes]:
    """(head, one ``content_block_delta`` per chunk, tail) of a Messages stream."""
    message: dict[str, Any] = {
        "id": _ANTHROPIC_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": len(text), "output_tokens": 1},
    }
    head, rest, tail = _anthropic_static(chunks)
    start = _event("message_start", {"type": "message_start", "message": message})
    return start + head, [_text_delta(text), *rest], tail

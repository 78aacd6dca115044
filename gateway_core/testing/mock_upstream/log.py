"""The request log served at ``GET /_mock/requests``.

One entry per provider request (control endpoints are not logged), appended as soon as the
request is parsed and updated when it ends, so tests can watch in-flight requests::

    {"seq": int,            # process-wide, strictly increasing, NOT reset by /_mock/reset
     "path": str,           # request target without the query string
     "model": str | None,   # the body's model field when it is a string
     "stream": bool,        # body["stream"] is true
     "status": int | None,  # HTTP status sent; None while in progress or when nothing was sent
     "headers": {str: str}, # lowercased names; repeated headers joined with ", "
     "body": Any,           # parsed JSON body, or the raw text when it is not JSON
     "outcome": str,        # see OUTCOMES
     "frames": int,         # SSE frames written (streams only)
     "duration_ms": float | None}

Outcomes: ``in_progress`` (not finished yet), ``completed``, ``client_disconnected`` (the client
closed or reset the connection before the scenario finished), ``reset`` (the mock aborted the
connection), ``error`` (an HTTP error status or an in-band stream error was sent).

Only the newest :data:`MAX_ENTRIES` entries are kept so a long benchmark cannot exhaust memory.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MAX_ENTRIES", "OUTCOMES", "LogEntry", "Outcome", "RequestLog"]

MAX_ENTRIES = 10_000

Outcome = Literal["in_progress", "completed", "client_disconnected", "reset", "error"]
OUTCOMES: tuple[Outcome, ...] = ("in_progress", "completed", "client_disconnected", "reset", "error")


@dataclass(slots=True)
class LogEntry:
    seq: int
    path: str
    model: str | None
    stream: bool
    headers: Mapping[str, str]
    body: Any
    status: int | None = None
    outcome: Outcome = "in_progress"
    frames: int = 0
    started: float = field(default_factory=time.monotonic)
    duration_ms: float | None = None

    def finish(self, outcome: Outcome, status: int | None = None) -> None:
        # The first recorded end wins: a disconnect seen after an error reply changes nothing.
        if self.outcome != "in_progress":
            return
        self.outcome = outcome
        if status is not None:
            self.status = status
        self.duration_ms = round((time.monotonic() - self.started) * 1000, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "path": self.path,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "outcome": self.outcome,
            "frames": self.frames,
            "duration_ms": self.duration_ms,
        }


class RequestLog:
    """Entries plus the per-model ``fail_first`` counters; both cleared by :meth:`reset`."""

    def __init__(self) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=MAX_ENTRIES)
        self._seq = 0
        self._fail_counts: dict[str, int] = {}

    def start(self, path: str, headers: Mapping[str, str], body: Any) -> LogEntry:
        self._seq += 1
        model = body.get("model") if isinstance(body, dict) else None
        stream = isinstance(body, dict) and body.get("stream") is True
        entry = LogEntry(self._seq, path, model if isinstance(model, str) else None, stream, headers, body)
        self._entries.append(entry)
        return entry

    def count_attempt(self, model: str) -> int:
        """Count one more request for this exact model string; returns the new count."""
        self._fail_counts[model] = self._fail_counts.get(model, 0) + 1
        return self._fail_counts[model]

    def reset(self) -> None:
        self._entries.clear()
        self._fail_counts.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [entry.to_json() for entry in self._entries]

"""Per-request phase timings, sent as a W3C ``Server-Timing`` header on every response.

The HTTP middleware opens one :class:`RequestTiming` per request and makes it current (a
context variable: handler code, and the tasks it spawns, run in the request's context, so the
pipeline reaches it without it being threaded through every route). The pipeline adds the
time it spent in each phase with :func:`add`; the middleware renders the header when the
response starts. Durations are integers of ``time.perf_counter_ns`` and cost a few hundred
nanoseconds per mark: this sits on the measured hot path.

Names (README § Server-Timing):

- ``queue``: from the server reading the request's first byte (:data:`RECEIVED_KEY`, stamped by
  :mod:`gateway_core.uvicorn_http`) to the application starting on it; 0 without the stamp.
- ``auth``, ``translate``, ``upstream``, ``settle``: phases of a paid call, summed over attempts.
- ``total``: from the first byte (or application entry) to the response start.
"""

from __future__ import annotations

import contextvars
import re
import time
from typing import Literal

__all__ = ["RECEIVED_KEY", "Phase", "RequestTiming", "add", "current", "open_timing", "parse_server_timing", "reset"]

#: The ASGI scope key where the server puts ``perf_counter_ns()`` of the request's first byte.
RECEIVED_KEY = "gateway.received_ns"

Phase = Literal["auth", "translate", "upstream", "settle"]

_now = time.perf_counter_ns


class RequestTiming:
    """When the request arrived and entered the app, and the nanoseconds spent per phase."""

    __slots__ = ("entered", "phases", "received")

    def __init__(self, received: int | None, entered: int) -> None:
        # A stamp later than now cannot be ours (another server, another clock): ignore it.
        self.received = received if received is not None and 0 < received <= entered else entered
        self.entered = entered
        #: Insertion-ordered, so the header lists phases in the order they first happened.
        self.phases: dict[str, int] = {}

    def add(self, phase: Phase, started: int) -> None:
        """Count the time from ``started`` (a ``perf_counter_ns`` value) to now in ``phase``."""
        self.phases[phase] = self.phases.get(phase, 0) + (_now() - started)

    def header(self, now: int | None = None) -> bytes:
        """``queue;dur=…, <phases>, total;dur=…`` in milliseconds (W3C Server-Timing)."""
        end = _now() if now is None else now
        value = f"queue;dur={(self.entered - self.received) / 1e6:.3f}"
        for name, ns in self.phases.items():
            value += f", {name};dur={ns / 1e6:.3f}"
        return f"{value}, total;dur={(end - self.received) / 1e6:.3f}".encode("ascii")


_current: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("gateway_timing", default=None)


def open_timing(received: int | None) -> tuple[RequestTiming, contextvars.Token[RequestTiming | None]]:
    """Start timing a request that entered the app now and make it :func:`current`."""
    timing = RequestTiming(received, _now())
    return timing, _current.set(timing)


def reset(token: contextvars.Token[RequestTiming | None]) -> None:
    """Undo :func:`open_timing` (the request is over)."""
    _current.reset(token)


def current() -> RequestTiming | None:
    """The timing of the request being handled, or ``None`` outside a request (unit tests)."""
    return _current.get()


def add(phase: Phase, started: int) -> None:
    """Count the time since ``started`` in ``phase`` of the current request, if any."""
    timing = _current.get()
    if timing is not None:
        timing.add(phase, started)


# RFC 9110 token and quoted-string, as the W3C Server-Timing grammar uses them.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_VALUE = rf'(?:{_TOKEN}|"(?:[^"\\]|\\.)*")'
_PARAM = rf"[ \t]*;[ \t]*({_TOKEN})[ \t]*=[ \t]*({_VALUE})"
# Empty list elements are skipped, as RFC 9110 §5.6.1.2 asks of recipients.
_METRIC = re.compile(rf"[ \t,]*({_TOKEN})((?:{_PARAM})*)[ \t]*(?:,|$)")
_PARAMS = re.compile(_PARAM)


def parse_server_timing(value: str) -> dict[str, float]:
    """Metric name -> ``dur`` in milliseconds (0 without one) of a ``Server-Timing`` value,
    for clients of the gateway: the bench, tests, scripts.

    :raises ValueError: the value does not follow the W3C Server-Timing grammar.
    """
    metrics: dict[str, float] = {}
    position = 0
    while value[position:].strip(" \t,"):
        match = _METRIC.match(value, position)
        if match is None:
            raise ValueError(f"not a Server-Timing value at {position}: {value!r}")
        params = {name.lower(): _unquote(raw) for name, raw in _PARAMS.findall(match.group(2))}
        try:
            metrics[match.group(1)] = float(params.get("dur", 0))
        except ValueError:
            raise ValueError(f"not a Server-Timing dur in {match.group(0)!r}") from None
        position = match.end()
    return metrics


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw

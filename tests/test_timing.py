"""``gateway_core.timing``: the per-request record, its Server-Timing rendering, the context
variable the pipeline marks through, and the W3C parser clients use."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway_core import timing
from gateway_core.timing import RequestTiming, parse_server_timing

MS = 1_000_000


def test_header_lists_queue_phases_in_first_use_order_then_total() -> None:
    record = RequestTiming(received=1_000 * MS, entered=1_002 * MS)
    record.phases.update(auth=3 * MS, translate=250_000, upstream=40 * MS)
    value = record.header(now=1_050 * MS).decode()
    assert value == "queue;dur=2.000, auth;dur=3.000, translate;dur=0.250, upstream;dur=40.000, total;dur=50.000"
    assert parse_server_timing(value) == {"queue": 2, "auth": 3, "translate": 0.25, "upstream": 40, "total": 50}


@pytest.mark.parametrize(
    "received",
    [
        pytest.param(None, id="no-stamp"),
        pytest.param(0, id="zero"),
        pytest.param(2_000 * MS, id="later-than-entry"),
    ],
)
def test_queue_is_zero_without_a_usable_stamp(received: int | None) -> None:
    record = RequestTiming(received=received, entered=1_000 * MS)
    assert parse_server_timing(record.header(now=1_001 * MS).decode()) == {"queue": 0, "total": 1}


def test_add_accumulates_over_attempts() -> None:
    record = RequestTiming(None, 0)
    start = time.perf_counter_ns()
    record.add("upstream", start)
    first = record.phases["upstream"]
    record.add("upstream", start)
    assert record.phases["upstream"] >= 2 * first >= 0


def test_add_outside_a_request_is_a_no_op() -> None:
    assert timing.current() is None
    timing.add("auth", time.perf_counter_ns())  # nothing to mark, nothing raised


def test_current_request_reaches_tasks_spawned_by_the_handler() -> None:
    async def scenario() -> RequestTiming:
        record, token = timing.open_timing(None)
        try:

            async def in_a_task() -> None:
                timing.add("upstream", time.perf_counter_ns())

            await asyncio.ensure_future(in_a_task())
        finally:
            timing.reset(token)
        assert timing.current() is None
        return record

    assert "upstream" in asyncio.run(scenario()).phases


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        pytest.param("miss, db;dur=53, app;dur=47.2", {"miss": 0, "db": 53, "app": 47.2}, id="w3c-example"),
        pytest.param('cache;desc="Cache Read";dur=23.2', {"cache": 23.2}, id="quoted-desc"),
        pytest.param('a;desc="x, y";dur=1 ,b ; dur = 2', {"a": 1, "b": 2}, id="comma-in-quotes-and-ows"),
        pytest.param("total;DUR=3", {"total": 3}, id="param-names-case-insensitive"),
        pytest.param(", a;dur=1,, b ,", {"a": 1, "b": 0}, id="empty-elements-ignored"),
    ],
)
def test_parse_server_timing(value: str, parsed: dict[str, float]) -> None:
    assert parse_server_timing(value) == parsed


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a;dur", id="param-without-value"),
        pytest.param("a b", id="space-in-name"),
        pytest.param('a;dur="1', id="unterminated-quote"),
        pytest.param("a;dur=fast", id="dur-not-a-number"),
    ],
)
def test_parse_server_timing_rejects_malformed_values(value: str) -> None:
    with pytest.raises(ValueError, match="Server-Timing"):
        parse_server_timing(value)

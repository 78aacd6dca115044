"""The store's cost on a paid call: each hot-path operation timed alone, on SQLite and PostgreSQL.

    python bench/store_ops.py [--iterations N] [--backend sqlite|postgresql|both] [--postgres-url URL]

Opens a :class:`~gateway_core.store.Store` the way ``gateway serve`` does (``Store.open(url)``,
migrations applied, default engine settings) on

* SQLite: a fresh file in a temp dir, removed afterwards;
* PostgreSQL: a fresh schema ``bench_<hex>`` in the database of ``--postgres-url`` (default
  ``GATEWAY_TEST_POSTGRES_URL``, else the local CI server), dropped afterwards.

Then, for each of ``--iterations`` rounds (after ``--warmup`` unreported ones), it runs one
Compose Key call's store work operation by operation, sequentially on one connection's worth of
concurrency (c=1): ``get_key``, ``hold``, ``settle``, ``hold`` again, ``release``, and a receipt
write (``insert_receipt``, or the combined settle-and-receipt operation where the store has
one). Each operation is timed with ``perf_counter_ns`` around the awaited call, so the numbers
include everything the caller pays: SQLAlchemy, the driver, its thread hop or socket, the pool.

Columns: mean / p50 / p99 in milliseconds, and per operation

* ``stmts``: statements SQLAlchemy sent to the driver (``before_cursor_execute``; on SQLite
  this includes the ``BEGIN``/``BEGIN IMMEDIATE`` the store issues itself);
* ``txns``: transactions committed or rolled back;
* ``hops`` (SQLite only): calls into aiosqlite's worker thread — every cursor creation,
  execute, fetch, close and commit is one; each costs a thread switch both ways.

The ``paid call`` row is the sum of what one call does on the hot path (key lookup, hold,
settle, receipt), timed end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite.core
import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_core.store import KeyRecord, ReceiptRow, Store  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
WALLET = "0x2222222222222222222222222222222222222222"
NETWORK = "eip155:31337"
KEY_ID = "0b5e0c1e-0000-4000-8000-000000000001"
BUDGET = 10**15  # never runs out, whatever --iterations says
HOLD = 5_000
CHARGE = 3_210
OPS = ("get_key", "hold", "settle", "release", "receipt", "paid call")
_T = TypeVar("_T")


@dataclass
class Counters:
    """What the database layer did, bumped by the event hooks below."""

    statements: int = 0
    transactions: int = 0
    hops: int = 0

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.transactions, self.hops


@dataclass
class Samples:
    """Timings (ns) and per-call counts of one operation."""

    times_ns: list[int] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    transactions: list[int] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)


COUNTERS = Counters()


def _on_statement(*_args: Any) -> None:
    COUNTERS.statements += 1


def _on_transaction_end(*_args: Any) -> None:
    COUNTERS.transactions += 1


@contextmanager
def instrumented() -> Iterator[None]:
    """Count statements and transactions of every engine, and aiosqlite thread hops."""
    # Class-level listeners reach the store's engine without touching its internals.
    event.listen(Engine, "before_cursor_execute", _on_statement)
    event.listen(Engine, "commit", _on_transaction_end)
    event.listen(Engine, "rollback", _on_transaction_end)
    original = aiosqlite.core.Connection._execute

    async def counting(self: aiosqlite.core.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTERS.hops += 1
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    aiosqlite.core.Connection._execute = counting  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", _on_statement)
        event.remove(Engine, "commit", _on_transaction_end)
        event.remove(Engine, "rollback", _on_transaction_end)


async def timed(samples: Samples, call: Callable[[], Awaitable[_T]]) -> _T:
    before = COUNTERS.snapshot()
    started = time.perf_counter_ns()
    result = await call()
    samples.times_ns.append(time.perf_counter_ns() - started)
    after = COUNTERS.snapshot()
    samples.statements.append(after[0] - before[0])
    samples.transactions.append(after[1] - before[1])
    samples.hops.append(after[2] - before[2])
    return result


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _receipt(key_id: str, hold_id: str, now_ms: int) -> ReceiptRow:
    # About the size of a real one-item chat receipt body, which the store keeps verbatim.
    items = ",".join(['{"key":"input_tokens","unit":"usd_per_1m_tokens","quantity":29,"amount_wei":"8"}'] * 4)
    body = f'{{"payment_intent_id":"{hold_id}","action":"POST /v1/chat/completions","line_items":[{items}]}}'
    return ReceiptRow(
        receipt_id="rct_" + secrets.token_hex(16),
        payer=WALLET,
        network=NETWORK,
        payment_method="compose_key",
        key_id=key_id,
        final_amount=CHARGE,
        provider_amount=CHARGE - 10,
        platform_fee=10,
        body_json=body,
        created_at=now_ms,
    )


async def one_round(store: Store, stats: dict[str, Samples], n: int) -> None:
    """One paid call that settles, and one that is released, operation by operation."""
    call_started = time.perf_counter_ns()
    key = await timed(stats["get_key"], lambda: store.get_key(KEY_ID))
    assert key is not None
    outcome = await timed(stats["hold"], lambda: store.hold(KEY_ID, HOLD, 1, f"req_{n}", _now_ms()))
    assert outcome.hold is not None
    hold_id = outcome.hold.hold_id
    settled = await timed(stats["settle"], lambda: store.settle_hold(hold_id, CHARGE, _now_ms()))
    assert settled.status == "settled", settled.status
    await timed(stats["receipt"], lambda: store.insert_receipt(_receipt(KEY_ID, hold_id, _now_ms())))
    stats["paid call"].times_ns.append(time.perf_counter_ns() - call_started)
    for name in ("statements", "transactions", "hops"):
        parts = (getattr(stats[op], name)[-1] for op in ("get_key", "hold", "settle", "receipt"))
        getattr(stats["paid call"], name).append(sum(parts))

    failed = await store.hold(KEY_ID, HOLD, 1, f"req_{n}_failed", _now_ms())
    assert failed.hold is not None
    failed_id = failed.hold.hold_id
    assert await timed(stats["release"], lambda: store.release_hold(failed_id))


@asynccontextmanager
async def sqlite_store() -> AsyncIterator[Store]:
    with tempfile.TemporaryDirectory(prefix="store-ops-") as tmp:
        store = await Store.open(f"sqlite:///{Path(tmp) / 'gateway.db'}")
        try:
            yield store
        finally:
            await store.close()


@asynccontextmanager
async def postgres_store(url: str) -> AsyncIterator[Store]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = "bench_" + secrets.token_hex(6)
    store = await Store.open(url, schema=schema)
    try:
        yield store
    finally:
        await store.close()
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


async def run_backend(store: Store, iterations: int, warmup: int) -> dict[str, Samples]:
    now = _now_ms()
    await store.create_key(
        KeyRecord(
            key_id=KEY_ID,
            user_address=WALLET,
            purpose="api",
            budget_limit=BUDGET,
            budget_used=0,
            budget_reserved=0,
            created_at=now,
            expires_at=now + 86_400_000,
            chain_id=31337,
        )
    )
    scratch = {op: Samples() for op in OPS}
    for n in range(warmup):
        await one_round(store, scratch, -n - 1)
    stats = {op: Samples() for op in OPS}
    for n in range(iterations):
        await one_round(store, stats, n)
    return stats


def _percentile(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(fraction * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1e6


def _per_call(values: list[int]) -> str:
    low, high = min(values), max(values)
    mean = statistics.fmean(values)
    return f"{mean:.1f}" if low == high else f"{mean:.1f} ({low}-{high})"


def report(backend: str, stats: dict[str, Samples]) -> list[str]:
    lines = []
    for op in OPS:
        samples = stats[op]
        ordered = sorted(samples.times_ns)
        hops = _per_call(samples.hops) if backend == "sqlite" else "-"
        lines.append(
            f"| {backend} | {op} | {statistics.fmean(ordered) / 1e6:.3f} | {_percentile(ordered, 0.5):.3f} "
            f"| {_percentile(ordered, 0.99):.3f} | {_per_call(samples.statements)} "
            f"| {_per_call(samples.transactions)} | {hops} |"
        )
    return lines


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="measured rounds (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="unreported rounds first (default 50)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)

    header = [
        f"store_ops: {args.iterations} rounds after {args.warmup} warm-up, c=1, Python {sys.version.split()[0]}",
        "",
        "| backend | op | mean ms | p50 ms | p99 ms | stmts/op | txns/op | hops/op |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(header), flush=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with instrumented():
        for backend in backends:
            opened = sqlite_store() if backend == "sqlite" else postgres_store(args.postgres_url)
            async with opened as store:
                stats = await run_backend(store, args.iterations, args.warmup)
            print("\n".join(report(backend, stats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

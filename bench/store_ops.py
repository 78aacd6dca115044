"""The store's cost on a paid call: each hot-path operation timed alone, on SQLite and PostgreSQL.

    python bench/store_ops.py [--iterations N] [--warmup W] [--backend sqlite|postgresql|both]
                              [--postgres-url URL] [--throughput [--concurrency C] [--seconds S]]

Opens a :class:`~gateway_core.store.Store` the way ``gateway serve`` does (``Store.open(url)``,
migrations applied, default engine settings) on

* SQLite: a fresh file in a temp dir, removed afterwards;
* PostgreSQL: a fresh schema ``bench_<hex>`` in the database of ``--postgres-url`` (default
  ``GATEWAY_TEST_POSTGRES_URL``, else the local CI server), dropped afterwards.

Then, for each of ``--iterations`` rounds (after ``--warmup`` unreported ones), sequentially
(c=1), it does the store work of two successful Compose Key calls, one per settlement mode
(``ledger``: the budget is the payment; ``sandbox``: the charge also moves on the sandbox
ledger in the settle transaction, the default of ``gateway serve``), and of one call that fails
and releases its hold:

    get_key → hold → settle → receipt write        (each mode)
    hold → release

The paid calls do what the payments layer does: the hold reads the key itself (token
validation does not read it first; ``get_key`` is timed on its own row, outside the paid-call
sums), and the settlement stores the receipt in its own transaction
(``settle_hold(..., receipt=...)``); a bare ``insert_receipt`` (what x402 payments still do) is
then timed separately. Each operation is timed
with ``perf_counter_ns`` around the awaited call, so the numbers include everything the caller
pays: SQLAlchemy or the driver, the thread hop or socket, the pool.

Columns: mean / p50 / p99 in milliseconds, and per operation

* ``SA stmts``: statements SQLAlchemy sent (its ``before_cursor_execute`` event; on SQLite
  this includes the ``BEGIN IMMEDIATE`` the store issues through it);
* ``DB stmts``: statements the database received, however sent — on SQLite every statement
  the library started (a trace callback on each connection: ``BEGIN``, ``COMMIT`` included);
  on PostgreSQL SQLAlchemy's plus asyncpg's own (its query logger: ``BEGIN``, ``COMMIT``,
  the pool's pre-ping, statements sent without SQLAlchemy). On PostgreSQL each is a round trip;
* ``hops`` (SQLite only): switches into a database thread — aiosqlite's worker calls (every
  cursor creation, execute, fetch, close and commit is one) plus jobs submitted to thread pools.

The ``paid call`` rows are one call's store work: per call, the sums of its operations' times
and counts (their percentiles are over those sums).

``--throughput`` adds paid calls per second (the same store work, in each settlement mode) from
1 and then 2 OS processes sharing one fresh database, ``--concurrency`` calls in flight in each,
every call on a key and wallet of its own, for ``--seconds``: whether a second worker process
adds throughput or waits on the first. (SQLite serializes writers; on PostgreSQL a ledger-mode
call locks only its hold, its key and its payer's receipt totals, while sandbox collection
also credits the one merchant account, which every collection locks until it commits.)
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import inspect
import multiprocessing
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
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

from gateway_core.store import HoldOutcome, KeyRecord, LedgerTransfer, ReceiptRow, Store  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
WALLET = "0x2222222222222222222222222222222222222222"
MERCHANT = "0x3333333333333333333333333333333333333333"
NETWORK = "eip155:31337"
ASSET = "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
KEY_ID = "0b5e0c1e-0000-4000-8000-000000000001"
BUDGET = 10**15  # never runs out, whatever --iterations says
HOLD = 5_000
CHARGE = 3_210
OPS = (
    "get_key",
    "hold",
    "settle (ledger)",
    "settle (sandbox)",
    "release",
    "receipt",
    "paid call (ledger)",
    "paid call (sandbox)",
)
_T = TypeVar("_T")


@dataclass
class Counters:
    """What the database layer did, bumped by the hooks of :func:`instrumented`."""

    sa_statements: int = 0
    db_statements: int = 0
    hops: int = 0

    def snapshot(self) -> tuple[int, int, int]:
        return self.sa_statements, self.db_statements, self.hops


@dataclass
class Samples:
    """Timings (ns) and per-call counts of one operation."""

    times_ns: list[int] = field(default_factory=list)
    counts: list[tuple[int, int, int]] = field(default_factory=list)


COUNTERS = Counters()


def _on_sa_statement(*_args: Any) -> None:
    COUNTERS.sa_statements += 1
    if _postgresql:
        COUNTERS.db_statements += 1  # asyncpg's logger does not see SQLAlchemy's prepared statements


def _on_db_statement(*_args: Any) -> None:
    COUNTERS.db_statements += 1


_postgresql = False


@contextmanager
def instrumented() -> Iterator[None]:
    """Count statements and thread hops of every engine and connection opened meanwhile."""
    # Class-level listeners reach the store's engine without touching its internals.
    event.listen(Engine, "before_cursor_execute", _on_sa_statement)
    aiosqlite_execute = aiosqlite.core.Connection._execute
    submit = concurrent.futures.ThreadPoolExecutor.submit
    sqlite_connect = sqlite3.connect
    pg_connect = asyncpg.connect

    async def counting_execute(self: aiosqlite.core.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTERS.hops += 1
        return await aiosqlite_execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def counting_submit(self: concurrent.futures.ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        COUNTERS.hops += 1
        return submit(self, fn, *args, **kwargs)

    def tracing_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # Called in the thread that will use the connection (aiosqlite's worker, or a pool's).
        connection: sqlite3.Connection = sqlite_connect(*args, **kwargs)
        connection.set_trace_callback(_on_db_statement)
        return connection

    async def logging_connect(*args: Any, **kwargs: Any) -> Any:
        connection = await pg_connect(*args, **kwargs)
        connection.add_query_logger(_on_db_statement)
        return connection

    aiosqlite.core.Connection._execute = counting_execute  # type: ignore[method-assign]
    concurrent.futures.ThreadPoolExecutor.submit = counting_submit  # type: ignore[method-assign,assignment]
    sqlite3.connect = tracing_connect  # type: ignore[assignment]
    asyncpg.connect = logging_connect
    try:
        yield
    finally:
        asyncpg.connect = pg_connect
        sqlite3.connect = sqlite_connect
        concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
        aiosqlite.core.Connection._execute = aiosqlite_execute  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", _on_sa_statement)


async def timed(samples: Samples, call: Callable[[], Awaitable[_T]]) -> _T:
    # asyncpg hands logged queries to its loggers with call_soon: let earlier ones land first,
    # and this operation's before counting (neither inside the timed span).
    await asyncio.sleep(0)
    before = COUNTERS.snapshot()
    started = time.perf_counter_ns()
    result = await call()
    samples.times_ns.append(time.perf_counter_ns() - started)
    await asyncio.sleep(0)
    after = COUNTERS.snapshot()
    samples.counts.append((after[0] - before[0], after[1] - before[1], after[2] - before[2]))
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


def _combined(store: Store) -> bool:
    """Whether the store settles and writes the receipt in one operation (``receipt=``)."""
    return "receipt" in inspect.signature(store.settle_hold).parameters


def _hold_for(store: Store, key_id: str, request_id: str) -> Awaitable[HoldOutcome]:
    """A hold as the payments layer asks for it: by key id, the store reads the key."""
    return store.hold(key_id, HOLD, 1, request_id, _now_ms())


async def paid_call(store: Store, stats: dict[str, Samples], n: int, *, sandbox: bool) -> None:
    """One successful Compose Key call's store work, operation by operation, as the payments
    layer does it (``hold`` → settle → receipt); ``get_key`` is timed beside it."""
    mode = "sandbox" if sandbox else "ledger"
    key = await timed(stats["get_key"], lambda: store.get_key(KEY_ID))
    assert key is not None
    outcome = await timed(stats["hold"], lambda: _hold_for(store, KEY_ID, f"req_{n}_{mode}"))
    assert outcome.hold is not None
    hold_id = outcome.hold.hold_id
    transfer = LedgerTransfer(NETWORK, ASSET, WALLET, MERCHANT, CHARGE, allowance="spender") if sandbox else None
    row = _receipt(KEY_ID, hold_id, _now_ms())
    parts = ["hold", f"settle ({mode})"]
    settle: Callable[[], Awaitable[Any]]
    if _combined(store):
        settle = lambda: store.settle_hold(hold_id, CHARGE, _now_ms(), transfer, receipt=row)  # noqa: E731
    else:
        settle = lambda: store.settle_hold(hold_id, CHARGE, _now_ms(), transfer)  # noqa: E731
    settled = await timed(stats[f"settle ({mode})"], settle)
    assert settled.status == "settled", settled.status
    if _combined(store):
        assert settled.cumulative is not None
    else:
        await timed(stats["receipt"], lambda: store.insert_receipt(row))
        parts.append("receipt")
    total = stats[f"paid call ({mode})"]
    total.times_ns.append(sum(stats[op].times_ns[-1] for op in parts))
    sums = [sum(stats[op].counts[-1][i] for op in parts) for i in range(3)]
    total.counts.append((sums[0], sums[1], sums[2]))


async def one_round(store: Store, stats: dict[str, Samples], n: int) -> None:
    """A paid call in each settlement mode, a call that is released, and a bare receipt write."""
    await paid_call(store, stats, n, sandbox=False)
    await paid_call(store, stats, n, sandbox=True)
    failed = await store.hold(KEY_ID, HOLD, 1, f"req_{n}_failed", _now_ms())
    assert failed.hold is not None
    failed_id = failed.hold.hold_id
    assert await timed(stats["release"], lambda: store.release_hold(failed_id))
    if _combined(store):  # x402 payments still write receipts on their own
        await timed(stats["receipt"], lambda: store.insert_receipt(_receipt(KEY_ID, failed_id, _now_ms())))


@asynccontextmanager
async def _shared_database(backend: str, postgres_url: str) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh database for processes to share: (URL, PostgreSQL schema), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="store-ops-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'gateway.db'}", None
        return
    schema = "bench_" + secrets.token_hex(6)
    try:
        yield postgres_url, schema
    finally:
        dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()


@asynccontextmanager
async def opened_store(backend: str, postgres_url: str) -> AsyncIterator[Store]:
    async with _shared_database(backend, postgres_url) as (url, schema):
        store = await Store.open(url, schema=schema)
        try:
            yield store
        finally:
            await store.close()


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
    # Sandbox collection moves each charge from the key's wallet to the merchant on the ledger.
    await store.ledger_fund(NETWORK, ASSET, WALLET, BUDGET, approve_permit2=False, approve_spender=True)
    scratch = {op: Samples() for op in OPS}
    for n in range(warmup):
        await one_round(store, scratch, -n - 1)
    stats = {op: Samples() for op in OPS}
    for n in range(iterations):
        await one_round(store, stats, n)
    return stats


# -- throughput: paid calls per second from 1 and 2 processes sharing the store -----------


def _key_record(key_id: str, wallet: str) -> KeyRecord:
    now = _now_ms()
    return KeyRecord(
        key_id=key_id,
        user_address=wallet,
        purpose="api",
        budget_limit=BUDGET,
        budget_used=0,
        budget_reserved=0,
        created_at=now,
        expires_at=now + 86_400_000,
        chain_id=31337,
    )


async def _calls_until(store: Store, key_id: str, wallet: str, deadline: float, sandbox: bool) -> int:
    """Paid calls on one key, back to back, until ``deadline``."""
    calls = 0
    while time.monotonic() < deadline:
        outcome = await _hold_for(store, key_id, f"req_{calls}")
        assert outcome.hold is not None
        transfer = LedgerTransfer(NETWORK, ASSET, wallet, MERCHANT, CHARGE, allowance="spender") if sandbox else None
        row = _receipt(key_id, outcome.hold.hold_id, _now_ms())
        if _combined(store):
            settled = await store.settle_hold(outcome.hold.hold_id, CHARGE, _now_ms(), transfer, receipt=row)
        else:
            settled = await store.settle_hold(outcome.hold.hold_id, CHARGE, _now_ms(), transfer)
            await store.insert_receipt(row)
        assert settled.status == "settled"
        calls += 1
    return calls


async def _worker(url: str, schema: str | None, keys: list[tuple[str, str]], seconds: float, sandbox: bool) -> int:
    store = await Store.open(url, migrate=False, schema=schema)
    try:
        await store.ping()
        deadline = time.monotonic() + seconds
        return sum(await asyncio.gather(*(_calls_until(store, k, w, deadline, sandbox) for k, w in keys)))
    finally:
        await store.close()


def _worker_process(
    url: str, schema: str | None, keys: list[tuple[str, str]], seconds: float, sandbox: bool, start: Any
) -> int:
    start.wait()
    return asyncio.run(_worker(url, schema, keys, seconds, sandbox))


async def throughput(
    url: str, schema: str | None, processes: int, concurrency: int, seconds: float, *, sandbox: bool
) -> float:
    """Paid calls per second from ``processes`` OS processes with ``concurrency`` calls each in
    flight, every call on a key (and wallet) of its own."""
    setup = await Store.open(url, schema=schema)
    try:
        groups: list[list[tuple[str, str]]] = []
        for _ in range(processes):
            group = []
            for _ in range(concurrency):
                key_id, wallet = str(uuid.uuid4()), "0x" + secrets.token_hex(20)
                await setup.create_key(_key_record(key_id, wallet))
                await setup.ledger_fund(NETWORK, ASSET, wallet, BUDGET, approve_permit2=False, approve_spender=True)
                group.append((key_id, wallet))
            groups.append(group)
    finally:
        await setup.close()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        start = manager.Event()
        futures = [pool.submit(_worker_process, url, schema, group, seconds, sandbox, start) for group in groups]
        await asyncio.sleep(1.0)  # let every process import and connect before the clock starts
        start.set()
        total = sum(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
    return total / seconds


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
        columns = [_per_call([c[i] for c in samples.counts]) for i in range(3)]
        if backend != "sqlite":
            columns[2] = "-"
        lines.append(
            f"| {backend} | {op} | {statistics.fmean(ordered) / 1e6:.3f} | {_percentile(ordered, 0.5):.3f} "
            f"| {_percentile(ordered, 0.99):.3f} | {' | '.join(columns)} |"
        )
    return lines


async def main(argv: list[str] | None = None) -> int:
    global _postgresql
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="measured rounds (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="unreported rounds first (default 50)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--throughput", action="store_true", help="also paid calls/s from 1 and 2 processes sharing the store"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight per process (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run (default 5)")
    args = parser.parse_args(argv)

    header = [
        f"store_ops: {args.iterations} rounds after {args.warmup} warm-up, c=1, Python {sys.version.split()[0]}",
        "",
        "| backend | op | mean ms | p50 ms | p99 ms | SA stmts/op | DB stmts/op | hops/op |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(header), flush=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with instrumented():
        for backend in backends:
            _postgresql = backend == "postgresql"
            async with opened_store(backend, args.postgres_url) as store:
                stats = await run_backend(store, args.iterations, args.warmup)
            print("\n".join(report(backend, stats)), flush=True)
    if args.throughput:
        print(
            f"\nthroughput: paid calls, {args.concurrency} in flight per process, {args.seconds:g} s each\n\n"
            "| backend | settlement | processes | paid calls/s |\n|---|---|---:|---:|",
            flush=True,
        )
        for backend in backends:
            for mode in ("ledger", "sandbox"):
                for processes in (1, 2):
                    async with _shared_database(backend, args.postgres_url) as (url, schema):
                        rate = await throughput(
                            url, schema, processes, args.concurrency, args.seconds, sandbox=mode == "sandbox"
                        )
                    print(f"| {backend} | {mode} | {processes} | {rate:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Statements run straight on the driver (gateway_core.store.direct): what Prepared accepts,
what a SQLite job refuses, and PostgreSQL connections that die or are abandoned mid-statement."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Boolean, Integer, Select, String, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite
from sqlalchemy.engine import Dialect
from store_helpers import NOW, POSTGRES_URL, make_key, postgres_dsn, sqlite_statements

from gateway_core.shield import _Continue
from gateway_core.store import DuplicateRecord, Store, database, direct
from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Tx
from gateway_core.store.schema import Uint256, compose_keys, ledger_accounts, response_records

pytestmark = pytest.mark.anyio

DIALECTS = [pytest.param(pg_asyncpg.dialect(), id="postgresql"), pytest.param(aiosqlite.dialect(), id="sqlite")]
_PID = Prepared(select(func.pg_backend_pid(type_=Integer).label("pid")))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(select(response_records.c.background), id="boolean-result"),
        pytest.param(select(literal(1, Integer)).where(bindparam("flag", type_=Boolean)), id="boolean-parameter"),
        pytest.param(select(compose_keys.c.key_id).where(compose_keys.c.purpose.in_(["api", "session"])), id="in-list"),
        pytest.param(select(compose_keys.c.key_id, compose_keys.c.key_id.label("key_id")), id="duplicate-names"),
    ],
)
def test_prepared_refuses_what_it_cannot_compile_once(statement: object, dialect: object) -> None:
    with pytest.raises(TypeError):
        Prepared(statement).compiled(dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_prepared_binds_by_name_in_the_driver_order(dialect: object) -> None:
    statement = Prepared(
        select(compose_keys.c.key_id).where(
            compose_keys.c.user_address == bindparam("wallet", type_=String),
            compose_keys.c.purpose == "api",
            compose_keys.c.expires_at > bindparam("now", type_=Integer),
            compose_keys.c.created_at <= bindparam("now", type_=Integer),
        )
    )
    compiled = statement.compiled(dialect)  # type: ignore[arg-type]
    assert compiled is statement.compiled(dialect)  # type: ignore[arg-type]
    args = compiled.args({"now": 5, "wallet": "0xab", "unused": 1})
    # The literal keeps its value; "now" appears once per placeholder (twice with "?").
    assert [a for a in args if a != 5] == ["0xab", "api"] and args.count(5) in (1, 2)


_BIG = 2**200 + 1  # a Uint256 value: text on SQLite, Decimal for asyncpg


_ADDRESS = select(ledger_accounts.c.address)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("statement", "params", "args"),
    [
        pytest.param(_ADDRESS, {}, [], id="no-parameters"),
        pytest.param(
            _ADDRESS.where(ledger_accounts.c.balance == bindparam("balance", type_=Uint256)),
            {"balance": _BIG},
            [_BIG],
            id="one-converted",
        ),
        pytest.param(
            _ADDRESS.where(
                ledger_accounts.c.balance == bindparam("balance", type_=Uint256),
                ledger_accounts.c.address == bindparam("address", type_=String),
                ledger_accounts.c.network == "net",
                ledger_accounts.c.spender_allowance == bindparam("allowance", type_=Uint256),
            ),
            {"balance": _BIG, "address": "0xab", "allowance": None},
            [_BIG, "0xab", "net", None],
            id="several-a-literal-and-null",
        ),
    ],
)
def test_prepared_picks_and_converts_parameters_in_order(
    dialect: Dialect, statement: Select[Any], params: dict[str, object], args: list[object]
) -> None:
    compiled = Prepared(statement).compiled(dialect)
    driver = [Uint256().process_bind_param(v, dialect) if isinstance(v, int) else v for v in args]
    # Types too: a Decimal equals the int it was made from.
    assert [(type(v), v) for v in compiled.args(params)] == [(type(v), v) for v in driver]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_prepared_converts_result_columns_that_need_it(dialect: Dialect) -> None:
    compiled = Prepared(select(ledger_accounts.c.address, ledger_accounts.c.balance)).compiled(dialect)
    stored = Uint256().process_bind_param(_BIG, dialect)
    assert compiled.row(("0xab", stored)) == {"address": "0xab", "balance": _BIG}
    assert compiled.row(("0xab", None)) == {"address": "0xab", "balance": None}
    with pytest.raises(ValueError):
        compiled.row(("0xab",))  # a row of another statement


async def test_a_sqlite_operation_may_await_only_its_statements(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/gateway.db")
    try:

        async def sleeps(tx: Tx) -> None:
            await asyncio.sleep(0)

        with pytest.raises(RuntimeError, match="awaited something other than its statements"):
            await db.run(sleeps, write=True)
        # The job rolled back and let go of the write lock: the next writer is not stuck.
        assert await db.one(Prepared(select(literal(1, Integer).label("one"))), {}, write=True) == {"one": 1}
    finally:
        await db.dispose()


@pytest.fixture
async def postgres_db(postgres: tuple[str, Callable[[], None]]) -> AsyncIterator[Database]:
    """A Database on the session's PostgreSQL schema (the tests here only use its connections)."""
    schema, _wipe = postgres
    db = Database(POSTGRES_URL, schema=schema)
    yield db
    await db.dispose()


async def _terminate(pid: int) -> None:
    # Only the backend this test opened: other suites may share the server.
    connection = await asyncpg.connect(postgres_dsn(), timeout=10)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def test_a_connection_the_server_closed_is_replaced_at_checkout(postgres_db: Database) -> None:
    first = await postgres_db.one(_PID, {}, write=False)
    assert first is not None
    await _terminate(first["pid"])
    await asyncio.sleep(0.2)  # the client reads the server's goodbye
    second = await postgres_db.one(_PID, {}, write=False)
    assert second is not None and second["pid"] != first["pid"]


async def test_an_abandoned_statement_does_not_reach_the_next_caller(postgres_db: Database) -> None:
    first = await postgres_db.one(_PID, {}, write=False)
    assert first is not None
    slow = Prepared(select(literal(1, Integer).label("one")).select_from(func.pg_sleep(5)))
    task = asyncio.create_task(postgres_db.one(slow, {}, write=False))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = asyncio.get_running_loop().time()
    after = await postgres_db.one(_PID, {}, write=False)
    assert asyncio.get_running_loop().time() - started < 2  # not queued behind the sleep
    assert after is not None and after["pid"] != first["pid"]


async def test_an_idle_connection_is_pinged_before_reuse(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    monkeypatch.setattr(database, "_PING_IDLE_S", 0.0)
    first = await postgres_db.one(_PID, {}, write=False)
    real_ping = pg_asyncpg.AsyncAdapt_asyncpg_connection.ping

    def counting(self: object) -> None:
        pings.append(self)
        real_ping(self)  # type: ignore[arg-type]

    monkeypatch.setattr(pg_asyncpg.AsyncAdapt_asyncpg_connection, "ping", counting)
    second = await postgres_db.one(_PID, {}, write=False)
    assert len(pings) == 1  # answered, so the same connection is used
    assert first is not None and second is not None and second["pid"] == first["pid"]


async def test_sqlite_checkpoints_run_as_jobs_of_their_own_while_writers_wait(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every _CHECKPOINT_EVERY writes a checkpoint runs on a pool thread, not inside a commit,
    with this process's writers held off for it (so it copies everything and the WAL starts
    over); a write arriving meanwhile waits for it and then succeeds."""
    monkeypatch.setattr(direct, "_CHECKPOINT_EVERY", 3)
    held_during: list[bool] = []
    real_checkpoint = direct.SqliteRunner._checkpoint

    def observed(self: direct.SqliteRunner) -> None:
        held_during.append(self._writers.locked())
        time.sleep(0.02)  # a slow sync: the write below arrives during it
        real_checkpoint(self)

    monkeypatch.setattr(direct.SqliteRunner, "_checkpoint", observed)
    db = Database(f"sqlite:///{tmp_path}/gateway.db")
    write = Prepared(select(literal(1, Integer).label("one")))
    try:
        for _ in range(3):
            await db.one(write, {}, write=True)
        await asyncio.sleep(0.005)  # the checkpoint has started and holds the writers
        runner = db._direct
        assert isinstance(runner, direct.SqliteRunner)
        assert runner._writers.locked()
        started = time.monotonic()
        assert await db.one(write, {}, write=True) == {"one": 1}
        assert time.monotonic() - started >= 0.01  # it waited for the checkpoint
        for _ in range(3):
            await db.one(write, {}, write=True)
            await asyncio.sleep(0.01)
    finally:
        await db.dispose()  # waits for the checkpoint jobs
    assert held_during == [True, True]


async def test_sqlite_wal_stays_bounded_under_steady_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints copy everything, so the WAL is reused rather than growing with every write
    (without that it grew by gigabytes under load)."""
    monkeypatch.setattr(direct, "_CHECKPOINT_EVERY", 20)
    store = await Store.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    wal = tmp_path / "gateway.db-wal"
    try:
        for n in range(6000):
            await store.get_or_create_secret(f"secret-{n}", "x" * 3000)  # about a page each
            await asyncio.sleep(0)
        # 6000 pages' worth were written through it; between restarts it holds one interval's
        # writes (20 transactions of a few pages): bounded, not growing with the writes.
        assert wal.stat().st_size < 200 * 4096
    finally:
        await store.close()


async def test_sqlite_wal_stays_bounded_while_another_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker writing all the time (a connection of its own, as another process has)
    does not keep the WAL from starting over: a checkpoint holds its writers off too. With
    checkpoints that copied beside them, it never restarted and grew with every write."""
    monkeypatch.setattr(direct, "_CHECKPOINT_EVERY", 20)
    store = await Store.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    wal = tmp_path / "gateway.db-wal"
    stop = threading.Event()

    def other_worker() -> None:
        other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None, timeout=15)
        other.execute("CREATE TABLE IF NOT EXISTS other_worker (n INTEGER PRIMARY KEY, v TEXT)")
        while not stop.is_set():
            other.execute("INSERT INTO other_worker (v) VALUES (?)", ("y" * 3000,))  # about a page
            time.sleep(0.0005)
        other.close()

    writer = threading.Thread(target=other_worker)
    writer.start()
    try:
        for n in range(4000):
            await store.get_or_create_secret(f"secret-{n}", "x" * 3000)
            await asyncio.sleep(0)
    finally:
        stop.set()
        writer.join()
        size = wal.stat().st_size
        await store.close()
    # Between restarts: one interval of this worker's writes and the other's meanwhile (seen:
    # 0.47-0.52 MB; with checkpoints beside the other's writers, 1.8-5.2 MB over 2000 writes
    # and growing with them). The other writer pauses between rows so that it cannot fill a
    # whole interval by itself while this thread waits for the GIL (unpaused: up to 46 MB).
    assert size < 2 * 1024 * 1024


async def test_sqlite_checkpoint_waits_briefly_for_a_reader_that_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that keeps an old snapshot open keeps RESTART waiting; writers wait behind the
    checkpoint, so it gives up after _CHECKPOINT_WAIT_MS (not the store's 15 s busy timeout)
    and the writes go on."""
    monkeypatch.setattr(direct, "_CHECKPOINT_EVERY", 2)
    monkeypatch.setattr(direct, "_CHECKPOINT_WAIT_MS", 100)
    path = tmp_path / "gateway.db"
    store = await Store.open(f"sqlite:///{path}")
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        await store.get_or_create_secret("first", "x")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchall()  # holds its snapshot
        await store.get_or_create_secret("second", "x")  # the second write: a checkpoint starts
        started = time.monotonic()
        await asyncio.sleep(0.01)  # it holds the writers, waiting for the reader
        assert await store.get_or_create_secret("third", "x") == "x"  # waited, then wrote
        assert 0.1 <= time.monotonic() - started < 2.0
        reader.execute("COMMIT")
    finally:
        reader.close()
        await store.close()


async def test_sqlite_lock_held_briefly_by_another_process_is_retried_inline(tmp_path: object) -> None:
    """A write lock another process holds for a moment (a transaction of its own) is waited
    for on the next turns of the loop, without the pool: SQLite's busy handler would sleep in
    steps of milliseconds."""
    path = f"{tmp_path}/gateway.db"
    db = Database(f"sqlite:///{path}")
    write = Prepared(select(literal(1, Integer).label("one")))
    try:
        assert await db.one(write, {}, write=True) == {"one": 1}
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.005, other.execute, "COMMIT")
        started = time.monotonic()
        assert await db.one(write, {}, write=True) == {"one": 1}
        assert time.monotonic() - started >= 0.004  # it did wait for the other's commit
        other.close()
        runner = db._direct
        assert isinstance(runner, direct.SqliteRunner)
        assert runner._executor is None  # and never needed a pool thread
    finally:
        await db.dispose()


async def test_sqlite_runs_inline_and_waits_for_another_process_lock_off_the_loop(tmp_path: object) -> None:
    """Operations run on the loop's thread; when another connection (another process, in
    production) holds the write lock, the write waits for it on a pool thread while the event
    loop keeps running, then succeeds."""
    path = f"{tmp_path}/gateway.db"
    db = Database(f"sqlite:///{path}")
    write = Prepared(select(literal(1, Integer).label("one")))
    try:
        assert await db.one(write, {}, write=True) == {"one": 1}
        runner = db._direct
        assert isinstance(runner, direct.SqliteRunner)
        assert runner._executor is None

        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        waiting = asyncio.create_task(db.one(write, {}, write=True))
        await asyncio.sleep(0.3)
        assert not waiting.done() and ticks >= 10  # the loop was never blocked by the lock
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(waiting, 10) == {"one": 1}
        ticker.cancel()
        assert runner._executor is not None
    finally:
        await db.dispose()


async def test_sqlite_write_runs_at_once_while_others_wait_for_the_lock_to_pass(tmp_path: object) -> None:
    """A write that finds the writers' lock free runs inline without queueing, even while
    writers woken from the lock's queue have not run yet (asyncio's lock is fair: queueing
    behind them cost every write under load a future and loop turns, and the queue never
    drained). Writers that did queue still run, each in its own transaction."""
    path = f"{tmp_path}/gateway.db"
    db = Database(f"sqlite:///{path}")
    one = Prepared(select(literal(1, Integer).label("n")))
    try:
        await db.one(one, {}, write=False)
        runner = db._direct
        assert isinstance(runner, direct.SqliteRunner)
        lock = runner._writers

        async def write_one(tx: Tx) -> int:
            row = await tx.one(one)
            assert row is not None
            return int(row["n"])

        await lock.acquire()  # what a checkpoint, or a contended write, holds
        queued = [asyncio.create_task(runner.run(write_one, write=True)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(task.done() for task in queued)  # they wait for the lock
        lock.release()  # the first waiter is woken, but has not run yet
        arriving = runner.run(write_one, write=True)
        try:
            waited_on = arriving.send(None)
        except StopIteration as finished:
            suspended, result = False, finished.value
        else:  # finished properly (as a task would) before failing the test
            suspended, result = True, await _Continue(arriving, waited_on)
        assert await asyncio.wait_for(asyncio.gather(*queued), 5) == [1, 1, 1]
        assert (suspended, result) == (False, 1), "the write queued behind the woken writers"
        assert not lock.locked()
    finally:
        await db.dispose()


# -- writes queued behind the writers' lock run in batches -----------------------------------


async def _sqlite_store(tmp_path: Path) -> tuple[Store, direct.SqliteRunner]:
    store = await Store.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    runner = store._db._direct
    assert isinstance(runner, direct.SqliteRunner)
    return store, runner


async def test_writes_queued_behind_the_writers_lock_commit_together(tmp_path: Path) -> None:
    """While the writers' lock is held (a checkpoint, another process's lock), writes queue;
    then one transaction runs them all, each in a savepoint, each caller getting its own
    result, and the budget sums as if they had run one by one."""
    store, runner = await _sqlite_store(tmp_path)
    try:
        await store.create_key(make_key("k1", limit=10_000))
        with sqlite_statements(store) as seen:
            async with runner._writers:
                holds = [asyncio.create_task(store.hold("k1", 100, 1, f"r{n}", NOW)) for n in range(5)]
                await asyncio.sleep(0.01)
                assert not any(hold.done() for hold in holds)  # queued
            outcomes = await asyncio.gather(*holds)
        assert [outcome.hold is not None for outcome in outcomes] == [True] * 5
        assert len({outcome.hold.hold_id for outcome in outcomes if outcome.hold is not None}) == 5
        assert (seen.count("BEGIN"), seen.count("COMMIT"), seen.count("SAVEPOINT")) == (1, 1, 5)
        key = await store.get_key("k1")
        assert key is not None and key.budget_reserved == 500
    finally:
        await store.close()


async def test_writes_of_one_loop_pass_share_a_commit(tmp_path: Path) -> None:
    """Calls whose writes come in the same pass of the event loop (as under load): the first
    commits at once, the others queue and commit together in the next pass; the budget sums
    as if each had run alone."""
    store, _runner = await _sqlite_store(tmp_path)
    try:
        await store.create_key(make_key("k1", limit=10_000))
        with sqlite_statements(store) as seen:
            # Tasks started together take their first step in the same pass.
            outcomes = await asyncio.gather(*(store.hold("k1", 100, 1, f"r{n}", NOW) for n in range(5)))
        assert all(outcome.hold is not None for outcome in outcomes)
        assert (seen.count("BEGIN"), seen.count("COMMIT"), seen.count("SAVEPOINT")) == (2, 2, 4)
        key = await store.get_key("k1")
        assert key is not None and key.budget_reserved == 500
    finally:
        await store.close()


async def test_a_long_queue_commits_in_bounded_batches_with_the_loop_running_between(tmp_path: Path) -> None:
    """A burst queues more writes than one transaction takes (:data:`direct._BATCH_MAX`): they
    commit in several, and the event loop runs its other callbacks (the streams it serves)
    between two, instead of being held for the whole queue."""
    store, runner = await _sqlite_store(tmp_path)
    count = direct._BATCH_MAX + 10
    try:
        await store.create_key(make_key("k1", limit=10**9))
        with sqlite_statements(store) as seen:
            ticking = True

            async def other_callbacks() -> None:
                while ticking:
                    seen.append("tick")
                    await asyncio.sleep(0)

            async with runner._writers:
                holds = [asyncio.create_task(store.hold("k1", 100, 1, f"r{n}", NOW)) for n in range(count)]
                await asyncio.sleep(0.01)
                ticker = asyncio.create_task(other_callbacks())
                await asyncio.sleep(0)
                del seen[:]
            outcomes = await asyncio.gather(*holds)
            ticking = False
            await ticker
        assert all(outcome.hold is not None for outcome in outcomes)
        assert (seen.count("BEGIN"), seen.count("COMMIT"), seen.count("SAVEPOINT")) == (2, 2, count)
        order = [word for word in seen if word in ("BEGIN", "COMMIT", "tick")]
        between = order[order.index("COMMIT") : len(order) - order[::-1].index("BEGIN")]
        assert "tick" in between, "the loop was held from one batch to the next"
        key = await store.get_key("k1")
        assert key is not None and key.budget_reserved == 100 * count
    finally:
        await store.close()


async def test_one_calls_writes_in_a_row_run_at_once(tmp_path: Path) -> None:
    """Writes of one task, one after another without suspending in between, each commit at
    once (inline, not queued): the pass grouping never delays a lone call."""
    store, runner = await _sqlite_store(tmp_path)
    try:
        await store.create_key(make_key("k1", limit=10_000))
        with sqlite_statements(store) as seen:
            for n in range(2):
                arriving = store.hold("k1", 100, 1, f"r{n}", NOW)
                with pytest.raises(StopIteration):  # finished without suspending
                    arriving.send(None)
        assert (seen.count("BEGIN"), seen.count("COMMIT"), seen.count("SAVEPOINT")) == (2, 2, 0)
        assert runner._inline_writer is asyncio.current_task()
        await asyncio.sleep(0)  # the next pass
        assert runner._inline_writer is None
    finally:
        await store.close()


async def test_a_failing_write_of_a_batch_fails_alone(tmp_path: Path) -> None:
    store, runner = await _sqlite_store(tmp_path)
    try:
        await store.create_key(make_key("k1"))
        async with runner._writers:
            writes = [asyncio.create_task(store.create_key(make_key(key_id))) for key_id in ("k2", "k1", "k3")]
            await asyncio.sleep(0.01)
        created, duplicate, also_created = await asyncio.gather(*writes, return_exceptions=True)
        assert created is None and also_created is None
        assert isinstance(duplicate, DuplicateRecord)  # the store's own error, as unbatched
        assert await store.get_key("k2") is not None and await store.get_key("k3") is not None
    finally:
        await store.close()


async def test_a_write_whose_caller_left_while_queued_is_not_run(tmp_path: Path) -> None:
    store, runner = await _sqlite_store(tmp_path)
    try:
        async with runner._writers:
            gone = asyncio.create_task(store.create_key(make_key("gone")))
            kept = asyncio.create_task(store.create_key(make_key("kept")))
            await asyncio.sleep(0.01)
            gone.cancel()
        await kept
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert await store.get_key("gone") is None and await store.get_key("kept") is not None
    finally:
        await store.close()


async def test_queued_writes_fail_together_when_their_transaction_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of a batch is kept when its commit fails: every caller gets the error."""
    store, runner = await _sqlite_store(tmp_path)
    try:
        real_job = direct.SqliteRunner._job

        def failing_commit(self: direct.SqliteRunner, operation: Any, begin: Any, connection: Any = None) -> Any:
            def broken(tx: Tx) -> Any:
                async def run() -> Any:
                    await operation(tx)
                    raise sqlite3.DatabaseError("database disk image is malformed")

                return run()

            return real_job(self, broken, begin, connection)

        async with runner._writers:
            writes = [asyncio.create_task(store.create_key(make_key(key_id))) for key_id in ("k1", "k2")]
            await asyncio.sleep(0.01)
            monkeypatch.setattr(direct.SqliteRunner, "_job", failing_commit)
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        monkeypatch.undo()
        assert [type(outcome).__name__ for outcome in outcomes] == ["StoreUnavailable"] * 2
        assert await store.get_key("k1") is None and await store.get_key("k2") is None
    finally:
        await store.close()

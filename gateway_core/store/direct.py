"""Store operations run straight on the driver: one thread hop (SQLite) or one round trip per
statement (PostgreSQL).

Why not SQLAlchemy's execution path for these: each ``execute`` costs ~0.1 ms of Python, and
through aiosqlite every statement is three or four hops into a worker thread (cursor, execute,
fetch, close) on top of ``BEGIN``, ``COMMIT`` and the pool's reset; on PostgreSQL the pool's
pre-ping adds three round trips per checkout. A paid call's store work cost ~8 ms that way
(``bench/store_ops.py``). Here an operation (:mod:`gateway_core.store.prepared`) runs as:

* SQLite (:class:`SqliteRunner`): the whole transaction — ``BEGIN``, the operation, ``COMMIT``
  — runs at once on the event loop's own thread, on a connection that never waits for a lock
  (``busy_timeout=0``): an operation is a few indexed statements (~0.1 ms), in-process writers
  cannot interleave with one that never suspends (those that must wait queue on the store's
  lock), and in WAL mode a commit does not sync. When another process holds the lock
  (``SQLITE_BUSY``), the operation is rolled back and tried again on the next turns of the
  loop (:data:`_INLINE_RETRIES`); only a lock held longer sends it, as one job, to a small
  thread pool whose connections do wait (the store's busy timeout), so the loop never blocks on
  a lock. Why not always the pool: a thread hop per operation, and the event loop then
  queueing for the GIL behind that thread, capped a paid call's throughput at about 400/s on
  one core (``bench/compare.py``). The methods of ``tx`` finish without suspending,
  so the coroutine is driven to its end in one go (:func:`_run_to_end`). Writes that arrive
  while one waits (or while a checkpoint runs) queue, then run together in one transaction,
  each in a savepoint (:meth:`SqliteRunner._write_queued`): with two workers on one file, each
  worker's writes went from one lock and one commit apiece to one for the whole queue (two
  workers at c=64: ~2000 -> ~2400 paid calls/s, median of 7 runs; one worker ~1550).
  A write arriving in a pass of the event loop in which another call's write already
  committed inline queues the same way (group commit, :meth:`SqliteRunner._write_at_once`):
  at c=64 a paid call's CPU fell ~15-20 % (``bench/profile.py``).
* PostgreSQL (:class:`~gateway_core.store.direct_postgres.PostgresRunner`, in a module of its
  own so that a SQLite deployment never loads asyncpg): asyncpg on a connection from the
  engine's pool, inside an asyncpg transaction; or, for one statement that is atomic by itself
  (a data-modifying CTE), in no explicit transaction at all: one round trip.

Driver errors become the store's own, as in :mod:`gateway_core.store.database`:
:class:`StoreUnavailable` for connection, lock-timeout and I/O failures, :class:`DuplicateRecord`
for unique violations; PostgreSQL deadlocks and serialization failures are retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, NoReturn, TypeVar, cast

from sqlalchemy.engine import Dialect

from gateway_core.store.errors import DuplicateRecord, StoreUnavailable
from gateway_core.store.prepared import Operation, Prepared, Row, Tx

__all__ = ["SqliteRunner"]

T = TypeVar("T")

# Threads (each with its own SQLite connection) running SQLite jobs; writers queue before them
# on the store's in-process lock, so these mostly serve reads running beside one writer.
_SQLITE_THREADS = 4
# When another process holds the write lock (several workers on one file), the inline attempt
# is retried after letting the event loop run: at once (the next loop turn) a few dozen times,
# then every millisecond, ~20 ms in all; only then does the operation wait for the lock on a
# pool thread. Another process holds the lock for a transaction of ~0.1 ms, while SQLite's own
# busy handler (what the pool's busy timeout uses) sleeps 1, 2, 5, 10… ms between looks.
# (bench/store_ops.py --throughput, two processes: 2795-3042 paid calls/s against 2615-2700
# with the pool path; one process alone does about as many: writes serialize on the file.)
_INLINE_RETRIES: tuple[float, ...] = (0.0,) * 48 + (0.001,) * 16
# Queued writes run in transactions of at most this many, the event loop running its other
# callbacks between two: a burst of calls (512 streams started at once) queues hundreds of
# holds, and one transaction for all of them would hold the loop, and every stream it serves,
# for as long as they all take (~0.1-0.3 ms each).
_BATCH_MAX = 64
# Write jobs between two WAL checkpoints, which run as jobs of their own rather than inside
# whichever commit crosses SQLite's automatic threshold. A checkpoint syncs the WAL, copies it
# into the database and syncs that: 15-20 ms here for 600 writes, 30-60 ms for 1200 (mostly
# the index pages of random ids, one page each per paid call). It runs on a pool thread while
# this process's writers wait (and, through SQLite's lock, those of other workers:
# :meth:`SqliteRunner._checkpoint`), so it copies everything and the next write starts the WAL
# over from its beginning: the WAL never holds more than one interval (a paid call writes
# about 11 pages per transaction: ~54 MiB, under _WAL_SIZE_LIMIT, beyond which SQLite would
# truncate it at every restart). Run beside the writers instead, it never finished (they
# append during every copy) and the WAL had to be bounded by a second pass; worse, every
# request in flight during a sync stalled for 1.5-4 ms (seen: the loop's own WAL append
# blocked for ms during the checkpoint's sync; with the syncs turned off, as a test, the
# stalls were gone), one request in forty at one connection, so those stalls were the p99.
# Now one paid call in ~600 waits for a whole checkpoint (and the next runs on cold CPU
# caches): its p99.9. p99 at one connection, over windows of 500 calls (bench/profile.py's
# sequential run): 2.4-2.7 ms with checkpoints beside the writers, 1.32 checkpointing every
# 600 writes, 1.09 every 1200.
_CHECKPOINT_EVERY = 1200
_CHECKPOINT_WAIT_MS = 1000
_WAL_SIZE_LIMIT = 128 * 1024 * 1024


# -- SQLite ------------------------------------------------------------------------------


class _SqliteTx:
    """Statements on a ``sqlite3`` connection; every method finishes without suspending."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, sa_dialect: Dialect) -> None:
        self._connection = connection
        self._sa_dialect = sa_dialect

    async def one(self, statement: Prepared, /, **params: Any) -> Row | None:
        compiled = statement.compiled(self._sa_dialect)
        # fetchall: a DML statement with RETURNING is only finished once read to its end.
        rows = self._connection.execute(compiled.sql, compiled.args(params)).fetchall()
        return compiled.row(rows[0]) if rows else None  # only the row returned is converted

    async def all(self, statement: Prepared, /, **params: Any) -> list[Row]:
        compiled = statement.compiled(self._sa_dialect)
        # fetchall: a DML statement with RETURNING is only finished once read to its end.
        rows = self._connection.execute(compiled.sql, compiled.args(params)).fetchall()
        return [compiled.row(values) for values in rows]

    async def run(self, statement: Prepared, /, **params: Any) -> int:
        compiled = statement.compiled(self._sa_dialect)
        return self._connection.execute(compiled.sql, compiled.args(params)).rowcount

    def execute(self, sql: str) -> None:
        """A statement without parameters or results (the batch's savepoints)."""
        self._connection.execute(sql)


class _Failed:
    """The exception one operation of a batch raised (its savepoint rolled back)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _batch(operations: list[Operation[Any]]) -> Operation[list[Any]]:
    """``operations`` one after another in one transaction, each inside a savepoint: one that
    raises is rolled back alone (its outcome is :class:`_Failed`), as if it had run in a
    transaction of its own; the others are kept."""

    async def run_all(tx: Tx) -> list[Any]:
        statements = cast(_SqliteTx, tx)
        outcomes: list[Any] = []
        for operation in operations:
            statements.execute("SAVEPOINT gateway_batch")
            try:
                value = await operation(tx)
            except Exception as exc:  # noqa: BLE001 - handed to that operation's caller
                statements.execute("ROLLBACK TO gateway_batch")
                statements.execute("RELEASE gateway_batch")
                outcomes.append(_Failed(exc))
            else:
                statements.execute("RELEASE gateway_batch")
                outcomes.append(value)
        return outcomes

    return run_all


def _run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Drive an operation whose awaits all complete at once (SQLite's :class:`Tx`)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return cast(T, finished.value)
    coroutine.close()
    raise RuntimeError("a store operation awaited something other than its statements")


def _sqlite_error(exc: sqlite3.Error) -> NoReturn:
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE constraint failed" in str(exc):
            raise DuplicateRecord(str(exc)) from exc
        raise exc
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.ProgrammingError
    ):
        # Locked past the busy timeout, I/O errors, a file that cannot be opened.
        raise StoreUnavailable(f"store unavailable: {type(exc).__name__}: {exc}") from exc
    raise exc


def _store_error(exc: Exception) -> Exception:
    """What the caller of an operation sees for ``exc``: a driver error as :func:`_sqlite_error`
    turns it into the store's own, anything else as it is."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    try:
        _sqlite_error(exc)
    except Exception as translated:  # noqa: BLE001 - what _sqlite_error raises, returned
        return translated


def _waiters_error(exc: BaseException) -> Exception:
    """What the callers of queued writes get when their batch could not run: its error, or for
    a cancelled queue task (shutdown) the store's own."""
    return exc if isinstance(exc, Exception) else StoreUnavailable("store closed while writes waited")


#: What a connection that must not wait says when another process holds the lock.
_LOCK_CONTENTION = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _NotDone:
    """The inline write did not run (:meth:`SqliteRunner._write_at_once`)."""


_NOT_DONE = _NotDone()


class _Contended(Exception):
    """The inline attempt found the database locked by another process (nothing was done)."""


class SqliteRunner:
    """Runs operations on a SQLite file: inline on the event loop's thread, or — when another
    process holds the lock — as one job on a thread of its own pool.

    :param database: the file path (or a ``file:`` URI) from the store URL.
    :param configure: applied once to each new connection (the store's pragmas).
    :param writers: the store's in-process queue of writers, shared with its SQLAlchemy path.
    """

    def __init__(
        self,
        database: str,
        sa_dialect: Dialect,
        configure: Callable[[sqlite3.Connection], None],
        writers: asyncio.Lock,
    ) -> None:
        self._database = database
        self._sa_dialect = sa_dialect
        self._configure = configure
        self._writers = writers
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writes = 0
        self._inline: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        # Writes that found the writers' lock taken, and the task that runs them (in batches).
        self._queued: list[tuple[Operation[Any], asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None
        # The task whose write committed inline in this pass of the event loop over its ready
        # callbacks, until the next pass (:meth:`_write_at_once`).
        self._inline_writer: asyncio.Task[Any] | None = None

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN; each job issues the BEGIN it needs.
        # check_same_thread=False only so close() can close it; one thread ever uses it.
        connection = sqlite3.connect(
            self._database,
            isolation_level=None,
            check_same_thread=False,
            uri=self._database.startswith("file:"),
        )
        try:
            self._configure(connection)
            connection.execute("PRAGMA wal_autocheckpoint=0")  # see _CHECKPOINT_EVERY
            connection.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        except BaseException:
            connection.close()
            raise
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._open()
        return connection

    def _inline_connection(self) -> sqlite3.Connection:
        """The event loop thread's connection: it never waits for a lock, it reports it."""
        if self._inline is None:
            connection = self._open()
            connection.execute("PRAGMA busy_timeout=0")
            self._inline = connection
        return self._inline

    def _try_inline(self, operation: Operation[T], begin: str | None) -> T:
        """The operation on the loop's thread; :class:`_Contended` (rolled back, nothing done)
        when another process holds the lock."""
        try:
            return self._job(operation, begin, self._inline_connection())
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in _LOCK_CONTENTION:
                raise _Contended from exc
            raise

    def _job(self, operation: Operation[T], begin: str | None, connection: sqlite3.Connection | None = None) -> T:
        connection = connection or self._connection()
        if begin is None:  # one statement: atomic (and its own snapshot) by itself
            return _run_to_end(operation(_SqliteTx(connection, self._sa_dialect)))
        connection.execute(begin)
        try:
            result = _run_to_end(operation(_SqliteTx(connection, self._sa_dialect)))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    async def _inline_or_pool(self, operation: Operation[T], begin: str | None) -> T:
        for retry in _INLINE_RETRIES:
            try:
                return self._try_inline(operation, begin)
            except _Contended:
                await asyncio.sleep(retry)
            except sqlite3.Error as exc:
                _sqlite_error(exc)
        return await self._submit(operation, begin)  # still locked: wait for it off the loop

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(_SQLITE_THREADS, "gateway-store")
        return self._executor

    async def _submit(self, operation: Operation[T], begin: str | None) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), self._job, operation, begin)
        except sqlite3.Error as exc:
            _sqlite_error(exc)

    def _checkpoint(self) -> None:
        """RESTART: waits (up to :data:`_CHECKPOINT_WAIT_MS`) for a writer of another process
        to finish, holds theirs off while it copies the whole WAL, then waits for readers to
        leave it, so that the next write starts it over. PASSIVE would let other workers'
        writers append during the copy: with two workers the WAL never restarted and grew
        without bound, every append a new block the kernel zero-fills (7% of the CPU)."""
        connection = self._connection()
        (busy_timeout,) = connection.execute("PRAGMA busy_timeout").fetchone()
        # Waits for another worker's write or an older reader for a second at most, not the
        # store's busy timeout: this process's writers wait as long.
        connection.execute(f"PRAGMA busy_timeout={_CHECKPOINT_WAIT_MS}")
        try:
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error:
            pass  # best effort: the next checkpoint, or the last connection closing, catches up
        finally:
            connection.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")

    async def run(self, operation: Operation[T], *, write: bool) -> T:
        """``operation`` in one transaction: ``BEGIN IMMEDIATE`` (the database write lock, waited
        for up to the busy timeout) for writes, a deferred ``BEGIN`` (one snapshot) for reads."""
        if not write:
            return await self._inline_or_pool(operation, "BEGIN")
        done = self._write_at_once(operation)
        result = await self._write_queued(operation) if isinstance(done, _NotDone) else done
        self._writes += 1
        if self._writes % _CHECKPOINT_EVERY == 0 and (self._checkpointing is None or self._checkpointing.done()):
            # Not awaited: off the caller's path (the writers after it wait for it).
            self._checkpointing = asyncio.create_task(self._checkpoint_with_writers_waiting())
        return result

    def _write_at_once(self, operation: Operation[T]) -> T | _NotDone:
        """The write inline, without queueing on the writers' lock, when nobody holds it and no
        other task's write committed inline in this pass of the event loop: it runs to its end
        without suspending, so no other writer can start meanwhile.

        Taking the lock anyway is not free under load: once one writer had to wait for it (a
        checkpoint, another process's lock), every writer arriving while any waits queues
        behind it (asyncio's lock is fair), and each queued writer costs a future and loop
        turns, so the queue never drained at 64 connections.

        The writes of the other tasks of that pass queue instead (group commit): under load
        the tasks a pass runs often each have a write, and together they cost one commit,
        whose WAL append writes a page that several of them changed (the key's row, a table's
        last page) once. A lone call's writes, as at one connection, still run at once,
        never suspending, even two in a row."""
        task = asyncio.current_task()
        if self._writers.locked() or self._inline_writer not in (None, task):
            return _NOT_DONE
        try:
            result = self._try_inline(operation, "BEGIN IMMEDIATE")
        except _Contended:
            return _NOT_DONE  # another process holds the file: queue and retry
        except sqlite3.Error as exc:
            _sqlite_error(exc)
        if self._inline_writer is None:
            self._inline_writer = task
            # Runs in the loop's next pass, after this one's callbacks (asyncio's and uvloop's
            # passes run only the callbacks that were ready when the pass began).
            asyncio.get_running_loop().call_soon(self._next_pass)
        return result

    def _next_pass(self) -> None:
        self._inline_writer = None

    async def _write_queued(self, operation: Operation[T]) -> T:
        """Queue ``operation`` behind the writers' lock. Whoever holds it (a checkpoint, the
        SQLAlchemy path, a write waiting for another process's lock) is followed by one task
        that runs every write queued meanwhile in one transaction (:func:`_batch`): one lock
        taken and one commit for all of them, where each used to take its own after the others.
        A caller that leaves while queued (cancelled) has its write dropped, not run."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((operation, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain_queue())
        return await future

    async def _drain_queue(self) -> None:
        try:
            async with self._writers:
                while self._queued:
                    queued = [(operation, future) for operation, future in self._queued if not future.cancelled()]
                    self._queued = queued[_BATCH_MAX:]
                    if queued:
                        await self._run_batch(queued[:_BATCH_MAX])
                    if self._queued:
                        await asyncio.sleep(0)  # the loop's other callbacks before the next batch
        except BaseException as exc:
            # Cancelled (shutdown) or worse: nobody may be left waiting for a write.
            error = _waiters_error(exc)
            for _operation, future in self._queued:
                if not future.done():
                    future.set_exception(error)
            self._queued = []
            raise

    async def _run_batch(self, queued: list[tuple[Operation[Any], asyncio.Future[Any]]]) -> None:
        operations = [operation for operation, _future in queued]
        alone = len(operations) == 1  # needs no savepoints
        try:
            result = await self._inline_or_pool(operations[0] if alone else _batch(operations), "BEGIN IMMEDIATE")
        except BaseException as exc:  # nothing was committed: every write of the batch failed
            error = _waiters_error(exc)
            for _operation, future in queued:
                if not future.done():
                    future.set_exception(error)
            if error is not exc:
                raise  # cancelled (shutdown): the queue's task ends
            return
        outcomes = [result] if alone else result
        for (_operation, future), outcome in zip(queued, outcomes, strict=True):
            if future.done():
                continue  # its caller left after the batch started: the write stands
            if isinstance(outcome, _Failed):
                future.set_exception(_store_error(outcome.error))
            else:
                future.set_result(outcome)

    async def _checkpoint_with_writers_waiting(self) -> None:
        async with self._writers:
            await asyncio.get_running_loop().run_in_executor(self._pool(), self._checkpoint)

    async def drain(self) -> None:
        """Wait for queued writes and a checkpoint still running (before :meth:`close`)."""
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)
        if self._checkpointing is not None:
            await self._checkpointing

    async def one(self, statement: Prepared, params: Mapping[str, Any], *, write: bool) -> Row | None:
        """One statement. A write still takes the write lock up front: a lone statement's own
        implicit transaction could not wait for it (WAL mode fails a read-to-write upgrade)."""

        async def operation(tx: Tx) -> Row | None:
            return await tx.one(statement, **params)

        if not write:
            return await self._inline_or_pool(operation, None)
        return await self.run(operation, write=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

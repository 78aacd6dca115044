"""Engine set-up and the ways store operations talk to the database.

Writes, whichever way they are run, follow one discipline:

* SQLite: ``BEGIN IMMEDIATE`` takes the database write lock up front, so a transaction never
  has to upgrade a read lock (which WAL mode cannot wait for and fails with "database is
  locked"); other processes wait up to the busy timeout. Writers are serialized, so a
  read-then-write inside the function is atomic across processes. Within one process the
  writers also queue on an ``asyncio.Lock`` first: SQLite's busy handler polls with sleeps of
  up to 100 ms, so without it concurrent requests of one process would wait on each other's
  sleeps rather than on the work. The lock is only that queue; atomicity comes from
  ``BEGIN IMMEDIATE``, which is what other processes respect.
* PostgreSQL: ``READ COMMITTED`` plus explicit row locks (``SELECT … FOR UPDATE``) and
  conditional ``UPDATE … WHERE``; the function is retried on a deadlock or serialization
  failure, which the store's fixed lock order (hold → key → ledger accounts in address
  order) should make rare. A single statement needs no explicit transaction: it is atomic
  by itself.

Reads see one snapshot: a deferred ``BEGIN`` on SQLite, ``REPEATABLE READ`` on PostgreSQL.

The two ways:

* :meth:`Database.run` / :meth:`Database.one` — operations written against
  :class:`~gateway_core.store.direct.Tx`: statements compiled once and run straight on the
  driver, inline on the event loop (SQLite) or one round trip per statement (PostgreSQL).
  Every store module but responses uses these (see :mod:`gateway_core.store.direct` for why).
* :meth:`Database.write` / :meth:`Database.read` — a function given a SQLAlchemy
  ``AsyncConnection``, for migrations and code written against SQLAlchemy (response records);
  the engine behind them is built on first use (see :class:`Database`).

PostgreSQL connections are not pinged on every checkout (SQLAlchemy's ``pool_pre_ping`` costs
three round trips each time): a connection the server closed (restart, ``pg_terminate_backend``)
is already known to asyncpg as closed and is replaced at checkout, and one idle for more than
``_PING_IDLE_S`` is pinged first, so a silently dropped connection (a NAT or proxy timeout)
still costs one reconnect rather than a failed request.

Driver and connection failures become :class:`StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from gateway_core.store.direct import SqliteRunner
from gateway_core.store.errors import DuplicateRecord, StoreUnavailable
from gateway_core.store.prepared import Operation, Prepared, Row

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from gateway_core.store.direct_postgres import PostgresRunner

__all__ = ["BUSY_TIMEOUT_MS", "Database", "apply_sqlite_pragmas", "normalize_url"]

T = TypeVar("T")

# How long a SQLite writer waits for another process's write lock before giving up (503).
BUSY_TIMEOUT_MS = 15_000
_PG_CONNECT_TIMEOUT_S = 10
_POOL_TIMEOUT_S = 15
# A pooled PostgreSQL connection unused for longer than this is pinged before it is handed out.
_PING_IDLE_S = 10.0
_IDLE_SINCE = "gateway_idle_since"
_RETRIES = 5
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_WRITE = "gateway_store_write"
# Everything _translate may turn into a store error; anything else propagates untouched.
_TRANSLATED = (sa_exc.SQLAlchemyError, OSError, TimeoutError)


def normalize_url(url: str) -> URL:
    """``sqlite:///path`` → aiosqlite, ``postgresql://…`` / ``postgres://…`` → asyncpg.

    Any other driver named in the URL is replaced: the store is written for these two.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            # Every pooled connection would get its own empty database, and nothing is shared
            # with other processes: the store needs a file.
            raise ValueError("the SQLite store needs a file path, e.g. sqlite:///./gateway.db")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        query = dict(parsed.query)
        if "sslmode" in query:
            # libpq spelling (as in most hosted-database URLs); asyncpg takes the same modes as ``ssl``.
            query["ssl"] = query.pop("sslmode")
        return parsed.set(drivername="postgresql+asyncpg", query=query)
    raise ValueError(f"unsupported store URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://")


def apply_sqlite_pragmas(dbapi_connection: Any) -> None:
    """The settings every SQLite connection of the store runs with (a DB-API connection)."""
    cursor = dbapi_connection.cursor()
    try:
        # First, so that even switching the journal mode waits for other processes' locks.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # WAL lets readers proceed while one process writes. It is a property of the file, so
        # only the first connection ever has to switch it; and that switch can fail at once
        # (no busy wait) while another connection does the same. The mode is persistent and
        # checked again by every new connection, and BEGIN IMMEDIATE is just as safe in the
        # rollback-journal mode, so losing that race costs nothing.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] != "wal":
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                pass
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The driver's own implicit BEGIN (deferred, and skipped for SELECT) is switched off; the
    # "begin" listener below issues the right BEGIN instead.
    dbapi_connection.isolation_level = None
    apply_sqlite_pragmas(dbapi_connection)


def _sqlite_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _pg_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _pg_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    """Refuse a pooled connection that is known dead, or idle long and not answering a ping;
    the pool then invalidates it and hands out another (a new one if need be)."""
    driver = record.driver_connection
    if driver is None or driver.is_closed():
        raise sa_exc.DisconnectionError("connection closed by the server")
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is not None and time.monotonic() - idle_since > _PING_IDLE_S:
        try:
            dbapi_connection.ping()  # runs inside the pool's greenlet, like pool_pre_ping
        except Exception as exc:
            raise sa_exc.DisconnectionError("connection did not answer a ping") from exc


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _translate(exc: Exception) -> Exception | None:
    """The store error ``exc`` stands for, or None to let it propagate unchanged."""
    if isinstance(exc, sa_exc.IntegrityError):
        if _sqlstate(exc) == "23505" or "UNIQUE constraint failed" in str(exc.orig):
            return DuplicateRecord(str(exc.orig))
        return None
    unavailable = isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError | OSError | TimeoutError)
    if isinstance(exc, sa_exc.DBAPIError):
        state = _sqlstate(exc) or ""
        unavailable = (
            exc.connection_invalidated
            or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
            # connection exception, insufficient resources (too many connections), operator
            # intervention (shutdown, server starting), lock or statement timeout
            or state.startswith(("08", "53", "57P"))
            or state in ("55P03", "57014")
        )
    if unavailable:
        # The driver's message only: SQLAlchemy's own text carries the statement, and this
        # message may end up in logs.
        cause = getattr(exc, "orig", None) or exc
        return StoreUnavailable(f"store unavailable: {type(cause).__name__}: {cause}")
    return None


def _reraise(exc: Exception) -> NoReturn:
    translated = _translate(exc)
    if translated is None:
        raise exc
    raise translated from exc


class Database:
    """One store URL: operations on its driver, plus an async engine for SQLAlchemy code.

    The engine (SQLAlchemy's asyncio extension and ORM: ~6 MiB of a served process) is built
    when first used. On PostgreSQL that is at once (its pool serves the operations too); on
    SQLite, where operations open their own connections, only migrations and the code written
    against SQLAlchemy (:meth:`write`, :meth:`read`) need it.
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = normalize_url(url)
        self.schema = schema
        self.dialect_name = self.url.get_backend_name()
        if schema is not None and (self.dialect_name != "postgresql" or not _SCHEMA_NAME.fullmatch(schema)):
            raise ValueError(f"schema {schema!r}: only for PostgreSQL, lowercase letters, digits and '_'")
        self._engine: AsyncEngine | None = None
        self._writers = asyncio.Lock() if self.dialect_name == "sqlite" else None
        self._direct: SqliteRunner | PostgresRunner
        if self._writers is not None:
            database = self.url.database or ""
            if not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # Statements are compiled for the driver the runner uses: Python's sqlite3.
            dialect = SQLiteDialect_pysqlite(dbapi=sqlite3)
            self._direct = SqliteRunner(database, dialect, apply_sqlite_pragmas, self._writers)
        else:
            from gateway_core.store.direct_postgres import PostgresRunner  # imports asyncpg: only for PostgreSQL

            self._direct = PostgresRunner(self.engine, _reraise)

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy async engine, built on first use."""
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> AsyncEngine:
        from sqlalchemy.ext.asyncio import create_async_engine  # here: see the class docstring

        if self.dialect_name == "sqlite":
            engine = create_async_engine(self.url, pool_timeout=_POOL_TIMEOUT_S, hide_parameters=True)
            event.listen(engine.sync_engine, "connect", _sqlite_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
            return engine
        connect_args: dict[str, Any] = {"timeout": _PG_CONNECT_TIMEOUT_S}
        if self.schema is not None:
            # Every statement, including Alembic's version table, resolves unqualified table
            # names in this schema; the name is validated above, so no quoting is needed.
            connect_args["server_settings"] = {"search_path": self.schema}
        engine = create_async_engine(
            self.url,
            connect_args=connect_args,
            pool_timeout=_POOL_TIMEOUT_S,
            hide_parameters=True,  # errors and logs never show bound values (secrets, addresses)
        )
        # Instead of pool_pre_ping: a restarted server costs one reconnect, not a failed request
        # (module docstring).
        event.listen(engine.sync_engine, "checkout", _pg_checkout)
        event.listen(engine.sync_engine, "checkin", _pg_checkin)
        return engine

    @property
    def is_postgresql(self) -> bool:
        return self.dialect_name == "postgresql"

    async def write(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in one write transaction (see the module docstring). ``fn`` may be run
        again after a deadlock, and must not call :meth:`write` itself."""
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._writers is None:
                    return await self._run(fn, write=True)
                async with self._writers:
                    return await self._run(fn, write=True)
            except sa_exc.DBAPIError as exc:
                if attempt < _RETRIES and _sqlstate(exc) in _RETRY_SQLSTATES:
                    await asyncio.sleep(0.005 * attempt)
                    continue
                _reraise(exc)
            except _TRANSLATED as exc:
                _reraise(exc)

    async def read(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``fn`` in one read transaction."""
        try:
            return await self._run(fn, write=False)
        except _TRANSLATED as exc:
            _reraise(exc)

    async def _run(self, fn: Callable[[AsyncConnection], Awaitable[T]], *, write: bool) -> T:
        async with self.engine.connect() as conn:
            if write:
                await conn.execution_options(**{_WRITE: True})
            elif self.is_postgresql:
                # One snapshot for every statement of a read (a page and its totals agree).
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                return await fn(conn)

    async def run(self, operation: Operation[T], *, write: bool) -> T:
        """Run ``operation`` in one transaction on the driver (see the module docstring and
        :mod:`gateway_core.store.direct`); it may be run again after a PostgreSQL deadlock."""
        return await self._direct.run(operation, write=write)

    async def one(self, statement: Prepared, params: Mapping[str, Any], *, write: bool) -> Row | None:
        """Run one statement that is atomic by itself; its first result row."""
        return await self._direct.one(statement, params, write=write)

    async def dispose(self) -> None:
        if isinstance(self._direct, SqliteRunner):
            await self._direct.drain()
            await asyncio.to_thread(self._direct.close)
        if self._engine is not None:
            await self._engine.dispose()

"""Store operations on PostgreSQL, straight on asyncpg (see :mod:`gateway_core.store.direct`
for why and how operations are written)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_core.store.errors import DuplicateRecord, StoreUnavailable
from gateway_core.store.prepared import Operation, Prepared, Row

__all__ = ["PostgresRunner"]

T = TypeVar("T")

_PG_RETRIES = 5
_PG_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
# connection exception, insufficient resources, operator intervention, lock or statement timeout
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57P")
_PG_UNAVAILABLE_STATES = {"55P03", "57014"}


class _PostgresTx:
    """Statements on an asyncpg connection (asyncpg prepares and caches each SQL text)."""

    dialect = "postgresql"

    def __init__(self, connection: Any, sa_dialect: Dialect) -> None:
        self._connection = connection
        self._sa_dialect = sa_dialect

    async def one(self, statement: Prepared, /, **params: Any) -> Row | None:
        compiled = statement.compiled(self._sa_dialect)
        record = await self._connection.fetchrow(compiled.sql, *compiled.args(params))
        return None if record is None else compiled.row(record)

    async def all(self, statement: Prepared, /, **params: Any) -> list[Row]:
        compiled = statement.compiled(self._sa_dialect)
        return [compiled.row(record) for record in await self._connection.fetch(compiled.sql, *compiled.args(params))]

    async def run(self, statement: Prepared, /, **params: Any) -> int:
        compiled = statement.compiled(self._sa_dialect)
        status: str = await self._connection.execute(compiled.sql, *compiled.args(params))
        # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word.
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0


def _postgres_error(exc: BaseException) -> NoReturn:
    state = getattr(exc, "sqlstate", None) or ""
    if state == "23505":
        raise DuplicateRecord(str(exc)) from exc
    if (
        state.startswith(_PG_UNAVAILABLE_CLASSES)
        or state in _PG_UNAVAILABLE_STATES
        or isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError)
    ):
        raise StoreUnavailable(f"store unavailable: {type(exc).__name__}: {exc}") from exc
    raise exc


class PostgresRunner:
    """Runs operations with asyncpg on connections of the engine's pool.

    :param translate: turns what opening a pooled connection raised (SQLAlchemy errors) into
        the store's errors, as the SQLAlchemy path does.
    """

    def __init__(self, engine: AsyncEngine, translate: Callable[[Exception], NoReturn]) -> None:
        self._engine = engine
        self._translate = translate

    @asynccontextmanager
    async def _driver(self) -> AsyncIterator[Any]:
        try:
            conn = await self._engine.connect()
        except Exception as exc:  # noqa: BLE001 - the translator re-raises what it does not know
            self._translate(exc)
        try:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            try:
                yield driver
            except asyncpg.PostgresError:
                raise  # answered by the server: the connection itself is fine
            except BaseException:
                # A network failure or a cancellation may leave a half-done exchange behind:
                # never hand that connection to the next caller.
                await conn.invalidate()
                raise
            if driver.is_in_transaction():  # pragma: no cover - every transaction block ends
                await conn.invalidate()
        finally:
            await conn.close()

    async def _attempt(self, call: Callable[[Any], Coroutine[Any, Any, T]], *, write: bool) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._driver() as driver:
                    return await call(driver)
            except asyncpg.PostgresError as exc:
                if write and attempt < _PG_RETRIES and exc.sqlstate in _PG_RETRY_SQLSTATES:
                    await asyncio.sleep(0.005 * attempt)
                    continue
                _postgres_error(exc)
            except (asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                _postgres_error(exc)

    async def run(self, operation: Operation[T], *, write: bool) -> T:
        """``operation`` in one transaction: ``READ COMMITTED`` plus the row locks the operation
        takes for writes, a read-only ``REPEATABLE READ`` snapshot for reads; a write is run
        again after a deadlock or serialization failure."""

        async def call(driver: Any) -> T:
            if write:
                async with driver.transaction():
                    return await operation(_PostgresTx(driver, self._engine.dialect))
            async with driver.transaction(isolation="repeatable_read", readonly=True):
                return await operation(_PostgresTx(driver, self._engine.dialect))

        return await self._attempt(call, write=write)

    async def one(self, statement: Prepared, params: Mapping[str, Any], *, write: bool) -> Row | None:
        """One statement, atomic by itself: no ``BEGIN``/``COMMIT``, one round trip."""

        async def call(driver: Any) -> Row | None:
            return await _PostgresTx(driver, self._engine.dialect).one(statement, **params)

        return await self._attempt(call, write=write)

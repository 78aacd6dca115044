"""Schema migrations: Alembic, run in-process on the store's own engine.

Concurrent start-ups (several processes on one SQLite file, several replicas on one
PostgreSQL) may all call :func:`upgrade`; the migration runs under a lock so exactly one
applies each revision and the others find the schema at head:

* SQLite: the whole upgrade is one ``BEGIN IMMEDIATE`` transaction (SQLite DDL is
  transactional);
* PostgreSQL: one transaction holding ``pg_advisory_xact_lock`` keyed by the schema name;
* and within one process, one migration at a time (Alembic's running context is global).

A database already at :data:`~gateway_core.store.migrations.HEAD` is recognised with one
plain query and Alembic is not even imported: it costs ~10 MiB of resident memory that a
server started on a migrated store (``gateway db upgrade`` first, or any restart) never needs.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import String, column, select, table, text
from sqlalchemy.engine import Connection

from gateway_core.store.database import Database
from gateway_core.store.migrations import HEAD
from gateway_core.store.prepared import Prepared, Row, Tx

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MIGRATIONS_DIR", "current_revision", "head_revision", "run_locked", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this package (Alembic's view of it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships v0001
        raise RuntimeError("no store migrations found")
    return head


# Alembic keeps the running migration in module globals (``alembic.context``), so two stores
# of one process (different files or schemas) must not migrate at the same time either.
_in_process: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _in_process_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _in_process.get(loop)
    if lock is None:
        lock = _in_process[loop] = asyncio.Lock()
    return lock


async def run_locked(db: Database, fn: Callable[[Connection], None]) -> None:
    """Run ``fn`` (synchronous, given the connection) in one transaction holding the migration
    lock; on PostgreSQL the configured schema is created first if it is missing."""
    lock_name = f"gateway_store_migrate:{db.schema or ''}"

    async def locked(conn: AsyncConnection) -> None:
        if db.is_postgresql:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": lock_name})
            if db.schema is not None:
                await _create_schema(conn, db.schema)
        await conn.run_sync(fn)

    async with _in_process_lock():
        await db.write(locked)


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_config(connection), "head")


async def upgrade(db: Database) -> None:
    """Apply every revision newer than the database's; a no-op at head."""
    if await _at_head(db):
        return
    await run_locked(db, _upgrade)


async def _at_head(db: Database) -> bool:
    """True when the database is certainly at :data:`HEAD` (one read on the driver: neither
    Alembic nor SQLAlchemy's engine is loaded); any doubt (no version table yet, another
    revision, an error) leaves it to the locked upgrade."""
    version = column("version_num", String)
    # Built per call: the schema is the database's (one read at start-up).
    statement = Prepared(select(version).select_from(table("alembic_version", version, schema=db.schema)))

    async def run(tx: Tx) -> list[Row]:
        return await tx.all(statement)

    try:
        rows = await db.run(run, write=False)
    except Exception:  # noqa: BLE001 - a missing table, an unreachable store: the upgrade tells which
        return False
    return [row["version_num"] for row in rows] == [HEAD]


async def current_revision(db: Database) -> str | None:
    """The revision the database is at; None before the first upgrade."""

    def read(connection: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()

    async def run(conn: AsyncConnection) -> str | None:
        return await conn.run_sync(read)

    return await db.read(run)


async def _create_schema(conn: AsyncConnection, schema: str) -> None:
    # Checked first, because CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on
    # the database, which a deployment that pre-creates the schema may not grant.
    exists = await conn.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema})
    if not exists:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))  # name validated by Database

"""Store fixtures: every test runs on SQLite (a fresh copy of a migrated file) and on
PostgreSQL (one schema per session, emptied before each test). PostgreSQL tests are skipped,
with the reason, when the server is not reachable (``GATEWAY_TEST_POSTGRES_URL``, default the
local CI server)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from store_helpers import POSTGRES_URL, Target, postgres_dsn

from gateway_core.store import Store
from gateway_core.store.schema import metadata


def _where() -> str:
    url = make_url(POSTGRES_URL)
    return f"{url.host or 'localhost'}:{url.port or 5432}"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (migrating every test's file would cost
    more than the test)."""
    path = tmp_path_factory.mktemp("template") / "gateway.db"

    async def migrate() -> None:
        store = await Store.open(f"sqlite:///{path}", migrate=True)
        await store.close()

    asyncio.run(migrate())
    with sqlite3.connect(path) as raw:  # fold the WAL into the file, so copying the file is enough
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[tuple[str, Callable[[], None]]]:
    """A fresh, migrated schema ``gw_test_<hex>`` for the session (dropped at the end), and a
    function that empties its tables."""
    loop = asyncio.new_event_loop()
    try:
        connection = loop.run_until_complete(asyncpg.connect(postgres_dsn(), timeout=3))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        loop.close()
        pytest.skip(f"PostgreSQL not reachable at {_where()}: {type(exc).__name__}: {exc}")
    schema = "gw_test_" + secrets.token_hex(6)

    async def migrate() -> None:
        store = await Store.open(POSTGRES_URL, schema=schema, migrate=True)
        await store.close()

    loop.run_until_complete(migrate())
    statement = "; ".join(f'DELETE FROM "{schema}"."{table.name}"' for table in reversed(metadata.sorted_tables))

    def wipe() -> None:
        loop.run_until_complete(connection.execute(statement))

    try:
        yield schema, wipe
    finally:
        loop.run_until_complete(connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        loop.run_until_complete(connection.close())
        loop.close()


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """An empty, migrated database on one dialect."""
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return Target("sqlite", f"sqlite:///{path}")
    schema, wipe = request.getfixturevalue("postgres")
    wipe()
    return Target("postgresql", POSTGRES_URL, schema)


@pytest.fixture
async def store(target: Target) -> AsyncIterator[Store]:
    opened = await target.open()
    yield opened
    await opened.close()


@pytest.fixture
async def second_store(target: Target, store: Store) -> AsyncIterator[Store]:
    """Another Store on the same database: its own engine and pool, like another process."""
    opened = await target.open()
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_store(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Store]:
    """A Store on an empty, migrated SQLite file only (for what is SQLite's alone)."""
    path = tmp_path / "gateway.db"
    shutil.copyfile(sqlite_template, path)
    opened = await Store.open(f"sqlite:///{path}")
    yield opened
    await opened.close()

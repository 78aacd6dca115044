"""Opening the store, migrations, URLs and unavailability."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from store_helpers import POSTGRES_URL, Target, postgres_execute

from gateway_core.store import Store, StoreUnavailable
from gateway_core.store.database import Database, normalize_url
from gateway_core.store.schema import metadata

pytestmark = pytest.mark.anyio


async def test_open_migrates_to_head_and_upgrade_is_idempotent(target: Target) -> None:
    store = await target.open(migrate=True)
    try:
        assert await store.revision() == Store.head_revision() == "0002"
        await store.upgrade()
        await store.upgrade()
        assert await store.revision() == "0002"
        assert await store.ping()
    finally:
        await store.close()


async def test_migrated_schema_matches_the_table_definitions(target: Target) -> None:
    store = await target.open(migrate=True)
    await store.close()
    db = Database(target.url, schema=target.schema)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await db.dispose()


async def test_open_without_migrate_leaves_a_new_database_empty(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'new' / 'gateway.db'}", migrate=False)
    try:
        assert await store.revision() is None
        await store.upgrade()
        assert await store.revision() == "0002"
    finally:
        await store.close()


async def test_concurrent_start_ups_migrate_once(target: Target, tmp_path: Path) -> None:
    # A fresh database each time: a new SQLite file, or a new PostgreSQL schema.
    if target.dialect == "sqlite":
        fresh = Target("sqlite", f"sqlite:///{tmp_path / 'fresh.db'}")
    else:
        fresh = Target("postgresql", POSTGRES_URL, "gw_test_" + secrets.token_hex(6))
    try:
        stores = await asyncio.gather(*(fresh.open(migrate=True) for _ in range(4)))
        assert [await s.revision() for s in stores] == ["0002"] * 4
        for s in stores:
            await s.close()
    finally:
        if fresh.schema is not None:
            await postgres_execute(f'DROP SCHEMA IF EXISTS "{fresh.schema}" CASCADE')


async def test_different_databases_of_one_process_migrate_side_by_side(tmp_path: Path) -> None:
    # Alembic's running context is process-global; the store queues its own migrations.
    stores = await asyncio.gather(*(Store.open(f"sqlite:///{tmp_path / f'{n}.db'}") for n in range(4)))
    try:
        assert [await s.revision() for s in stores] == ["0002"] * 4
    finally:
        for s in stores:
            await s.close()


async def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = await Store.open(f"sqlite:///{path}")
    try:
        assert await store.get_or_create_secret("probe", "x") == "x"
    finally:
        await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        pytest.param("sqlite:///./gateway.db", "sqlite+aiosqlite", id="sqlite-relative"),
        pytest.param("sqlite:////var/lib/gw.db", "sqlite+aiosqlite", id="sqlite-absolute"),
        pytest.param("postgresql://u:p@db:5432/gw", "postgresql+asyncpg", id="postgresql"),
        pytest.param("postgres://u@db/gw", "postgresql+asyncpg", id="postgres-alias"),
        pytest.param("postgresql+psycopg://u@db/gw", "postgresql+asyncpg", id="other-driver"),
    ],
)
def test_urls_map_to_the_async_drivers(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    assert dict(normalize_url("postgresql://u@db/gw?sslmode=require").query) == {"ssl": "require"}


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        pytest.param("mysql://u@db/gw", None, id="unsupported-backend"),
        pytest.param("sqlite:///:memory:", None, id="sqlite-memory"),
        pytest.param("sqlite://", None, id="sqlite-no-path"),
        pytest.param("sqlite:///./gw.db", "public", id="schema-on-sqlite"),
        pytest.param("postgresql://u@db/gw", 'bad"name', id="unsafe-schema"),
    ],
)
async def test_bad_urls_are_refused(url: str, schema: str | None) -> None:
    with pytest.raises(ValueError):
        await Store.open(url, migrate=False, schema=schema)


async def test_unreachable_database_is_store_unavailable() -> None:
    url = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    with pytest.raises(StoreUnavailable):
        await Store.open(url)
    store = await Store.open(url, migrate=False)
    try:
        assert await store.ping() is False
        with pytest.raises(StoreUnavailable):
            await store.get_key("k1")
    finally:
        await store.close()


def test_head_constant_is_alembics_head() -> None:
    """``migrations.HEAD`` is what start-up compares with: it must name the newest revision."""
    from gateway_core.store.migrations import HEAD

    assert HEAD == Store.head_revision()


def test_opening_a_migrated_store_does_not_load_alembic(tmp_path: Path) -> None:
    """A restart (or a server after ``gateway db upgrade``) spends no memory on Alembic."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    script = (
        "import asyncio, sys\n"
        "from gateway_core.store import Store\n"
        "async def main(migrate):\n"
        "    store = await Store.open(sys.argv[1], migrate=migrate)\n"
        "    await store.close()\n"
        "asyncio.run(main(True))\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, check=True, timeout=60)
        for _ in range(2)
    ]
    assert [run.stdout.strip() for run in runs] == ["True", "False"]  # migrated once, then only checked

"""Constants and builders shared by the store tests (imported as a plain module: the test
directories have no ``__init__.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from gateway_core.store import KeyRecord, Store, direct

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = 1_767_225_600_000  # ms
NETWORK = "eip155:31337"
ASSET = "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
WALLET = "0x2222222222222222222222222222222222222222"
OTHER_WALLET = "0x4444444444444444444444444444444444444444"
MERCHANT = "0x3333333333333333333333333333333333333333"


def postgres_dsn() -> str:
    """The test server's URL as asyncpg takes it."""
    return str(make_url(POSTGRES_URL).set(drivername="postgresql"))


async def postgres_execute(sql: str) -> None:
    connection = await asyncpg.connect(postgres_dsn(), timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Target:
    """Where one parametrized test's database lives."""

    dialect: str
    url: str
    schema: str | None = None

    async def open(self, *, migrate: bool = False) -> Store:
        return await Store.open(self.url, migrate=migrate, schema=self.schema)


def make_key(key_id: str = "k1", *, limit: int = 1000, wallet: str = WALLET, **fields: object) -> KeyRecord:
    values: dict[str, object] = {
        "key_id": key_id,
        "user_address": wallet,
        "purpose": "api",
        "budget_limit": limit,
        "budget_used": 0,
        "budget_reserved": 0,
        "created_at": NOW,
        "expires_at": NOW + 86_400_000,
        "chain_id": 31337,
    }
    values.update(fields)
    return KeyRecord(**values)  # type: ignore[arg-type]


@contextmanager
def sqlite_statements(store: Store) -> Iterator[list[str]]:
    """The first word of every statement the SQLite store runs meanwhile on the event loop's
    thread (where each operation runs unless another process holds the lock)."""
    runner = store._db._direct
    assert isinstance(runner, direct.SqliteRunner)
    connection = runner._inline_connection()
    seen: list[str] = []
    connection.set_trace_callback(lambda sql: seen.append(sql.split(None, 1)[0]))
    try:
        yield seen
    finally:
        connection.set_trace_callback(None)

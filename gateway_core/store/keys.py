"""Compose Key records (payments.md §2.3): create, read, list, revoke, touch.

Budget changes (holds and settlements) live in :mod:`gateway_core.store.holds`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
from gateway_core.store.records import KeyRecord
from gateway_core.store.schema import compose_keys

__all__ = ["create_key", "get_key", "key_from_row", "list_keys", "lock_key", "revoke_key", "touch_key"]


def key_from_row(row: RowMapping) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        user_address=row["user_address"],
        purpose=row["purpose"],
        budget_limit=row["budget_limit"],
        budget_used=row["budget_used"],
        budget_reserved=row["budget_reserved"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        chain_id=row["chain_id"],
        name=row["name"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


async def lock_key(conn: AsyncConnection, key_id: str) -> KeyRecord | None:
    """Read a key inside a write transaction, holding its row until commit (PostgreSQL
    ``FOR UPDATE``; SQLite already holds the database write lock)."""
    query = select(compose_keys).where(compose_keys.c.key_id == key_id).with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else key_from_row(row)


async def create_key(db: Database, record: KeyRecord) -> None:
    values: dict[str, Any] = {
        "key_id": record.key_id,
        "user_address": record.user_address.lower(),
        "purpose": record.purpose,
        "name": record.name,
        "budget_limit": record.budget_limit,
        "budget_used": record.budget_used,
        "budget_reserved": record.budget_reserved,
        "chain_id": record.chain_id,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "last_used_at": record.last_used_at,
    }

    async def run(conn: AsyncConnection) -> None:
        await conn.execute(insert(compose_keys).values(values))

    await db.write(run)


async def get_key(db: Database, key_id: str) -> KeyRecord | None:
    async def run(conn: AsyncConnection) -> KeyRecord | None:
        row = (await conn.execute(select(compose_keys).where(compose_keys.c.key_id == key_id))).mappings().first()
        return None if row is None else key_from_row(row)

    return await db.read(run)


async def list_keys(db: Database, wallet: str | None, chain_id: int | None) -> list[KeyRecord]:
    query = select(compose_keys)
    if wallet is not None:
        query = query.where(compose_keys.c.user_address == wallet.lower())
    if chain_id is not None:
        query = query.where(compose_keys.c.chain_id == chain_id)
    # key_id breaks ties between keys created in the same millisecond, so pages are stable.
    query = query.order_by(compose_keys.c.created_at.desc(), compose_keys.c.key_id.desc())

    async def run(conn: AsyncConnection) -> list[KeyRecord]:
        return [key_from_row(row) for row in (await conn.execute(query)).mappings()]

    return await db.read(run)


async def revoke_key(db: Database, key_id: str, now_ms: int) -> KeyRecord | None:
    # COALESCE keeps the first revocation time: revoking twice is a no-op.
    statement = (
        update(compose_keys)
        .where(compose_keys.c.key_id == key_id)
        .values(revoked_at=func.coalesce(compose_keys.c.revoked_at, now_ms))
        .returning(*compose_keys.c)
    )

    async def run(conn: AsyncConnection) -> KeyRecord | None:
        row = (await conn.execute(statement)).mappings().first()
        return None if row is None else key_from_row(row)

    return await db.write(run)


async def touch_key(db: Database, key_id: str, now_ms: int) -> None:
    column = compose_keys.c.last_used_at
    # Never moves lastUsedAt backwards when replicas' clocks or requests interleave.
    statement = (
        update(compose_keys)
        .where(compose_keys.c.key_id == key_id, or_(column.is_(None), column < now_ms))
        .values(last_used_at=now_ms)
    )

    async def run(conn: AsyncConnection) -> None:
        await conn.execute(statement)

    await db.write(run)

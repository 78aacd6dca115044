"""Compose Key records (payments.md §2.3): create, read, list, revoke, touch.

Budget changes (holds and settlements) live in :mod:`gateway_core.store.holds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, func, insert, or_, select, update

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Tx
from gateway_core.store.records import KeyRecord
from gateway_core.store.schema import compose_keys

__all__ = ["create_key", "get_key", "key_from_row", "list_keys", "lock_key", "revoke_key", "touch_key"]

_c = compose_keys.c
_GET = Prepared(select(compose_keys).where(_c.key_id == bindparam("key_id", type_=String)))
# FOR UPDATE holds the row until commit on PostgreSQL; SQLite already holds the write lock.
_LOCK = Prepared(select(compose_keys).where(_c.key_id == bindparam("key_id", type_=String)).with_for_update())
_CREATE = Prepared(insert(compose_keys).values({column.key: bindparam(column.key, type_=column.type) for column in _c}))
# COALESCE keeps the first revocation time: revoking twice is a no-op.
_REVOKE = Prepared(
    update(compose_keys)
    .where(_c.key_id == bindparam("key_id", type_=String))
    .values(revoked_at=func.coalesce(_c.revoked_at, bindparam("now", type_=BigInteger)))
    .returning(*_c)
)
# Never moves lastUsedAt backwards when replicas' clocks or requests interleave.
_TOUCH = Prepared(
    update(compose_keys)
    .where(
        _c.key_id == bindparam("key_id", type_=String),
        or_(_c.last_used_at.is_(None), _c.last_used_at < bindparam("now", type_=BigInteger)),
    )
    .values(last_used_at=bindparam("now", type_=BigInteger))
)


def _list_statement(by_wallet: bool, by_chain: bool) -> Prepared:
    query = select(compose_keys)
    if by_wallet:
        query = query.where(_c.user_address == bindparam("wallet", type_=String))
    if by_chain:
        query = query.where(_c.chain_id == bindparam("chain_id", type_=BigInteger))
    # key_id breaks ties between keys created in the same millisecond, so pages are stable.
    return Prepared(query.order_by(_c.created_at.desc(), _c.key_id.desc()))


_LIST = {(wallet, chain): _list_statement(wallet, chain) for wallet in (False, True) for chain in (False, True)}


def key_from_row(row: Mapping[str, Any]) -> KeyRecord:
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


async def lock_key(tx: Tx, key_id: str) -> KeyRecord | None:
    """Read a key inside a write transaction, holding its row until commit."""
    row = await tx.one(_LOCK, key_id=key_id)
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

    async def run(tx: Tx) -> None:
        await tx.run(_CREATE, **values)

    await db.run(run, write=True)


async def get_key(db: Database, key_id: str) -> KeyRecord | None:
    row = await db.one(_GET, {"key_id": key_id}, write=False)
    return None if row is None else key_from_row(row)


async def list_keys(db: Database, wallet: str | None, chain_id: int | None) -> list[KeyRecord]:
    statement = _LIST[(wallet is not None, chain_id is not None)]
    params = {"wallet": None if wallet is None else wallet.lower(), "chain_id": chain_id}

    async def run(tx: Tx) -> list[KeyRecord]:
        return [key_from_row(row) for row in await tx.all(statement, **params)]

    return await db.run(run, write=False)


async def revoke_key(db: Database, key_id: str, now_ms: int) -> KeyRecord | None:
    row = await db.one(_REVOKE, {"key_id": key_id, "now": now_ms}, write=True)
    return None if row is None else key_from_row(row)


async def touch_key(db: Database, key_id: str, now_ms: int) -> None:
    async def run(tx: Tx) -> None:
        await tx.run(_TOUCH, key_id=key_id, now=now_ms)

    await db.run(run, write=True)

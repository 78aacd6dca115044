"""Generated secrets kept in the store (sandbox key secret, facilitator signer key, merchant
address): created once, then shared by every process and replica."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, Text, bindparam, select

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Tx, dialect_insert
from gateway_core.store.schema import generated_secrets

__all__ = ["get_or_create_secret", "get_secret"]


def _insert_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect, generated_secrets)
        .values(
            name=bindparam("name", type_=String),
            value=bindparam("value", type_=Text),
            created_at=bindparam("now", type_=BigInteger),
        )
        .on_conflict_do_nothing()
    )


_INSERT = Prepared(_insert_statement)
_STORED = Prepared(select(generated_secrets.c.value).where(generated_secrets.c.name == bindparam("name", type_=String)))


async def get_secret(db: Database, name: str) -> str | None:
    """The stored value of ``name``; None when it was never created."""

    async def run(tx: Tx) -> str | None:
        row = await tx.one(_STORED, name=name)
        return None if row is None else str(row["value"])

    return await db.run(run, write=False)


async def get_or_create_secret(db: Database, name: str, value_if_absent: str, now_ms: int) -> str:
    """Insert ``value_if_absent`` unless ``name`` exists; return the stored value (first writer wins)."""

    async def run(tx: Tx) -> str:
        await tx.run(_INSERT, name=name, value=value_if_absent, now=now_ms)
        row = await tx.one(_STORED, name=name)
        if row is None:  # pragma: no cover - the row was just inserted or already there
            raise RuntimeError(f"generated secret {name!r} vanished")
        return str(row["value"])

    return await db.run(run, write=True)

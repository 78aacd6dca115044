"""Generated secrets kept in the store (sandbox key secret, facilitator signer key, merchant
address): created once, then shared by every process and replica."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
from gateway_core.store.schema import generated_secrets

__all__ = ["get_or_create_secret"]


async def get_or_create_secret(db: Database, name: str, value_if_absent: str, now_ms: int) -> str:
    """Insert ``value_if_absent`` unless ``name`` exists; return the stored value (first writer wins)."""
    insert = (
        db.insert(generated_secrets)
        .values(name=name, value=value_if_absent, created_at=now_ms)
        .on_conflict_do_nothing()
    )
    stored = select(generated_secrets.c.value).where(generated_secrets.c.name == name)

    async def run(conn: AsyncConnection) -> str:
        await conn.execute(insert)
        value = await conn.scalar(stored)
        if value is None:  # pragma: no cover - the row was just inserted or already there
            raise RuntimeError(f"generated secret {name!r} vanished")
        return str(value)

    return await db.write(run)

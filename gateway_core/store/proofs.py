"""Used wallet-signature proofs (payments.md §4.5): each signature is accepted once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
from gateway_core.store.schema import signature_proofs

__all__ = ["use_signature_proof"]


async def use_signature_proof(db: Database, digest: str, expires_at: int, now_s: int) -> bool:
    """Record ``digest`` until ``expires_at`` (seconds). True the first time; False while an
    earlier use is still remembered. An expired earlier use is replaced, not a refusal."""
    proofs = signature_proofs.c
    insert = db.insert(signature_proofs).values(digest=digest.lower(), expires_at=expires_at)
    # One upsert: the row is inserted, or taken over only when the stored use has expired, so
    # two replicas seeing the same signature at once cannot both accept it.
    statement = insert.on_conflict_do_update(
        index_elements=[proofs.digest],
        set_={"expires_at": insert.excluded.expires_at},
        where=proofs.expires_at <= now_s,
    ).returning(proofs.digest)

    async def run(conn: AsyncConnection) -> bool:
        return (await conn.execute(statement)).first() is not None

    return await db.write(run)

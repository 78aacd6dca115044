"""Used wallet-signature proofs (payments.md §4.5): each signature is accepted once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, bindparam

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, dialect_insert
from gateway_core.store.schema import signature_proofs

__all__ = ["use_signature_proof"]


def _use_statement(dialect: str) -> Any:
    proofs = signature_proofs.c
    insert = dialect_insert(dialect, signature_proofs).values(
        digest=bindparam("digest", type_=String), expires_at=bindparam("expires_at", type_=BigInteger)
    )
    # One upsert: the row is inserted, or taken over only when the stored use has expired, so
    # two replicas seeing the same signature at once cannot both accept it.
    return insert.on_conflict_do_update(
        index_elements=[proofs.digest],
        set_={"expires_at": insert.excluded.expires_at},
        where=proofs.expires_at <= bindparam("now", type_=BigInteger),
    ).returning(proofs.digest)


_USE = Prepared(_use_statement)


async def use_signature_proof(db: Database, digest: str, expires_at: int, now_s: int) -> bool:
    """Record ``digest`` until ``expires_at`` (seconds). True the first time; False while an
    earlier use is still remembered. An expired earlier use is replaced, not a refusal."""
    params = {"digest": digest.lower(), "expires_at": expires_at, "now": now_s}
    return await db.one(_USE, params, write=True) is not None

"""Retention (spec/README.md § Store): what ``gateway store prune`` and the 60 s in-process
sweep delete or release.

* key holds still ``held``: released (not deleted) ``hold_ttl_s`` after creation;
* finished key holds: deleted one day after they would have been swept (gateway choice: a
  late settlement of a swept hold still finds it);
* x402 reservations: deleted at ``expires_at`` + 86400 s;
* receipts: deleted 180 days after creation (the cumulative totals keep counting them);
* signature proofs: deleted once expired;
* response records: deleted once expired (``expires_at``, fixed at creation from
  ``GATEWAY_RESPONSES_TTL``; reads already treat them as missing).

Video jobs get their rule here when their table is added.
"""

from __future__ import annotations

from typing import get_args

from sqlalchemy import bindparam, delete, or_

from gateway_core.store import holds
from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Tx
from gateway_core.store.records import HoldStatus
from gateway_core.store.schema import key_holds, receipts, response_records, signature_proofs, x402_reservations

__all__ = ["DEFAULT_HOLD_TTL_S", "RECEIPT_TTL_MS", "RESERVATION_GRACE_S", "prune"]

DEFAULT_HOLD_TTL_S = 3600
RESERVATION_GRACE_S = 86_400
RECEIPT_TTL_MS = 180 * 86_400_000
_FINISHED_HOLD_GRACE_MS = 86_400_000


# Every condition below is one the table's index can serve: these deletes are writes, which run
# inline on the event loop, and `status != 'held'` (or `expires_at + grace < now`) made SQLite
# scan the whole table every 60 s, a pause growing with the store (key_holds keeps a row per
# paid call for a day). So the finished statuses are named, and the grace moves to the bound.
_FINISHED_STATUSES = [status for status in get_args(HoldStatus) if status != "held"]
_FINISHED_HOLDS = Prepared(
    delete(key_holds).where(
        or_(*(key_holds.c.status == status for status in _FINISHED_STATUSES)),
        key_holds.c.created_at < bindparam("before"),
    )
)
_RESERVATIONS = Prepared(delete(x402_reservations).where(x402_reservations.c.expires_at < bindparam("before_s")))
_RECEIPTS = Prepared(delete(receipts).where(receipts.c.created_at < bindparam("before")))
_SIGNATURE_PROOFS = Prepared(delete(signature_proofs).where(signature_proofs.c.expires_at <= bindparam("now_s")))
_RESPONSES = Prepared(delete(response_records).where(response_records.c.expires_at <= bindparam("now_ms")))


async def _delete(db: Database, statement: Prepared, **params: int) -> int:
    async def run(tx: Tx) -> int:
        return await tx.run(statement, **params)

    return await db.run(run, write=True)


async def prune(db: Database, now_ms: int, hold_ttl_s: int = DEFAULT_HOLD_TTL_S) -> dict[str, int]:
    """Apply every retention rule once; returns how many rows each rule touched."""
    now_s = now_ms // 1000
    swept_before = now_ms - hold_ttl_s * 1000
    return {
        "holds_released": await holds.release_stale_holds(db, swept_before, now_ms),
        "holds_deleted": await _delete(db, _FINISHED_HOLDS, before=swept_before - _FINISHED_HOLD_GRACE_MS),
        "reservations": await _delete(db, _RESERVATIONS, before_s=now_s - RESERVATION_GRACE_S),
        "receipts": await _delete(db, _RECEIPTS, before=now_ms - RECEIPT_TTL_MS),
        "signature_proofs": await _delete(db, _SIGNATURE_PROOFS, now_s=now_s),
        "responses": await _delete(db, _RESPONSES, now_ms=now_ms),
    }

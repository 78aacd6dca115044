"""Key budget holds and settlement (payments.md §3.1 steps 3, 5, 6, 8, 9).

Every operation is one write transaction that locks rows in the same order — the hold row,
then its key row, then (sandbox collection) ledger accounts — and changes the key with a
conditional ``UPDATE`` whose ``WHERE`` restates the invariant ``used + reserved ≤ limit``.
The row lock makes the read-compute-write exact; the condition (and the table's CHECK
constraint) make a mistake fail loudly instead of overspending.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store import ledger
from gateway_core.store.database import Database
from gateway_core.store.errors import UnknownHold, UnknownKey
from gateway_core.store.keys import key_from_row, lock_key
from gateway_core.store.records import (
    Hold,
    HoldOutcome,
    HoldRefusal,
    KeyRecord,
    LedgerTransfer,
    ReleaseReason,
    SettleOutcome,
    SettleStatus,
)
from gateway_core.store.schema import compose_keys, key_holds

__all__ = ["get_hold", "hold", "release_hold", "release_stale_holds", "settle_hold"]

# Stale holds released per sweep; a backlog larger than this is worked off by later sweeps.
_SWEEP_BATCH = 500


class _InvariantError(RuntimeError):
    """A conditional update matched no row although the row lock says it must."""


def _hold_from_row(row: RowMapping) -> Hold:
    return Hold(
        hold_id=row["hold_id"],
        key_id=row["key_id"],
        amount=row["amount"],
        status=row["status"],
        request_id=row["request_id"],
        created_at=row["created_at"],
        charged=row["charged"],
        finished_at=row["finished_at"],
        release_reason=row["release_reason"],
    )


async def _change_key(
    conn: AsyncConnection, key_id: str, *, used: int = 0, reserved: int = 0, **values: object
) -> KeyRecord:
    """``budget_used += used``, ``budget_reserved += reserved`` (and ``values``), only if the
    invariant still holds."""
    c = compose_keys.c
    statement = (
        update(compose_keys)
        .where(
            c.key_id == key_id,
            c.budget_reserved + reserved >= 0,
            c.budget_used + used + c.budget_reserved + reserved <= c.budget_limit,
        )
        .values(budget_used=c.budget_used + used, budget_reserved=c.budget_reserved + reserved, **values)
        .returning(*compose_keys.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    if row is None:
        raise _InvariantError(f"budget update on key {key_id} refused (used {used:+}, reserved {reserved:+})")
    return key_from_row(row)


async def _finish(conn: AsyncConnection, hold: Hold, now_ms: int, **values: object) -> Hold:
    statement = (
        update(key_holds)
        .where(key_holds.c.hold_id == hold.hold_id, key_holds.c.status == hold.status)
        .values(finished_at=now_ms, **values)
        .returning(*key_holds.c)
    )
    row = (await conn.execute(statement)).mappings().first()
    if row is None:
        raise _InvariantError(f"hold {hold.hold_id} changed under its row lock")
    return _hold_from_row(row)


async def _lock_hold(conn: AsyncConnection, hold_id: str) -> Hold | None:
    query = select(key_holds).where(key_holds.c.hold_id == hold_id).with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _hold_from_row(row)


async def get_hold(db: Database, hold_id: str) -> Hold | None:
    async def run(conn: AsyncConnection) -> Hold | None:
        row = (await conn.execute(select(key_holds).where(key_holds.c.hold_id == hold_id))).mappings().first()
        return None if row is None else _hold_from_row(row)

    return await db.read(run)


async def hold(db: Database, key_id: str, wanted: int, minimum: int, request_id: str, now_ms: int) -> HoldOutcome:
    if wanted <= 0 or not 0 <= minimum <= wanted:
        raise ValueError(f"hold needs 0 < wanted and 0 <= minimum <= wanted (wanted={wanted}, minimum={minimum})")

    async def run(conn: AsyncConnection) -> HoldOutcome:
        key = await lock_key(conn, key_id)
        if key is None:
            raise UnknownKey(key_id)
        remaining = key.remaining
        # Checked here too (not only when the route validated the token): a revocation that
        # commits between validation and this hold still stops the call.
        refusal: HoldRefusal | None = None
        if key.revoked_at is not None:
            refusal = "revoked"
        elif key.expires_at <= now_ms:
            refusal = "expired"
        elif remaining <= 0 or remaining < minimum:
            refusal = "budget_exhausted"
        if refusal is not None:
            return HoldOutcome(hold=None, key=key, remaining_before=remaining, refusal=refusal)
        amount = min(wanted, remaining)
        key = await _change_key(conn, key_id, reserved=amount, last_used_at=now_ms)
        held = Hold(
            hold_id="hold_" + secrets.token_hex(16),
            key_id=key_id,
            amount=amount,
            status="held",
            request_id=request_id,
            created_at=now_ms,
        )
        await conn.execute(
            insert(key_holds).values(
                hold_id=held.hold_id,
                key_id=key_id,
                amount=amount,
                status="held",
                request_id=request_id,
                created_at=now_ms,
            )
        )
        return HoldOutcome(hold=held, key=key, remaining_before=remaining)

    return await db.write(run)


async def settle_hold(
    db: Database, hold_id: str, charge: int, now_ms: int, transfer: LedgerTransfer | None
) -> SettleOutcome:
    if charge < 0:
        raise ValueError(f"charge must be >= 0, got {charge}")

    async def run(conn: AsyncConnection) -> SettleOutcome:
        current = await _lock_hold(conn, hold_id)
        if current is None:
            raise UnknownHold(hold_id)
        key = await lock_key(conn, current.key_id)
        if key is None:  # pragma: no cover - the foreign key deletes holds with their key
            raise UnknownKey(current.key_id)
        if current.status == "settled":
            return SettleOutcome("already_settled", 0, 0, key, current)
        late = current.status == "released"
        if late and current.release_reason != "sweeper":
            return SettleOutcome("already_released", 0, 0, key, current)

        # §3.1: C = min(A, hold); after a sweeper release the hold's budget may have been
        # handed to other calls, so C is further capped by what is left (step 9).
        charged = min(charge, current.amount)
        if late:
            charged = min(charged, key.remaining)
        tx_hash: str | None = None
        if transfer is not None and charged > 0:
            moved = await ledger.transfer_in(db, conn, replace(transfer, amount=charged), now_ms)
            if not moved.ok:
                if late:
                    finished = await _finish(conn, current, now_ms, release_reason="transfer_failed")
                else:
                    key = await _change_key(conn, key.key_id, reserved=-current.amount)
                    finished = await _finish(conn, current, now_ms, status="released", release_reason="transfer_failed")
                return SettleOutcome("released_transfer_failed", 0, 0, key, finished, reason=moved.reason)
            tx_hash = moved.tx_hash
        key = await _change_key(conn, key.key_id, used=charged, reserved=0 if late else -current.amount)
        finished = await _finish(conn, current, now_ms, status="settled", charged=charged)
        status: SettleStatus = "settled_after_release" if late else "settled"
        return SettleOutcome(status, charged, charge - charged, key, finished, tx_hash=tx_hash)

    return await db.write(run)


async def _release(db: Database, hold_id: str, reason: ReleaseReason, now_ms: int, before_ms: int | None) -> bool:
    condition = [key_holds.c.hold_id == hold_id, key_holds.c.status == "held"]
    if before_ms is not None:
        condition.append(key_holds.c.created_at < before_ms)
    # The conditional UPDATE is the guard: of a release, a sweep and a settle racing on one
    # hold, only the first to flip it away from 'held' acts.
    statement = (
        update(key_holds)
        .where(*condition)
        .values(status="released", release_reason=reason, finished_at=now_ms)
        .returning(key_holds.c.key_id, key_holds.c.amount)
    )

    async def run(conn: AsyncConnection) -> bool:
        row = (await conn.execute(statement)).first()
        if row is None:
            return False
        await _change_key(conn, row.key_id, reserved=-row.amount)
        return True

    return await db.write(run)


async def release_hold(db: Database, hold_id: str, now_ms: int) -> bool:
    """Release a hold that is still ``held`` (the call failed before any output)."""
    return await _release(db, hold_id, "caller", now_ms, None)


async def release_stale_holds(db: Database, older_than_ms: int, now_ms: int) -> int:
    """Release holds created before ``older_than_ms`` that are still ``held`` (crashed replicas)."""
    query = (
        select(key_holds.c.hold_id)
        .where(key_holds.c.status == "held", key_holds.c.created_at < older_than_ms)
        .order_by(key_holds.c.created_at)
        .limit(_SWEEP_BATCH)
    )

    async def candidates(conn: AsyncConnection) -> list[str]:
        return list((await conn.scalars(query)).all())

    released = 0
    # One short transaction per hold keeps key rows locked briefly; a hold settled meanwhile
    # simply no longer matches.
    for hold_id in await db.read(candidates):
        released += await _release(db, hold_id, "sweeper", now_ms, older_than_ms)
    return released

"""Key budget holds and settlement (payments.md §3.1 steps 3, 5, 6, 8, 9).

Every operation is one transaction that locks rows in the same order — the hold row, then
its key row, then (sandbox collection) ledger accounts, then the payer's receipt totals — and
changes the key with a conditional ``UPDATE`` whose ``WHERE`` restates the invariant
``used + reserved ≤ limit``. The row lock makes the read-compute-write exact; the condition
(and the table's CHECK constraint) make a mistake fail loudly instead of overspending.

On SQLite each operation is one job of statements under ``BEGIN IMMEDIATE``
(:mod:`gateway_core.store.direct`), which already excludes every other writer: no row needs
locking, so the common cases skip the reads and go straight to conditional writes, each
computing from the row it changes:

* hold: ``INSERT`` the hold from the key row (``INSERT … SELECT``, the amount computed from the
  remaining budget) only while the key is usable, then reserve that amount on the key. When
  nothing was inserted, a read of the key tells the refusal;
* settle: (sandbox collection: read both ledger accounts first) flip the hold from ``held`` to
  ``settled`` only when the charge is one the payer can pay, then collect, move the amount on
  the key and store the receipt. When the hold did not flip — not ``held``, unknown, or a
  transfer that would be refused — nothing has been written, and the general transaction
  below, in the same ``BEGIN IMMEDIATE``, handles the case.

On PostgreSQL the operations of a paid call are single statements, so each costs one round
trip:

* hold: §3.1's conditional ``UPDATE``: reserve the amount computed from the key as last read
  (the caller's ``seen``, or a read), only while the key is usable and its remaining budget
  still gives exactly that amount, and insert the hold from the updated row (a CTE). When the
  key changed meanwhile nothing happens; it is read again and the hold retried, and a key
  that keeps changing is finally held the general way, under its row lock;
* settle without sandbox collection: flip the hold from ``held`` to ``settled`` (the
  conditional update is the exactly-once guard), move its amount on the key, and — given a
  receipt — bump the payer's totals and store the receipt when the charge is the one the
  receipt states. Anything else (the hold already settled or released, a late settlement after
  the sweeper, sandbox collection) takes the general transaction, which handles every case;
* release: flip the hold from ``held`` to ``released`` and give its amount back.

Each ``UPDATE`` in these statements computes from its own target row and from rows of other
tables, so when it waits for a concurrent writer PostgreSQL recomputes it on the newest
version (READ COMMITTED re-check). What they must not do is lock a row in a ``FOR UPDATE``
CTE and update the same row in another part of the statement: the update is then computed
from the row version of the statement's snapshot, not the locked one (the CHECK constraint
caught exactly that in testing).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, exists, func, insert, literal, select, true, update

from gateway_core.store import ledger, receipts
from gateway_core.store.database import Database
from gateway_core.store.errors import UnknownHold, UnknownKey
from gateway_core.store.keys import get_key, key_from_row, lock_key
from gateway_core.store.prepared import Prepared, Row, Tx
from gateway_core.store.records import (
    Cumulative,
    Hold,
    HoldOutcome,
    HoldRefusal,
    KeyRecord,
    LedgerTransfer,
    ReceiptRow,
    ReleaseReason,
    SettleOutcome,
    SettleStatus,
)
from gateway_core.store.schema import compose_keys, key_holds

__all__ = ["get_hold", "hold", "release_hold", "release_stale_holds", "settle_hold"]

# Stale holds released per sweep; a backlog larger than this is worked off by later sweeps.
_SWEEP_BATCH = 500
# created_at bound of a release by the caller: any hold qualifies.
_ANY_TIME = 2**63 - 1

_k = compose_keys.c
_h = key_holds.c


def _param(name: str, kind: Any = BigInteger) -> Any:
    return bindparam(name, type_=kind)


# -- statements of the general path (both databases) --------------------------------------

_GET_HOLD = Prepared(select(key_holds).where(_h.hold_id == _param("hold_id", String)))
_LOCK_HOLD = Prepared(select(key_holds).where(_h.hold_id == _param("hold_id", String)).with_for_update())
_CHANGE_KEY = Prepared(
    update(compose_keys)
    .where(
        _k.key_id == _param("key_id", String),
        _k.budget_reserved + _param("reserved") >= 0,
        _k.budget_used + _param("used") + _k.budget_reserved + _param("reserved") <= _k.budget_limit,
    )
    .values(
        budget_used=_k.budget_used + _param("used"),
        budget_reserved=_k.budget_reserved + _param("reserved"),
        # COALESCE: only a hold passes a new lastUsedAt.
        last_used_at=func.coalesce(_param("last_used_at"), _k.last_used_at),
    )
    .returning(*_k)
)
_INSERT_HOLD = Prepared(
    insert(key_holds).values(
        hold_id=_param("hold_id", String),
        key_id=_param("key_id", String),
        amount=_param("amount"),
        status="held",
        request_id=_param("request_id", String),
        created_at=_param("now"),
    )
)
_FINISH = Prepared(
    update(key_holds)
    .where(_h.hold_id == _param("hold_id", String), _h.status == _param("was", String))
    .values(
        status=_param("status", String),
        charged=_param("charged"),
        release_reason=_param("release_reason", String),
        finished_at=_param("now"),
    )
    .returning(*key_holds.c)
)
# The conditional UPDATE is the guard: of a release, a sweep and a settle racing on one hold,
# only the first to flip it away from 'held' acts.
_RELEASE = (
    update(key_holds)
    .where(_h.hold_id == _param("hold_id", String), _h.status == "held", _h.created_at < _param("before"))
    .values(status="released", release_reason=_param("reason", String), finished_at=_param("now"))
    .returning(_h.key_id, _h.amount)
)
_RELEASE_HOLD = Prepared(_RELEASE)
_STALE = Prepared(
    select(_h.hold_id)
    .where(_h.status == "held", _h.created_at < _param("before"))
    .order_by(_h.created_at)
    .limit(_SWEEP_BATCH)
)


# -- SQLite: the common cases without reads (module docstring) ------------------------------

_REMAINING = _k.budget_limit - _k.budget_used - _k.budget_reserved
_SQLITE_HOLD = Prepared(
    insert(key_holds)
    .from_select(
        ["hold_id", "key_id", "amount", "status", "request_id", "created_at"],
        select(
            _param("hold_id", String),
            _k.key_id,
            # SQLite's two-argument min() is the smaller value (PostgreSQL's least()).
            func.min(_param("wanted"), _REMAINING),
            literal("held", String),
            _param("request_id", String),
            _param("now"),
        ).where(
            # The negation of _refusal: the hold is inserted exactly when none applies.
            _k.key_id == _param("key_id", String),
            _k.revoked_at.is_(None),
            _k.expires_at > _param("now"),
            _REMAINING > 0,
            _REMAINING >= _param("minimum"),
        ),
    )
    .returning(_h.amount)
)
_SQLITE_SETTLE = Prepared(
    update(key_holds)
    .where(
        _h.hold_id == _param("hold_id", String),
        _h.status == "held",
        func.min(_param("charge"), _h.amount) <= _param("affordable"),
    )
    .values(status="settled", charged=func.min(_param("charge"), _h.amount), finished_at=_param("now"))
    .returning(*key_holds.c)
)
# affordable without a transfer: any charge.
_UNLIMITED = 2**63 - 1


# -- PostgreSQL: one statement each (module docstring) -------------------------------------


def _pg_hold() -> Any:
    # Everything the UPDATE reads is its own target row: when it waits for a concurrent
    # writer, PostgreSQL re-checks and recomputes it on the newest version. (Locking the row in
    # a FOR UPDATE CTE of the same statement and computing from that does not work: the
    # UPDATE then computes from the version its snapshot saw.)
    remaining = _k.budget_limit - _k.budget_used - _k.budget_reserved
    reserved = (
        update(compose_keys)
        .where(
            _k.key_id == _param("key_id", String),
            _k.revoked_at.is_(None),
            _k.expires_at > _param("now"),
            remaining >= _param("amount"),
            remaining <= _param("at_most"),
        )
        .values(budget_reserved=_k.budget_reserved + _param("amount"), last_used_at=_param("now"))
        .returning(*_k)
        .cte("reserved")
    )
    new_hold = (
        insert(key_holds)
        .from_select(
            ["hold_id", "key_id", "amount", "status", "request_id", "created_at"],
            select(
                _param("hold_id", String),
                reserved.c.key_id,
                _param("amount"),
                literal("held", String),
                _param("request_id", String),
                _param("now"),
            ),
        )
        .returning(_h.hold_id)
        .cte("new_hold")
    )
    return select(*reserved.c).add_cte(new_hold)


_PG_HOLD = Prepared(_pg_hold())
# Optimistic attempts of a PostgreSQL hold before it takes the key's row lock instead.
_PG_HOLD_ATTEMPTS = 3
_HOLD_PREFIX = "hold__"  # labels of the hold's columns next to the key's in one result row


def _pg_settle(with_receipt: bool) -> Any:
    settled = (
        update(key_holds)
        .where(_h.hold_id == _param("hold_id", String), _h.status == "held")
        .values(status="settled", charged=func.least(_param("charge"), _h.amount), finished_at=_param("now"))
        .returning(*key_holds.c)
        .cte("settled_hold")
    )
    charged = (
        update(compose_keys)
        .where(_k.key_id == settled.c.key_id)
        .values(
            budget_used=_k.budget_used + settled.c.charged,
            budget_reserved=_k.budget_reserved - settled.c.amount,
        )
        .returning(*_k)
        .cte("charged_key")
    )
    columns = [*charged.c, *(column.label(_HOLD_PREFIX + column.key) for column in settled.c)]
    if not with_receipt:
        return select(*columns).select_from(settled.join(charged, true()))
    # The receipt states its amount: stored only when that is what was charged. (Same name as
    # the receipt's own parameter, so one value is bound for both.)
    gate = exists().where(settled.c.charged == _param("final_amount"))
    totals, stored = receipts.receipt_ctes(gate)
    return (
        select(*columns, *totals.c).select_from(settled.join(charged, true()).outerjoin(totals, true())).add_cte(stored)
    )


_PG_SETTLE = Prepared(_pg_settle(with_receipt=False))
# Built when a PostgreSQL store first compiles it (it needs the PostgreSQL dialect's INSERT).
_PG_SETTLE_WITH_RECEIPT = Prepared(lambda _dialect: _pg_settle(with_receipt=True))


def _pg_release() -> Any:
    released = _RELEASE.cte("released_hold")
    given_back = (
        update(compose_keys)
        .where(_k.key_id == released.c.key_id)
        .values(budget_reserved=_k.budget_reserved - released.c.amount)
        .returning(_k.key_id)
        .cte("given_back")
    )
    return select(given_back.c.key_id)


_PG_RELEASE = Prepared(_pg_release())


# -- rows to records ---------------------------------------------------------------------


def _hold_from_row(row: Row, prefix: str = "") -> Hold:
    return Hold(
        hold_id=row[prefix + "hold_id"],
        key_id=row[prefix + "key_id"],
        amount=row[prefix + "amount"],
        status=row[prefix + "status"],
        request_id=row[prefix + "request_id"],
        created_at=row[prefix + "created_at"],
        charged=row[prefix + "charged"],
        finished_at=row[prefix + "finished_at"],
        release_reason=row[prefix + "release_reason"],
    )


def _new_hold_id() -> str:
    return "hold_" + secrets.token_hex(16)


def _refusal(key: KeyRecord, minimum: int, now_ms: int) -> HoldRefusal | None:
    # Checked here too (not only when the route validated the token): a revocation that
    # commits between validation and this hold still stops the call.
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at <= now_ms:
        return "expired"
    if key.remaining <= 0 or key.remaining < minimum:
        return "budget_exhausted"
    return None


class _InvariantError(RuntimeError):
    """A conditional update matched no row although the row lock says it must."""


async def _change_key(
    tx: Tx, key_id: str, *, used: int = 0, reserved: int = 0, last_used_at: int | None = None
) -> KeyRecord:
    """``budget_used += used``, ``budget_reserved += reserved`` (and ``last_used_at``), only if
    the invariant still holds."""
    row = await tx.one(_CHANGE_KEY, key_id=key_id, used=used, reserved=reserved, last_used_at=last_used_at)
    if row is None:
        raise _InvariantError(f"budget update on key {key_id} refused (used {used:+}, reserved {reserved:+})")
    return key_from_row(row)


async def _finish(tx: Tx, hold: Hold, now_ms: int, **changes: Any) -> Hold:
    after = replace(hold, **changes)
    row = await tx.one(
        _FINISH,
        hold_id=hold.hold_id,
        was=hold.status,
        status=after.status,
        charged=after.charged,
        release_reason=after.release_reason,
        now=now_ms,
    )
    if row is None:
        raise _InvariantError(f"hold {hold.hold_id} changed under its row lock")
    return _hold_from_row(row)


# -- operations --------------------------------------------------------------------------


async def get_hold(db: Database, hold_id: str) -> Hold | None:
    row = await db.one(_GET_HOLD, {"hold_id": hold_id}, write=False)
    return None if row is None else _hold_from_row(row)


async def _pg_hold_once(
    db: Database, seen: KeyRecord, wanted: int, request_id: str, now_ms: int, hold_id: str
) -> HoldOutcome | None:
    """Reserve ``min(wanted, remaining)`` as computed from ``seen``, in one statement, if the
    key still allows exactly that; None when it changed meanwhile (read it again)."""
    amount = min(wanted, seen.remaining)
    params = {
        "key_id": seen.key_id,
        "amount": amount,
        # Less than wanted is only right while the remaining budget has not grown since.
        "at_most": _ANY_TIME if amount == wanted else seen.remaining,
        "now": now_ms,
        "hold_id": hold_id,
        "request_id": request_id,
    }
    row = await db.one(_PG_HOLD, params, write=True)
    if row is None:
        return None
    key = key_from_row(row)
    held = Hold(hold_id, seen.key_id, amount, "held", request_id, now_ms)
    return HoldOutcome(hold=held, key=key, remaining_before=key.remaining + amount)


async def _sqlite_hold(
    tx: Tx, key_id: str, wanted: int, minimum: int, request_id: str, now_ms: int, hold_id: str
) -> HoldOutcome:
    """A hold in SQLite's write transaction: insert it from the key row, then reserve."""
    row = await tx.one(
        _SQLITE_HOLD, hold_id=hold_id, key_id=key_id, wanted=wanted, minimum=minimum, request_id=request_id, now=now_ms
    )
    if row is None:
        key = await lock_key(tx, key_id)
        if key is None:
            raise UnknownKey(key_id)
        refusal = _refusal(key, minimum, now_ms)
        if refusal is None:
            raise _InvariantError(f"hold on key {key_id} refused although the key allows it")
        return HoldOutcome(hold=None, key=key, remaining_before=key.remaining, refusal=refusal)
    amount: int = row["amount"]
    key = await _change_key(tx, key_id, reserved=amount, last_used_at=now_ms)
    held = Hold(hold_id, key_id, amount, "held", request_id, now_ms)
    return HoldOutcome(hold=held, key=key, remaining_before=key.remaining + amount)


async def hold(
    db: Database,
    key_id: str,
    wanted: int,
    minimum: int,
    request_id: str,
    now_ms: int,
    seen: KeyRecord | None = None,
) -> HoldOutcome:
    if wanted <= 0 or not 0 <= minimum <= wanted:
        raise ValueError(f"hold needs 0 < wanted and 0 <= minimum <= wanted (wanted={wanted}, minimum={minimum})")
    hold_id = _new_hold_id()
    if not db.is_postgresql:
        # Two writes and no read (module docstring): ``seen`` would save nothing.

        async def run_sqlite(tx: Tx) -> HoldOutcome:
            return await _sqlite_hold(tx, key_id, wanted, minimum, request_id, now_ms, hold_id)

        return await db.run(run_sqlite, write=True)

    # §3.1: a single conditional UPDATE, retried with the newer budget when it changed.
    for _ in range(_PG_HOLD_ATTEMPTS):
        if seen is None or seen.key_id != key_id:
            seen = await get_key(db, key_id)
            if seen is None:
                raise UnknownKey(key_id)
        refusal = _refusal(seen, minimum, now_ms)
        if refusal is not None:
            return HoldOutcome(hold=None, key=seen, remaining_before=seen.remaining, refusal=refusal)
        outcome = await _pg_hold_once(db, seen, wanted, request_id, now_ms, hold_id)
        if outcome is not None:
            return outcome
        seen = None
    # A key this busy: wait for its row lock instead of racing again.

    async def run(tx: Tx) -> HoldOutcome:
        key = await lock_key(tx, key_id)
        if key is None:
            raise UnknownKey(key_id)
        remaining = key.remaining
        refusal = _refusal(key, minimum, now_ms)
        if refusal is not None:
            return HoldOutcome(hold=None, key=key, remaining_before=remaining, refusal=refusal)
        amount = min(wanted, remaining)
        key = await _change_key(tx, key_id, reserved=amount, last_used_at=now_ms)
        await tx.run(_INSERT_HOLD, hold_id=hold_id, key_id=key_id, amount=amount, request_id=request_id, now=now_ms)
        held = Hold(hold_id, key_id, amount, "held", request_id, now_ms)
        return HoldOutcome(hold=held, key=key, remaining_before=remaining)

    return await db.run(run, write=True)


async def _settle(
    tx: Tx, hold_id: str, charge: int, now_ms: int, transfer: LedgerTransfer | None, receipt: ReceiptRow | None
) -> SettleOutcome:
    """The general settlement: every status, sandbox collection, late settlement."""
    row = await tx.one(_LOCK_HOLD, hold_id=hold_id)
    if row is None:
        raise UnknownHold(hold_id)
    current = _hold_from_row(row)
    key = await lock_key(tx, current.key_id)
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
        moved = await ledger.transfer_in(tx, replace(transfer, amount=charged), now_ms)
        if not moved.ok:
            if late:
                finished = await _finish(tx, current, now_ms, release_reason="transfer_failed")
            else:
                key = await _change_key(tx, key.key_id, reserved=-current.amount)
                finished = await _finish(tx, current, now_ms, status="released", release_reason="transfer_failed")
            return SettleOutcome("released_transfer_failed", 0, 0, key, finished, reason=moved.reason)
        tx_hash = moved.tx_hash
    key = await _change_key(tx, key.key_id, used=charged, reserved=0 if late else -current.amount)
    finished = await _finish(tx, current, now_ms, status="settled", charged=charged)
    status: SettleStatus = "settled_after_release" if late else "settled"
    cumulative: Cumulative | None = None
    if receipt is not None and receipt.final_amount == charged:  # the receipt describes this outcome
        cumulative = await receipts.insert_in(tx, receipt)
    return SettleOutcome(status, charged, charge - charged, key, finished, tx_hash=tx_hash, cumulative=cumulative)


async def _sqlite_settle(
    tx: Tx, hold_id: str, charge: int, now_ms: int, transfer: LedgerTransfer | None, receipt: ReceiptRow | None
) -> SettleOutcome:
    """Settlement in SQLite's write transaction: the common case in a few writes, everything
    else by :func:`_settle`."""
    read = None
    affordable = _UNLIMITED
    if transfer is not None:
        read = await ledger.read_transfer(tx, transfer)
        if read is None:  # not a transfer the short path does (a payer paying itself)
            return await _settle(tx, hold_id, charge, now_ms, transfer, receipt)
        affordable = read.affordable
    row = await tx.one(_SQLITE_SETTLE, hold_id=hold_id, charge=charge, affordable=affordable, now=now_ms)
    if row is None:  # nothing written: let the general path tell the case
        return await _settle(tx, hold_id, charge, now_ms, transfer, receipt)
    finished = _hold_from_row(row)
    charged: int = row["charged"]
    tx_hash = None
    if read is not None and charged > 0:
        tx_hash = await ledger.complete(tx, read, charged, now_ms)
    key = await _change_key(tx, finished.key_id, used=charged, reserved=-finished.amount)
    cumulative = None
    if receipt is not None and receipt.final_amount == charged:  # the receipt describes this outcome
        cumulative = await receipts.insert_in(tx, receipt)
    return SettleOutcome("settled", charged, charge - charged, key, finished, tx_hash=tx_hash, cumulative=cumulative)


async def settle_hold(
    db: Database,
    hold_id: str,
    charge: int,
    now_ms: int,
    transfer: LedgerTransfer | None,
    receipt: ReceiptRow | None = None,
) -> SettleOutcome:
    if charge < 0:
        raise ValueError(f"charge must be >= 0, got {charge}")
    if db.is_postgresql and transfer is None:
        params = {"hold_id": hold_id, "charge": charge, "now": now_ms}
        statement = _PG_SETTLE
        if receipt is not None:
            params.update(receipts.receipt_params(receipt))
            statement = _PG_SETTLE_WITH_RECEIPT
        row = await db.one(statement, params, write=True)
        if row is not None:
            finished = _hold_from_row(row, _HOLD_PREFIX)
            charged: int = row[_HOLD_PREFIX + "charged"]
            cumulative = None
            if receipt is not None and row["receipt_count"] is not None:
                cumulative = receipts.cumulative_from_row(row)
            return SettleOutcome(
                "settled", charged, charge - charged, key_from_row(row), finished, cumulative=cumulative
            )
        # Not 'held' (or no such hold): the general transaction tells which case it is.

    async def run(tx: Tx) -> SettleOutcome:
        if tx.dialect == "sqlite":
            return await _sqlite_settle(tx, hold_id, charge, now_ms, transfer, receipt)
        return await _settle(tx, hold_id, charge, now_ms, transfer, receipt)

    return await db.run(run, write=True)


async def _release(db: Database, hold_id: str, reason: ReleaseReason, now_ms: int, before_ms: int) -> bool:
    params = {"hold_id": hold_id, "reason": reason, "now": now_ms, "before": before_ms}
    if db.is_postgresql:
        return await db.one(_PG_RELEASE, params, write=True) is not None

    async def run(tx: Tx) -> bool:
        row = await tx.one(_RELEASE_HOLD, **params)
        if row is None:
            return False
        await _change_key(tx, row["key_id"], reserved=-row["amount"])
        return True

    return await db.run(run, write=True)


async def release_hold(db: Database, hold_id: str, now_ms: int) -> bool:
    """Release a hold that is still ``held`` (the call failed before any output)."""
    return await _release(db, hold_id, "caller", now_ms, _ANY_TIME)


async def release_stale_holds(db: Database, older_than_ms: int, now_ms: int) -> int:
    """Release holds created before ``older_than_ms`` that are still ``held`` (crashed replicas)."""

    async def candidates(tx: Tx) -> list[str]:
        return [row["hold_id"] for row in await tx.all(_STALE, before=older_than_ms)]

    released = 0
    # One short transaction per hold keeps key rows locked briefly; a hold settled meanwhile
    # simply no longer matches.
    for hold_id in await db.run(candidates, write=False):
        released += await _release(db, hold_id, "sweeper", now_ms, older_than_ms)
    return released

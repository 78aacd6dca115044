"""x402 authorization reservations (payments.md §6.6): replay protection across replicas.

The unique key (network, asset, payer, nonce) does the work: a reservation is an
``INSERT … ON CONFLICT DO NOTHING``, so of any number of concurrent attempts with one
authorization exactly one inserts the row. Each operation is one statement atomic by itself
(one round trip on PostgreSQL, :mod:`gateway_core.store.direct`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, String, Text, bindparam, delete, func, or_, select, update

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Row, Tx, dialect_insert
from gateway_core.store.records import Reservation, ReservationState, ReserveResult
from gateway_core.store.schema import x402_reservations

__all__ = ["pending", "release", "reserve", "set_state"]

# Which states a reservation may move to a state from: terminal states never change, and a
# pending settlement is resolved by the reconciler (§6.6 table).
_ALLOWED_FROM: Mapping[ReservationState, tuple[ReservationState, ...]] = {
    "used": ("in_flight",),
    "settled": ("in_flight", "pending"),
    "failed": ("in_flight", "pending"),
    "pending": ("in_flight", "pending"),
}
_INSERT_ATTEMPTS = 3

_c = x402_reservations.c
_KEY = (
    _c.network == bindparam("network", type_=String),
    _c.asset == bindparam("asset", type_=String),
    _c.payer == bindparam("payer", type_=String),
    _c.nonce == bindparam("nonce", type_=String),
)


def _reserve_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect, x402_reservations)
        .values(
            network=bindparam("network", type_=String),
            asset=bindparam("asset", type_=String),
            payer=bindparam("payer", type_=String),
            nonce=bindparam("nonce", type_=String),
            state="in_flight",
            expires_at=bindparam("expires_at", type_=BigInteger),
            request_id=bindparam("request_id", type_=String),
            created_at=bindparam("now", type_=BigInteger),
            updated_at=bindparam("now", type_=BigInteger),
        )
        .on_conflict_do_nothing()
        .returning(_c.state)
    )


def _set_state_statement(state: ReservationState) -> Prepared:
    return Prepared(
        update(x402_reservations)
        # OR rather than IN: an IN list is an "expanding" parameter, rendered per execution.
        .where(*_KEY, or_(*(_c.state == allowed for allowed in _ALLOWED_FROM[state])))
        .values(
            state=state,
            updated_at=bindparam("now", type_=BigInteger),
            detail_json=func.coalesce(bindparam("detail_json", type_=Text), _c.detail_json),
        )
        .returning(_c.state)
    )


_RESERVE = Prepared(_reserve_statement)
_STATE = Prepared(select(_c.state).where(*_KEY))
_SET_STATE = {state: _set_state_statement(state) for state in _ALLOWED_FROM}
_RELEASE = Prepared(delete(x402_reservations).where(*_KEY, _c.state == "in_flight").returning(_c.state))
_PENDING = Prepared(select(x402_reservations).where(_c.state == "pending").order_by(_c.created_at))


def _key(network: str, asset: str, payer: str, nonce: str) -> dict[str, Any]:
    return {"network": network, "asset": asset.lower(), "payer": payer.lower(), "nonce": nonce.lower()}


def _reservation(row: Row) -> Reservation:
    return Reservation(
        network=row["network"],
        asset=row["asset"],
        payer=row["payer"],
        nonce=row["nonce"],
        state=row["state"],
        expires_at=row["expires_at"],
        request_id=row["request_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        detail_json=row["detail_json"],
    )


async def reserve(
    db: Database,
    network: str,
    asset: str,
    payer: str,
    nonce: str,
    expires_at: int,
    request_id: str,
    now_ms: int,
) -> ReserveResult:
    params = {**_key(network, asset, payer, nonce), "expires_at": expires_at, "request_id": request_id, "now": now_ms}
    for _ in range(_INSERT_ATTEMPTS):
        if await db.one(_RESERVE, params, write=True) is not None:
            return "reserved"
        existing = await db.one(_STATE, params, write=False)
        if existing is not None:
            return "in_use" if existing["state"] == "in_flight" else "already_used"
        # The conflicting row was released between the two statements: try again.
    return "in_use"


async def set_state(
    db: Database,
    network: str,
    asset: str,
    payer: str,
    nonce: str,
    state: ReservationState,
    now_ms: int,
    detail_json: str | None,
) -> bool:
    """Move a reservation to ``state``; False when it does not exist or may not move there."""
    if state not in _ALLOWED_FROM:
        raise ValueError(f"cannot set reservation state {state!r}")
    params = {**_key(network, asset, payer, nonce), "now": now_ms, "detail_json": detail_json}
    return await db.one(_SET_STATE[state], params, write=True) is not None


async def release(db: Database, network: str, asset: str, payer: str, nonce: str) -> bool:
    """Delete an ``in_flight`` reservation so the client may retry with the same authorization."""
    return await db.one(_RELEASE, _key(network, asset, payer, nonce), write=True) is not None


async def pending(db: Database) -> list[Reservation]:
    """Reservations whose settlement outcome is unknown, oldest first (for reconciliation)."""

    async def run(tx: Tx) -> list[Reservation]:
        return [_reservation(row) for row in await tx.all(_PENDING)]

    return await db.run(run, write=False)

"""x402 authorization reservations (payments.md §6.6): replay protection across replicas.

The unique key (network, asset, payer, nonce) does the work: a reservation is an
``INSERT … ON CONFLICT DO NOTHING``, so of any number of concurrent attempts with one
authorization exactly one inserts the row.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
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


def _key(network: str, asset: str, payer: str, nonce: str) -> list[ColumnElement[bool]]:
    c = x402_reservations.c
    return [c.network == network, c.asset == asset.lower(), c.payer == payer.lower(), c.nonce == nonce.lower()]


def _reservation(row: RowMapping) -> Reservation:
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
    statement = (
        db.insert(x402_reservations)
        .values(
            network=network,
            asset=asset.lower(),
            payer=payer.lower(),
            nonce=nonce.lower(),
            state="in_flight",
            expires_at=expires_at,
            request_id=request_id,
            created_at=now_ms,
            updated_at=now_ms,
        )
        .on_conflict_do_nothing()
        .returning(x402_reservations.c.state)
    )
    existing = select(x402_reservations.c.state).where(*_key(network, asset, payer, nonce))

    async def run(conn: AsyncConnection) -> ReserveResult:
        for _ in range(_INSERT_ATTEMPTS):
            if (await conn.execute(statement)).first() is not None:
                return "reserved"
            state = await conn.scalar(existing)
            if state is not None:
                return "in_use" if state == "in_flight" else "already_used"
            # The conflicting row was released between the two statements: try again.
        return "in_use"

    return await db.write(run)


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
    values: dict[str, object] = {"state": state, "updated_at": now_ms}
    if detail_json is not None:
        values["detail_json"] = detail_json
    statement = (
        update(x402_reservations)
        .where(*_key(network, asset, payer, nonce), x402_reservations.c.state.in_(_ALLOWED_FROM[state]))
        .values(values)
    )

    async def run(conn: AsyncConnection) -> bool:
        return (await conn.execute(statement)).rowcount == 1

    return await db.write(run)


async def release(db: Database, network: str, asset: str, payer: str, nonce: str) -> bool:
    """Delete an ``in_flight`` reservation so the client may retry with the same authorization."""
    statement = delete(x402_reservations).where(
        *_key(network, asset, payer, nonce), x402_reservations.c.state == "in_flight"
    )

    async def run(conn: AsyncConnection) -> bool:
        return (await conn.execute(statement)).rowcount == 1

    return await db.write(run)


async def pending(db: Database) -> list[Reservation]:
    """Reservations whose settlement outcome is unknown, oldest first (for reconciliation)."""
    query = (
        select(x402_reservations).where(x402_reservations.c.state == "pending").order_by(x402_reservations.c.created_at)
    )

    async def run(conn: AsyncConnection) -> list[Reservation]:
        return [_reservation(row) for row in (await conn.execute(query)).mappings()]

    return await db.read(run)

"""Response records (responses.md §6): create, read, conditional update, cancel, history.

A record is live until ``expires_at``; from then on every operation treats it as missing
(``prune`` deletes it later). ``queued`` and ``in_progress`` are the only statuses that
change (and a ``cancelled`` one takes its run's final output): every update is one
conditional ``UPDATE … WHERE status IN (…)``, so a record that was cancelled or finished
while a call ran is never moved back, whichever replica writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping

from gateway_core.store.database import Database
from gateway_core.store.errors import StoreError
from gateway_core.store.records import ResponseRecord, ResponseStatus
from gateway_core.store.schema import response_records

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "DEFAULT_MAX_CHAIN_DEPTH",
    "ResponseChainError",
    "create_response",
    "get_response",
    "request_cancel",
    "response_chain",
    "update_response",
]

DEFAULT_MAX_CHAIN_DEPTH = 1000  # spec/responses.md §3.3
_OPEN: tuple[ResponseStatus, ...] = ("queued", "in_progress")
# Which statuses a record may move to a status from: nothing leaves a final status, and a
# running call does not go back to the queue.
_ALLOWED_FROM: Mapping[ResponseStatus, tuple[ResponseStatus, ...]] = {
    "queued": ("queued",),
    "in_progress": _OPEN,
    "completed": _OPEN,
    "incomplete": _OPEN,
    "failed": _OPEN,
    # A cancelled run records what it delivered after the cancel.
    "cancelled": (*_OPEN, "cancelled"),
}


class ResponseChainError(StoreError):
    """A ``previous_response_id`` chain cannot be followed (responses.md §3.3).

    ``response_id`` is the record at fault: the one seen twice (``cycle``), the one missing
    or expired (``missing``), or the first one past the depth limit (``too_deep``).
    """

    def __init__(self, reason: Literal["cycle", "missing", "too_deep"], response_id: str) -> None:
        super().__init__(f"response chain {reason} at {response_id!r}")
        self.reason: Literal["cycle", "missing", "too_deep"] = reason
        self.response_id = response_id


def _record(row: RowMapping) -> ResponseRecord:
    return ResponseRecord(
        response_id=row["response_id"],
        status=row["status"],
        model=row["model"],
        owner_kind=row["owner_kind"],
        owner_id=row["owner_id"],
        previous_response_id=row["previous_response_id"],
        request_json=row["request_json"],
        input_items_json=row["input_items_json"],
        output_json=row["output_json"],
        usage_json=row["usage_json"],
        error_json=row["error_json"],
        background=bool(row["background"]),
        cancel_requested=bool(row["cancel_requested"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        expires_at=row["expires_at"],
    )


async def _live(conn: AsyncConnection, response_id: str, now_ms: int) -> ResponseRecord | None:
    c = response_records.c
    query = select(response_records).where(c.response_id == response_id, c.expires_at > now_ms)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def create_response(db: Database, record: ResponseRecord) -> None:
    statement = insert(response_records).values(
        response_id=record.response_id,
        status=record.status,
        model=record.model,
        owner_kind=record.owner_kind,
        owner_id=record.owner_id,
        previous_response_id=record.previous_response_id,
        request_json=record.request_json,
        input_items_json=record.input_items_json,
        output_json=record.output_json,
        usage_json=record.usage_json,
        error_json=record.error_json,
        background=record.background,
        cancel_requested=record.cancel_requested,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
    )

    async def run(conn: AsyncConnection) -> None:
        await conn.execute(statement)

    await db.write(run)


async def get_response(db: Database, response_id: str, now_ms: int) -> ResponseRecord | None:
    async def run(conn: AsyncConnection) -> ResponseRecord | None:
        return await _live(conn, response_id, now_ms)

    return await db.read(run)


async def update_response(
    db: Database,
    response_id: str,
    now_ms: int,
    *,
    status: ResponseStatus | None,
    output_json: str | None,
    usage_json: str | None,
    error_json: str | None,
) -> bool:
    """Set the given fields (None = unchanged) of a live, still open record; False when it is
    missing, expired, or its status may not move to ``status``."""
    if status is not None and status not in _ALLOWED_FROM:
        raise ValueError(f"cannot set response status {status!r}")
    values: dict[str, object] = {"updated_at": now_ms}
    if status is not None:
        values["status"] = status
    if output_json is not None:
        values["output_json"] = output_json
    if usage_json is not None:
        values["usage_json"] = usage_json
    if error_json is not None:
        values["error_json"] = error_json
    c = response_records.c
    statement = (
        update(response_records)
        .where(
            c.response_id == response_id,
            c.expires_at > now_ms,
            c.status.in_(_OPEN if status is None else _ALLOWED_FROM[status]),
        )
        .values(values)
    )

    async def run(conn: AsyncConnection) -> bool:
        return (await conn.execute(statement)).rowcount == 1

    return await db.write(run)


async def request_cancel(db: Database, response_id: str, now_ms: int) -> ResponseRecord | None:
    """Cancel an open record: ``cancelled`` at once with ``cancel_requested`` set, whether
    queued or running (its runner, on any replica, sees the record closed at its next
    conditional write and stops). A final record is returned unchanged; None when missing or
    expired."""
    c = response_records.c
    statement = (
        update(response_records)
        .where(c.response_id == response_id, c.expires_at > now_ms, c.status.in_(_OPEN))
        .values(
            cancel_requested=True,
            status="cancelled",
            updated_at=now_ms,
        )
        .returning(*response_records.c)
    )

    async def run(conn: AsyncConnection) -> ResponseRecord | None:
        row = (await conn.execute(statement)).mappings().first()
        if row is not None:
            return _record(row)
        return await _live(conn, response_id, now_ms)

    return await db.write(run)


async def response_chain(
    db: Database, response_id: str, now_ms: int, max_depth: int = DEFAULT_MAX_CHAIN_DEPTH
) -> list[ResponseRecord]:
    """``response_id`` and its ``previous_response_id`` ancestors, oldest first.

    :raises ResponseChainError: a record of the chain is missing or expired, appears twice,
        or the chain is longer than ``max_depth`` records.
    """

    async def run(conn: AsyncConnection) -> list[ResponseRecord]:
        chain: list[ResponseRecord] = []
        seen: set[str] = set()
        next_id: str | None = response_id
        while next_id is not None:
            if next_id in seen:
                raise ResponseChainError("cycle", next_id)
            if len(chain) >= max_depth:
                raise ResponseChainError("too_deep", next_id)
            record = await _live(conn, next_id, now_ms)
            if record is None:
                raise ResponseChainError("missing", next_id)
            chain.append(record)
            seen.add(next_id)
            next_id = record.previous_response_id
        chain.reverse()
        return chain

    # One read transaction: the whole chain comes from one snapshot.
    return await db.read(run)

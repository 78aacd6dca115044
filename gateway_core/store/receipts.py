"""Stored receipts and their cumulative totals (payments.md §8).

The totals live in ``receipt_totals``, one row per (payer, network), bumped by an upsert in
the same transaction that inserts the receipt. The upsert locks that row, so concurrent
receipts of one payer are numbered 1, 2, 3 … without gaps and each receipt's snapshot
includes itself and every receipt before it.

Storing a receipt is one statement on PostgreSQL (the upsert and the insert as data-modifying
CTEs, :func:`receipt_ctes`) and one SQLite job (:func:`insert_in`). A Compose Key settlement
stores its receipt in its own transaction (:mod:`gateway_core.store.holds`), so the receipt a
response names can be fetched as soon as the response is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import CTE, BigInteger, ColumnElement, Integer, String, Text, bindparam, insert, literal, select

from gateway_core.store.database import Database
from gateway_core.store.prepared import Prepared, Row, Tx, dialect_insert
from gateway_core.store.records import Cumulative, ReceiptRow
from gateway_core.store.schema import receipt_totals, receipts

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "cumulative_from_row",
    "get_receipt",
    "insert_in",
    "insert_receipt",
    "list_receipts",
    "receipt_ctes",
    "receipt_params",
]

_r = receipts.c
_t = receipt_totals.c
# The receipt's own fields as bind parameters, named as in ReceiptRow.
_FIELDS: dict[str, Any] = {
    "receipt_id": bindparam("receipt_id", type_=String),
    "payer": bindparam("payer", type_=String),
    "network": bindparam("network", type_=String),
    "payment_method": bindparam("payment_method", type_=String),
    "key_id": bindparam("key_id", type_=String),
    "final_amount": bindparam("final_amount", type_=BigInteger),
    "provider_amount": bindparam("provider_amount", type_=BigInteger),
    "platform_fee": bindparam("platform_fee", type_=BigInteger),
    "body_json": bindparam("body_json", type_=Text),
    "created_at": bindparam("created_at", type_=BigInteger),
}
_TOTALS = (_t.total_amount, _t.provider_amount, _t.platform_fee, _t.receipt_count)


def _bumping(totals: sqlite.Insert | postgresql.Insert) -> Any:
    """``totals`` (a new payer's first totals) as an upsert adding to existing totals instead,
    returning the totals after it."""
    return totals.on_conflict_do_update(
        index_elements=[_t.payer, _t.network],
        set_={
            "total_amount": _t.total_amount + totals.excluded.total_amount,
            "provider_amount": _t.provider_amount + totals.excluded.provider_amount,
            "platform_fee": _t.platform_fee + totals.excluded.platform_fee,
            "receipt_count": _t.receipt_count + 1,
        },
    ).returning(*_TOTALS)


def _bump(dialect: str) -> Any:
    first = dialect_insert(dialect, receipt_totals).values(
        payer=_FIELDS["payer"],
        network=_FIELDS["network"],
        total_amount=_FIELDS["final_amount"],
        provider_amount=_FIELDS["provider_amount"],
        platform_fee=_FIELDS["platform_fee"],
        receipt_count=1,
    )
    return _bumping(first)


_BUMP = Prepared(_bump)
_INSERT = Prepared(
    insert(receipts).values(
        **_FIELDS,
        cum_total=bindparam("cum_total", type_=BigInteger),
        cum_provider=bindparam("cum_provider", type_=BigInteger),
        cum_fee=bindparam("cum_fee", type_=BigInteger),
        cum_count=bindparam("cum_count", type_=BigInteger),
    )
)
_GET = Prepared(select(receipts).where(_r.receipt_id == bindparam("receipt_id", type_=String)))
_PAGE = Prepared(
    select(receipts)
    .where(_r.payer == bindparam("payer", type_=String), _r.network == bindparam("network", type_=String))
    .order_by(_r.cum_count.desc())
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("offset", type_=Integer))
)
_CURRENT = Prepared(
    select(*_TOTALS).where(
        _t.payer == bindparam("payer", type_=String), _t.network == bindparam("network", type_=String)
    )
)


def receipt_ctes(gate: ColumnElement[bool] | None = None) -> tuple[CTE, CTE]:
    """PostgreSQL: the data-modifying CTEs that store one receipt, its fields bound as in
    :func:`receipt_params`: ``receipt_totals`` bumps the payer's totals and returns them (the
    snapshot), ``stored_receipt`` inserts the receipt with that snapshot. With ``gate``,
    neither does anything unless it is true. Add both to the statement (``add_cte``): a
    data-modifying CTE runs even when nothing reads it, but is only rendered when named."""
    source = select(
        _FIELDS["payer"],
        _FIELDS["network"],
        _FIELDS["final_amount"],
        _FIELDS["provider_amount"],
        _FIELDS["platform_fee"],
        literal(1, BigInteger),
    )
    if gate is not None:
        source = source.where(gate)
    first = dialect_insert("postgresql", receipt_totals).from_select(
        ["payer", "network", "total_amount", "provider_amount", "platform_fee", "receipt_count"], source
    )
    totals = _bumping(first).cte("receipt_totals_after")
    columns = [*_FIELDS, "cum_total", "cum_provider", "cum_fee", "cum_count"]
    stored = (
        insert(receipts)
        .from_select(
            columns,
            select(
                *_FIELDS.values(),
                totals.c.total_amount,
                totals.c.provider_amount,
                totals.c.platform_fee,
                totals.c.receipt_count,
            ),
        )
        .returning(_r.receipt_id)
        .cte("stored_receipt")
    )
    return totals, stored


def _pg_insert() -> Any:
    totals, stored = receipt_ctes()
    return select(*totals.c).add_cte(stored)


_PG_INSERT = Prepared(lambda _dialect: _pg_insert())


def receipt_params(receipt: ReceiptRow) -> dict[str, Any]:
    """A receipt's fields as the bind parameters of the statements here."""
    return {
        "receipt_id": receipt.receipt_id,
        "payer": receipt.payer.lower(),
        "network": receipt.network,
        "payment_method": receipt.payment_method,
        "key_id": receipt.key_id,
        "final_amount": receipt.final_amount,
        "provider_amount": receipt.provider_amount,
        "platform_fee": receipt.platform_fee,
        "body_json": receipt.body_json,
        "created_at": receipt.created_at,
    }


def cumulative_from_row(row: Row) -> Cumulative:
    """The totals columns of ``receipt_totals`` (as returned by the statements here)."""
    return Cumulative(
        total_amount=row["total_amount"],
        provider_amount=row["provider_amount"],
        platform_fee=row["platform_fee"],
        receipt_count=row["receipt_count"],
    )


def _receipt(row: Row) -> ReceiptRow:
    return ReceiptRow(
        receipt_id=row["receipt_id"],
        payer=row["payer"],
        network=row["network"],
        payment_method=row["payment_method"],
        key_id=row["key_id"],
        final_amount=row["final_amount"],
        provider_amount=row["provider_amount"],
        platform_fee=row["platform_fee"],
        body_json=row["body_json"],
        created_at=row["created_at"],
        cumulative=Cumulative(
            total_amount=row["cum_total"],
            provider_amount=row["cum_provider"],
            platform_fee=row["cum_fee"],
            receipt_count=row["cum_count"],
        ),
    )


async def insert_in(tx: Tx, receipt: ReceiptRow) -> Cumulative:
    """Store ``receipt`` inside the caller's write transaction; the payer's totals including it."""
    params = receipt_params(receipt)
    after = await tx.one(_BUMP, **params)
    if after is None:  # pragma: no cover - an upsert always returns its row
        raise RuntimeError("receipt totals upsert returned nothing")
    cumulative = cumulative_from_row(after)
    await tx.run(
        _INSERT,
        **params,
        cum_total=cumulative.total_amount,
        cum_provider=cumulative.provider_amount,
        cum_fee=cumulative.platform_fee,
        cum_count=cumulative.receipt_count,
    )
    return cumulative


async def insert_receipt(db: Database, receipt: ReceiptRow) -> Cumulative:
    if db.is_postgresql:
        row = await db.one(_PG_INSERT, receipt_params(receipt), write=True)
        if row is None:  # pragma: no cover - the upsert always returns its row
            raise RuntimeError("receipt insert returned nothing")
        return cumulative_from_row(row)

    async def run(tx: Tx) -> Cumulative:
        return await insert_in(tx, receipt)

    return await db.run(run, write=True)


async def get_receipt(db: Database, receipt_id: str) -> ReceiptRow | None:
    row = await db.one(_GET, {"receipt_id": receipt_id}, write=False)
    return None if row is None else _receipt(row)


async def list_receipts(
    db: Database, wallet: str, network: str, limit: int, offset: int
) -> tuple[list[ReceiptRow], Cumulative]:
    """One page of the payer's receipts on ``network``, newest first, and the current totals."""
    params = {"payer": wallet.lower(), "network": network, "limit": limit, "offset": offset}

    async def run(tx: Tx) -> tuple[list[ReceiptRow], Cumulative]:
        rows = [_receipt(row) for row in await tx.all(_PAGE, **params)]
        current = await tx.one(_CURRENT, **params)
        return rows, Cumulative() if current is None else cumulative_from_row(current)

    return await db.run(run, write=False)

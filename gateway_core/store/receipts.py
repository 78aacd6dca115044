"""Stored receipts and their cumulative totals (payments.md §8).

The totals live in ``receipt_totals``, one row per (payer, network), bumped by an upsert in
the same transaction that inserts the receipt. The upsert locks that row, so concurrent
receipts of one payer are numbered 1, 2, 3 … without gaps and each receipt's snapshot
includes itself and every receipt before it.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_core.store.database import Database
from gateway_core.store.records import Cumulative, ReceiptRow
from gateway_core.store.schema import receipt_totals, receipts

__all__ = ["get_receipt", "insert_receipt", "list_receipts"]


def _receipt(row: RowMapping) -> ReceiptRow:
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


async def insert_receipt(db: Database, receipt: ReceiptRow) -> Cumulative:
    payer = receipt.payer.lower()
    totals = db.insert(receipt_totals).values(
        payer=payer,
        network=receipt.network,
        total_amount=receipt.final_amount,
        provider_amount=receipt.provider_amount,
        platform_fee=receipt.platform_fee,
        receipt_count=1,
    )
    t = receipt_totals.c
    bump = totals.on_conflict_do_update(
        index_elements=[t.payer, t.network],
        set_={
            "total_amount": t.total_amount + totals.excluded.total_amount,
            "provider_amount": t.provider_amount + totals.excluded.provider_amount,
            "platform_fee": t.platform_fee + totals.excluded.platform_fee,
            "receipt_count": t.receipt_count + 1,
        },
    ).returning(t.total_amount, t.provider_amount, t.platform_fee, t.receipt_count)

    async def run(conn: AsyncConnection) -> Cumulative:
        after = (await conn.execute(bump)).one()
        cumulative = Cumulative(
            total_amount=after.total_amount,
            provider_amount=after.provider_amount,
            platform_fee=after.platform_fee,
            receipt_count=after.receipt_count,
        )
        await conn.execute(
            insert(receipts).values(
                receipt_id=receipt.receipt_id,
                payer=payer,
                network=receipt.network,
                payment_method=receipt.payment_method,
                key_id=receipt.key_id,
                final_amount=receipt.final_amount,
                provider_amount=receipt.provider_amount,
                platform_fee=receipt.platform_fee,
                cum_total=cumulative.total_amount,
                cum_provider=cumulative.provider_amount,
                cum_fee=cumulative.platform_fee,
                cum_count=cumulative.receipt_count,
                body_json=receipt.body_json,
                created_at=receipt.created_at,
            )
        )
        return cumulative

    return await db.write(run)


async def get_receipt(db: Database, receipt_id: str) -> ReceiptRow | None:
    async def run(conn: AsyncConnection) -> ReceiptRow | None:
        row = (await conn.execute(select(receipts).where(receipts.c.receipt_id == receipt_id))).mappings().first()
        return None if row is None else _receipt(row)

    return await db.read(run)


async def list_receipts(
    db: Database, wallet: str, network: str, limit: int, offset: int
) -> tuple[list[ReceiptRow], Cumulative]:
    """One page of the payer's receipts on ``network``, newest first, and the current totals."""
    payer = wallet.lower()
    page = (
        select(receipts)
        .where(receipts.c.payer == payer, receipts.c.network == network)
        .order_by(receipts.c.cum_count.desc())
        .limit(limit)
        .offset(offset)
    )
    totals = select(receipt_totals).where(receipt_totals.c.payer == payer, receipt_totals.c.network == network)

    async def run(conn: AsyncConnection) -> tuple[list[ReceiptRow], Cumulative]:
        rows = [_receipt(row) for row in (await conn.execute(page)).mappings()]
        current = (await conn.execute(totals)).mappings().first()
        if current is None:
            return rows, Cumulative()
        cumulative = Cumulative(
            total_amount=current["total_amount"],
            provider_amount=current["provider_amount"],
            platform_fee=current["platform_fee"],
            receipt_count=current["receipt_count"],
        )
        return rows, cumulative

    return await db.read(run)

"""Stored receipts and cumulative totals (payments.md §8)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from store_helpers import NETWORK, NOW, OTHER_WALLET, WALLET

from gateway_core.store import Cumulative, DuplicateRecord, ReceiptRow, Store

pytestmark = pytest.mark.anyio


def _receipt(n: int, final: int, *, payer: str = WALLET, network: str = NETWORK) -> ReceiptRow:
    fee = final // 10
    return ReceiptRow(
        receipt_id=f"rct_{n:032x}",
        payer=payer,
        network=network,
        payment_method="x402",
        key_id=None,
        final_amount=final,
        provider_amount=final - fee,
        platform_fee=fee,
        body_json=f'{{"n":{n}}}',
        created_at=NOW + n,
    )


async def test_cumulative_includes_the_new_receipt(store: Store) -> None:
    assert await store.insert_receipt(_receipt(1, 23)) == Cumulative(23, 21, 2, 1)
    assert await store.insert_receipt(_receipt(2, 100)) == Cumulative(123, 111, 12, 2)
    # Other payers and networks keep their own totals.
    assert await store.insert_receipt(_receipt(3, 7, payer=OTHER_WALLET)) == Cumulative(7, 7, 0, 1)
    assert await store.insert_receipt(_receipt(4, 9, network="eip155:43113")) == Cumulative(9, 9, 0, 1)


async def test_get_receipt_round_trips_with_its_snapshot(store: Store) -> None:
    await store.insert_receipt(_receipt(1, 23))
    await store.insert_receipt(replace(_receipt(2, 5), payer=WALLET.upper().replace("0X", "0x"), key_id="k1"))
    stored = await store.get_receipt(f"rct_{2:032x}")
    assert stored == replace(_receipt(2, 5), key_id="k1", cumulative=Cumulative(28, 26, 2, 2))
    assert await store.get_receipt("rct_missing") is None


async def test_list_is_newest_first_and_paged_with_current_totals(store: Store) -> None:
    for n in range(1, 6):
        await store.insert_receipt(_receipt(n, 10 * n))
    await store.insert_receipt(_receipt(9, 1000, payer=OTHER_WALLET))
    page, totals = await store.list_receipts(WALLET.upper().replace("0X", "0x"), NETWORK, 2, 1)
    assert [r.receipt_id for r in page] == [f"rct_{4:032x}", f"rct_{3:032x}"]
    assert totals == Cumulative(150, 150 - 15, 15, 5)
    assert await store.list_receipts(WALLET, "eip155:1", 10, 0) == ([], Cumulative())


async def test_duplicate_receipt_leaves_totals_untouched(store: Store) -> None:
    await store.insert_receipt(_receipt(1, 23))
    with pytest.raises(DuplicateRecord):
        await store.insert_receipt(_receipt(1, 50))
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0))[1] == Cumulative(23, 21, 2, 1)


async def test_concurrent_inserts_sum_exactly(store: Store, second_store: Store) -> None:
    finals = [n * 7 + 3 for n in range(40)]
    snapshots = await asyncio.gather(
        *(
            (store, second_store)[n % 2].insert_receipt(_receipt(n, final, payer=(WALLET, OTHER_WALLET)[n % 4 // 3]))
            for n, final in enumerate(finals)
        )
    )
    for payer in (WALLET, OTHER_WALLET):
        mine = [n for n in range(40) if (WALLET, OTHER_WALLET)[n % 4 // 3] == payer]
        rows, totals = await store.list_receipts(payer, NETWORK, 200, 0)
        assert totals.total_amount == sum(finals[n] for n in mine)
        assert totals.receipt_count == len(mine) == len(rows)
        # Each snapshot counts exactly the receipts numbered up to it, itself included.
        ordered = sorted(rows, key=lambda r: r.cumulative.receipt_count if r.cumulative else 0)
        running = 0
        for position, row in enumerate(ordered, start=1):
            running += row.final_amount
            assert row.cumulative == snapshots[int(row.body_json[5:-1])]
            assert (row.cumulative.receipt_count, row.cumulative.total_amount) == (position, running)

"""Settling and releasing holds, sandbox collection and the receipt in the same transaction, the
sweeper (payments.md §3.1 steps 5, 6, 8, 9)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from store_helpers import ASSET, MERCHANT, NETWORK, NOW, WALLET, make_key, sqlite_statements

from gateway_core.store import (
    UINT256_MAX,
    Cumulative,
    DuplicateRecord,
    Hold,
    LedgerTransfer,
    ReceiptRow,
    Store,
    UnknownHold,
)

pytestmark = pytest.mark.anyio

COLLECT = LedgerTransfer(NETWORK, ASSET, WALLET, MERCHANT, amount=999_999, allowance="spender")


async def _held(store: Store, amount: int = 50, *, limit: int = 100, request: str = "req_1", at: int = NOW) -> Hold:
    if await store.get_key("k1") is None:
        await store.create_key(make_key("k1", limit=limit))
    outcome = await store.hold("k1", amount, amount, request, at)
    assert outcome.hold is not None
    return outcome.hold


@pytest.mark.parametrize(
    ("charge", "charged", "uncollected"),
    [
        pytest.param(30, 30, 0, id="below-hold"),
        pytest.param(50, 50, 0, id="equal-hold"),
        pytest.param(80, 50, 30, id="above-hold-capped"),
        pytest.param(0, 0, 0, id="zero"),
    ],
)
async def test_settle_charges_min_of_charge_and_hold(store: Store, charge: int, charged: int, uncollected: int) -> None:
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, charge, NOW + 10)
    assert (outcome.status, outcome.charged, outcome.uncollected, outcome.tx_hash) == (
        "settled",
        charged,
        uncollected,
        None,
    )
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (charged, 0)
    assert (outcome.hold.status, outcome.hold.charged, outcome.hold.finished_at) == ("settled", charged, NOW + 10)


async def test_settle_is_idempotent_and_release_after_settle_does_nothing(store: Store) -> None:
    hold = await _held(store, 50)
    first = await store.settle_hold(hold.hold_id, 20, NOW + 1)
    second = await store.settle_hold(hold.hold_id, 20, NOW + 2)
    assert (second.status, second.charged, second.uncollected) == ("already_settled", 0, 0)
    assert second.key == first.key
    assert await store.release_hold(hold.hold_id) is False
    key = await store.get_key("k1")
    assert key is not None and (key.budget_used, key.budget_reserved) == (20, 0)


async def test_release_returns_the_hold_once_and_blocks_a_later_settle(store: Store) -> None:
    hold = await _held(store, 50)
    assert await store.release_hold(hold.hold_id) is True
    assert await store.release_hold(hold.hold_id) is False
    outcome = await store.settle_hold(hold.hold_id, 20, NOW + 1)
    assert (outcome.status, outcome.charged) == ("already_released", 0)
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (0, 0)
    assert (outcome.hold.status, outcome.hold.release_reason) == ("released", "caller")


async def test_settle_and_release_unknown_holds(store: Store) -> None:
    with pytest.raises(UnknownHold):
        await store.settle_hold("hold_missing", 1, NOW)
    assert await store.release_hold("hold_missing") is False


async def test_settle_collects_on_the_ledger_in_the_same_transaction(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 1000, approve_permit2=False, approve_spender=True)
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 70, NOW + 1, COLLECT)
    assert (outcome.status, outcome.charged, outcome.uncollected) == ("settled", 50, 20)
    assert outcome.tx_hash is not None and len(outcome.tx_hash) == 66
    payer = await store.ledger_account(NETWORK, ASSET, WALLET)
    merchant = await store.ledger_account(NETWORK, ASSET, MERCHANT)
    assert (payer.balance, merchant.balance) == (950, 50)  # the charge moved, not transfer.amount
    [record] = await store.ledger_transfers(NETWORK, ASSET, WALLET)
    assert (record.tx_hash, record.amount, record.to_address) == (outcome.tx_hash, 50, MERCHANT)


async def test_zero_charge_settles_without_a_transfer(store: Store) -> None:
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 0, NOW + 1, COLLECT)
    assert (outcome.status, outcome.charged, outcome.tx_hash) == ("settled", 0, None)
    assert await store.ledger_transfers(NETWORK, ASSET, WALLET) == []


@pytest.mark.parametrize(
    ("balance", "approve", "reason"),
    [
        pytest.param(0, True, "allowance_too_low", id="unknown-account"),  # the allowance is checked first
        pytest.param(10, True, "insufficient_funds", id="balance-below-charge"),
        pytest.param(1000, False, "allowance_too_low", id="no-spender-allowance"),
    ],
)
async def test_failed_collection_releases_the_hold_and_charges_nothing(
    store: Store, balance: int, approve: bool, reason: str
) -> None:
    if balance:
        await store.ledger_fund(NETWORK, ASSET, WALLET, balance, approve_permit2=False, approve_spender=approve)
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 30, NOW + 1, COLLECT)
    assert (outcome.status, outcome.charged, outcome.reason, outcome.tx_hash) == (
        "released_transfer_failed",
        0,
        reason,
        None,
    )
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (0, 0)
    assert (outcome.hold.status, outcome.hold.release_reason) == ("released", "transfer_failed")
    assert (await store.ledger_account(NETWORK, ASSET, WALLET)).balance == balance
    assert (await store.settle_hold(hold.hold_id, 30, NOW + 2, COLLECT)).status == "already_released"


@pytest.mark.parametrize(
    ("taken_meanwhile", "charge", "charged", "uncollected"),
    [
        pytest.param(70, 45, 30, 15, id="capped-by-remaining-budget"),
        pytest.param(20, 45, 45, 0, id="budget-still-there"),
        pytest.param(20, 90, 50, 40, id="capped-by-the-hold"),
        pytest.param(100, 45, 0, 45, id="nothing-left"),
    ],
)
async def test_late_settle_after_the_sweeper_charges_what_is_left(
    store: Store, taken_meanwhile: int, charge: int, charged: int, uncollected: int
) -> None:
    hold = await _held(store, 50, at=NOW)
    assert await store.release_stale_holds(NOW + 1) == 1
    assert (await store.hold("k1", taken_meanwhile, taken_meanwhile, "req_2", NOW + 2)).hold is not None
    outcome = await store.settle_hold(hold.hold_id, charge, NOW + 3)
    assert (outcome.status, outcome.charged, outcome.uncollected) == ("settled_after_release", charged, uncollected)
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (charged, taken_meanwhile)
    assert (await store.settle_hold(hold.hold_id, charge, NOW + 4)).status == "already_settled"


async def test_late_settle_with_failed_collection_charges_nothing(store: Store) -> None:
    hold = await _held(store, 50, at=NOW)
    assert await store.release_stale_holds(NOW + 1) == 1
    outcome = await store.settle_hold(hold.hold_id, 30, NOW + 2, COLLECT)
    assert (outcome.status, outcome.charged, outcome.reason) == ("released_transfer_failed", 0, "allowance_too_low")
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (0, 0)


async def test_sweeper_releases_only_old_holds_still_held(store: Store) -> None:
    old = await _held(store, 10, limit=1000, request="old", at=NOW)
    settled = await _held(store, 10, request="settled", at=NOW)
    young = await _held(store, 10, request="young", at=NOW + 100)
    await store.settle_hold(settled.hold_id, 5, NOW + 1)
    assert await store.release_stale_holds(NOW + 50) == 1
    assert await store.release_stale_holds(NOW + 50) == 0
    swept = await store.get_hold(old.hold_id)
    assert swept is not None and (swept.status, swept.release_reason) == ("released", "sweeper")
    assert (await store.get_hold(young.hold_id)) == young
    key = await store.get_key("k1")
    assert key is not None and (key.budget_used, key.budget_reserved) == (5, 10)


async def test_racing_settle_release_and_sweep_act_once(store: Store, second_store: Store) -> None:
    for i in range(10):
        hold = await _held(store, 50, limit=10_000, request=f"req_{i}", at=NOW)
        results = await asyncio.gather(
            store.settle_hold(hold.hold_id, 40, NOW + 1),
            second_store.release_hold(hold.hold_id),
            second_store.release_stale_holds(NOW + 1),
        )
        settle, released, swept = results
        # Exactly one of them moves the hold away from 'held'; a settle after the sweep is late.
        assert [settle.status == "settled", released, swept == 1].count(True) == 1
        assert settle.status != "settled_after_release" or swept == 1
    key = await store.get_key("k1")
    assert key is not None and key.budget_reserved == 0
    assert key.budget_used % 40 == 0 and key.budget_used <= 400


def _receipt(n: int, final: int, *, key_id: str | None = "k1") -> ReceiptRow:
    return ReceiptRow(
        receipt_id=f"rct_{n:032x}",
        payer=WALLET.upper().replace("0X", "0x"),
        network=NETWORK,
        payment_method="compose_key",
        key_id=key_id,
        final_amount=final,
        provider_amount=final - final // 10,
        platform_fee=final // 10,
        body_json=f'{{"n":{n}}}',
        created_at=NOW + n,
    )


async def test_settle_stores_the_receipt_in_the_same_transaction(store: Store) -> None:
    await store.insert_receipt(_receipt(1, 7))  # an earlier receipt of the payer
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 30, NOW + 10, receipt=_receipt(2, 30))
    assert (outcome.status, outcome.charged) == ("settled", 30)
    assert outcome.cumulative == Cumulative(37, 37 - 3, 3, 2)
    stored = await store.get_receipt(f"rct_{2:032x}")
    assert stored is not None and (stored.cumulative, stored.payer, stored.key_id) == (outcome.cumulative, WALLET, "k1")
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0))[1] == outcome.cumulative


@pytest.mark.parametrize(
    ("charge", "receipt_amount"),
    [
        pytest.param(80, 80, id="charge-capped-by-the-hold"),
        pytest.param(30, 29, id="receipt-for-another-amount"),
    ],
)
async def test_receipt_of_another_charge_is_not_stored(store: Store, charge: int, receipt_amount: int) -> None:
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, charge, NOW + 1, receipt=_receipt(1, receipt_amount))
    assert outcome.status == "settled" and outcome.cumulative is None
    assert await store.get_receipt(f"rct_{1:032x}") is None
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0)) == ([], Cumulative())


async def test_no_op_settlements_store_no_receipt(store: Store) -> None:
    settled, released = await _held(store, 20, request="a"), await _held(store, 20, request="b")
    await store.settle_hold(settled.hold_id, 0, NOW + 1)
    await store.release_hold(released.hold_id)
    again = await store.settle_hold(settled.hold_id, 0, NOW + 2, receipt=_receipt(1, 0))
    late = await store.settle_hold(released.hold_id, 0, NOW + 2, receipt=_receipt(2, 0))
    assert (again.status, again.cumulative, late.status, late.cumulative) == (
        "already_settled",
        None,
        "already_released",
        None,
    )
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0)) == ([], Cumulative())


async def test_late_settlement_stores_the_receipt_of_what_it_charged(store: Store) -> None:
    hold = await _held(store, 50, at=NOW)
    assert await store.release_stale_holds(NOW + 1) == 1
    assert (await store.hold("k1", 70, 70, "req_2", NOW + 2)).hold is not None  # 30 left
    outcome = await store.settle_hold(hold.hold_id, 45, NOW + 3, receipt=_receipt(1, 30))
    assert (outcome.status, outcome.charged, outcome.uncollected) == ("settled_after_release", 30, 15)
    assert outcome.cumulative == Cumulative(30, 27, 3, 1)


async def test_sandbox_collection_and_receipt_share_the_transaction(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 1000, approve_permit2=False, approve_spender=True)
    hold = await _held(store, 50)
    tx_hash = "0x" + "ab" * 32
    outcome = await store.settle_hold(
        hold.hold_id,
        40,
        NOW + 1,
        replace(COLLECT, tx_hash=tx_hash.upper().replace("0X", "0x")),
        receipt=_receipt(1, 40),
    )
    assert (outcome.status, outcome.tx_hash, outcome.cumulative) == ("settled", tx_hash, Cumulative(40, 36, 4, 1))
    [record] = await store.ledger_transfers(NETWORK, ASSET, WALLET)
    assert (record.tx_hash, record.amount) == (tx_hash, 40)


async def test_failed_collection_stores_no_receipt(store: Store) -> None:
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 40, NOW + 1, COLLECT, receipt=_receipt(1, 40))
    assert (outcome.status, outcome.cumulative) == ("released_transfer_failed", None)
    assert await store.get_receipt(f"rct_{1:032x}") is None


async def test_duplicate_receipt_id_settles_nothing(store: Store) -> None:
    await store.insert_receipt(_receipt(1, 5))
    hold = await _held(store, 50)
    with pytest.raises(DuplicateRecord):
        await store.settle_hold(hold.hold_id, 30, NOW + 1, receipt=_receipt(1, 30))
    assert await store.get_hold(hold.hold_id) == hold
    key = await store.get_key("k1")
    assert key is not None and (key.budget_used, key.budget_reserved) == (0, 50)
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0))[1] == Cumulative(5, 5, 0, 1)


async def test_concurrent_settlements_number_their_receipts_exactly(store: Store, second_store: Store) -> None:
    holds = [await _held(store, 10, limit=10_000, request=f"req_{n}") for n in range(30)]
    outcomes = await asyncio.gather(
        *(
            (store, second_store)[n % 2].settle_hold(
                hold.hold_id, n + 1, NOW + 1, receipt=_receipt(n, n + 1 if n < 10 else 10)
            )
            for n, hold in enumerate(holds)
        )
    )
    snapshots = sorted((o.cumulative for o in outcomes if o.cumulative is not None), key=lambda c: c.receipt_count)
    assert [c.receipt_count for c in snapshots] == list(range(1, 31))
    assert snapshots[-1].total_amount == sum(o.charged for o in outcomes) == sum(range(1, 11)) + 20 * 10
    key = await store.get_key("k1")
    assert key is not None and (key.budget_used, key.budget_reserved) == (snapshots[-1].total_amount, 0)


async def test_collection_from_a_payer_holding_more_than_a_bigint(store: Store) -> None:
    """What the payer can pay is compared with the charge in SQL on SQLite: capped, not overflowing."""
    await store.ledger_fund(NETWORK, ASSET, WALLET, UINT256_MAX, approve_permit2=False, approve_spender=True)
    hold = await _held(store, 50)
    outcome = await store.settle_hold(hold.hold_id, 40, NOW + 1, COLLECT)
    assert (outcome.status, outcome.charged) == ("settled", 40)
    payer = await store.ledger_account(NETWORK, ASSET, WALLET)
    assert (payer.balance, payer.spender_allowance) == (UINT256_MAX - 40, UINT256_MAX)


# BEGIN IMMEDIATE, and COMMIT; in between: flip the hold, (collect: the accounts read, moved,
# recorded), move the amount on the key, bump the payer's totals and store the receipt.
_LEDGER_SETTLE = ["BEGIN", "UPDATE", "UPDATE", "INSERT", "INSERT", "COMMIT"]
_SANDBOX_SETTLE = ["BEGIN", "SELECT", "UPDATE", "UPDATE", "INSERT", "UPDATE", "INSERT", "INSERT", "COMMIT"]


@pytest.mark.parametrize(
    ("collect", "merchant_known", "statements"),
    [
        pytest.param(False, True, _LEDGER_SETTLE, id="ledger"),
        pytest.param(True, True, _SANDBOX_SETTLE, id="sandbox"),
        # The merchant's first collection creates its account (one upsert more).
        pytest.param(True, False, [*_SANDBOX_SETTLE[:3], "INSERT", *_SANDBOX_SETTLE[3:]], id="sandbox-new-merchant"),
    ],
)
async def test_sqlite_settlement_of_a_held_hold_writes_without_locking_reads(
    sqlite_store: Store, collect: bool, merchant_known: bool, statements: list[str]
) -> None:
    store = sqlite_store
    await store.ledger_fund(NETWORK, ASSET, WALLET, 1000, approve_permit2=False, approve_spender=True)
    if merchant_known:
        await store.ledger_fund(NETWORK, ASSET, MERCHANT, 5, approve_permit2=False, approve_spender=False)
    hold = await _held(store, 50)
    with sqlite_statements(store) as seen:
        outcome = await store.settle_hold(
            hold.hold_id, 30, NOW + 1, COLLECT if collect else None, receipt=_receipt(1, 30)
        )
    assert (outcome.status, outcome.charged, outcome.cumulative) == ("settled", 30, Cumulative(30, 27, 3, 1))
    assert (outcome.key.budget_used, outcome.key.budget_reserved) == (30, 0)
    assert outcome.hold == replace(hold, status="settled", charged=30, finished_at=NOW + 1)
    assert seen == statements
    merchant = await store.ledger_account(NETWORK, ASSET, MERCHANT)
    assert merchant.balance == (30 if collect else 0) + (5 if merchant_known else 0)


async def test_sqlite_settlement_the_payer_cannot_pay_writes_nothing_before_releasing(sqlite_store: Store) -> None:
    """The hold only flips when the payer can pay; otherwise the general path releases it, in
    the same transaction, as if the short path had not been tried."""
    store = sqlite_store
    await store.ledger_fund(NETWORK, ASSET, WALLET, 29, approve_permit2=False, approve_spender=True)
    hold = await _held(store, 50)
    with sqlite_statements(store) as seen:
        outcome = await store.settle_hold(hold.hold_id, 30, NOW + 1, COLLECT, receipt=_receipt(1, 30))
    assert (outcome.status, outcome.reason, outcome.cumulative) == (
        "released_transfer_failed",
        "insufficient_funds",
        None,
    )
    assert seen.count("BEGIN") == 1 and seen[-1] == "COMMIT"
    assert (await store.ledger_account(NETWORK, ASSET, WALLET)).balance == 29
    assert await store.ledger_transfers(NETWORK, ASSET, WALLET) == []

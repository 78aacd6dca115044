"""The sandbox ledger (payments.md §9.5-§9.7)."""

from __future__ import annotations

import asyncio
import re

import pytest
from store_helpers import ASSET, MERCHANT, NETWORK, OTHER_WALLET, WALLET, sqlite_statements

from gateway_core.store import UINT256_MAX, LedgerAccount, LedgerTransfer, Store, ledger
from gateway_core.store.prepared import Tx

pytestmark = pytest.mark.anyio

NONCE = "0x" + "ab" * 32


def _transfer(amount: int, **fields: object) -> LedgerTransfer:
    values: dict[str, object] = {"from_address": WALLET, "to_address": MERCHANT, "amount": amount}
    values.update(fields)
    return LedgerTransfer(NETWORK, ASSET, **values)  # type: ignore[arg-type]


async def test_unknown_account_is_zeros(store: Store) -> None:
    assert await store.ledger_account(NETWORK, ASSET, WALLET) == LedgerAccount(NETWORK, ASSET, WALLET)


async def test_fund_adds_and_approvals_are_unlimited(store: Store) -> None:
    upper = WALLET.upper().replace("0X", "0x")
    first = await store.ledger_fund(NETWORK, ASSET.upper(), upper, 5_000_000, True, False)
    second = await store.ledger_fund(NETWORK, ASSET, WALLET, 1, False, True)
    assert first == LedgerAccount(NETWORK, ASSET, WALLET, 5_000_000, UINT256_MAX, 0)
    assert second == LedgerAccount(NETWORK, ASSET, WALLET, 5_000_001, UINT256_MAX, UINT256_MAX)
    stored = await store.ledger_account(NETWORK, ASSET, upper)
    assert stored == second and stored.permit2_allowance == 2**256 - 1  # exact round trip


async def test_uint256_amounts_round_trip_exactly(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 2**255 + 12345, False, True)
    outcome = await store.ledger_transfer(_transfer(2**254 + 1, allowance="spender"))
    assert outcome.ok
    assert (await store.ledger_account(NETWORK, ASSET, WALLET)).balance == 2**255 - 2**254 + 12344
    assert (await store.ledger_account(NETWORK, ASSET, MERCHANT)).balance == 2**254 + 1
    [record] = await store.ledger_transfers(NETWORK, ASSET, MERCHANT)
    assert record.amount == 2**254 + 1


async def test_transfer_moves_funds_records_nonce_and_history(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 100, True, True)
    outcome = await store.ledger_transfer(_transfer(30, nonce=NONCE.upper().replace("0X", "0x")), now_ms=1234)
    assert outcome.ok and outcome.reason is None
    assert outcome.tx_hash is not None and re.fullmatch(r"0x[0-9a-f]{64}", outcome.tx_hash)
    assert await store.ledger_nonce_used(NETWORK, ASSET, WALLET, NONCE)
    assert not await store.ledger_nonce_used(NETWORK, ASSET, MERCHANT, NONCE)  # nonces are per payer
    second = await store.ledger_transfer(_transfer(5, to_address=OTHER_WALLET), now_ms=1235)
    history = await store.ledger_transfers(NETWORK, ASSET, WALLET)
    assert [(r.tx_hash, r.amount, r.at) for r in history] == [(second.tx_hash, 5, 1235), (outcome.tx_hash, 30, 1234)]
    assert [r.amount for r in await store.ledger_transfers(NETWORK, ASSET, MERCHANT)] == [30]
    assert len(await store.ledger_transfers(NETWORK, ASSET, WALLET, limit=1)) == 1
    assert (await store.ledger_account(NETWORK, ASSET, WALLET)).balance == 65


async def test_caller_chosen_tx_hash_is_kept(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 100, True, True)
    chosen = "0x" + "7c" * 32
    assert (await store.ledger_transfer(_transfer(1, tx_hash=chosen))).tx_hash == chosen


@pytest.mark.parametrize(
    ("allowance", "kept"),
    [
        pytest.param("permit2", "spender_allowance", id="permit2"),
        pytest.param("spender", "permit2_allowance", id="spender"),
    ],
)
async def test_finite_allowance_shrinks_and_unlimited_stays_unlimited(store: Store, allowance: str, kept: str) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 1000, True, True)
    assert (await store.ledger_transfer(_transfer(10, allowance=allowance))).ok
    account = await store.ledger_account(NETWORK, ASSET, WALLET)
    assert (account.permit2_allowance, account.spender_allowance) == (UINT256_MAX, UINT256_MAX)
    await store.ledger_approve(NETWORK, ASSET, WALLET, allowance, 25)  # type: ignore[arg-type]
    assert (await store.ledger_transfer(_transfer(10, allowance=allowance))).ok
    account = await store.ledger_account(NETWORK, ASSET, WALLET)
    assert getattr(account, f"{allowance}_allowance") == 15
    assert getattr(account, kept) == UINT256_MAX


@pytest.mark.parametrize(
    ("balance", "transfer", "reason"),
    [
        pytest.param(100, _transfer(101), "insufficient_funds", id="balance"),
        pytest.param(100, _transfer(1, allowance="permit2"), "allowance_too_low", id="permit2-allowance"),
        pytest.param(100, _transfer(1, allowance="spender"), "allowance_too_low", id="spender-allowance"),
        pytest.param(0, _transfer(1, allowance="permit2"), "allowance_too_low", id="allowance-before-balance"),
        pytest.param(0, _transfer(1, nonce=NONCE, allowance="permit2"), "nonce_already_used", id="nonce-first"),
    ],
)
async def test_refused_transfers_change_nothing(
    store: Store, balance: int, transfer: LedgerTransfer, reason: str
) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 100, False, False)
    assert (await store.ledger_transfer(_transfer(100, nonce=NONCE))).ok  # uses NONCE, empties the account
    await store.ledger_fund(NETWORK, ASSET, WALLET, balance, False, False)
    before = await store.ledger_account(NETWORK, ASSET, WALLET)
    outcome = await store.ledger_transfer(transfer)
    assert (outcome.ok, outcome.tx_hash, outcome.reason) == (False, None, reason)
    assert await store.ledger_account(NETWORK, ASSET, WALLET) == before
    assert len(await store.ledger_transfers(NETWORK, ASSET, WALLET)) == 1


async def test_negative_amounts_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.ledger_transfer(_transfer(-1))
    with pytest.raises(ValueError):
        await store.ledger_fund(NETWORK, ASSET, WALLET, -1, False, False)


async def test_concurrent_transfers_never_overdraw(store: Store, second_store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 100, False, False)
    await store.ledger_approve(NETWORK, ASSET, WALLET, "spender", 70)
    outcomes = await asyncio.gather(
        *((store, second_store)[i % 2].ledger_transfer(_transfer(10, allowance="spender")) for i in range(20))
    )
    assert sum(o.ok for o in outcomes) == 7  # the allowance runs out first
    assert {o.reason for o in outcomes if not o.ok} == {"allowance_too_low"}
    account = await store.ledger_account(NETWORK, ASSET, WALLET)
    assert (account.balance, account.spender_allowance) == (30, 0)
    outcomes = await asyncio.gather(*((store, second_store)[i % 2].ledger_transfer(_transfer(7)) for i in range(10)))
    assert sum(o.ok for o in outcomes) == 4
    assert (await store.ledger_account(NETWORK, ASSET, WALLET)).balance == 2


async def test_concurrent_use_of_one_nonce_succeeds_once(store: Store, second_store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 1000, True, True)
    outcomes = await asyncio.gather(
        *((store, second_store)[i % 2].ledger_transfer(_transfer(1, nonce=NONCE)) for i in range(5))
    )
    assert sorted(o.reason or "ok" for o in outcomes) == ["nonce_already_used"] * 4 + ["ok"]


async def test_opposite_transfers_do_not_deadlock_and_conserve_funds(store: Store, second_store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 500, False, False)
    await store.ledger_fund(NETWORK, ASSET, MERCHANT, 500, False, False)
    calls = [
        (store, second_store)[i % 2].ledger_transfer(
            _transfer(3, from_address=(WALLET, MERCHANT)[i % 2], to_address=(MERCHANT, WALLET)[i % 2])
        )
        for i in range(30)
    ]
    assert all(o.ok for o in await asyncio.gather(*calls))
    wallet = await store.ledger_account(NETWORK, ASSET, WALLET)
    merchant = await store.ledger_account(NETWORK, ASSET, MERCHANT)
    assert (wallet.balance, merchant.balance) == (500, 500)


async def test_transfer_to_self_only_spends_allowance(store: Store) -> None:
    await store.ledger_fund(NETWORK, ASSET, WALLET, 50, False, False)
    await store.ledger_approve(NETWORK, ASSET, WALLET, "permit2", 40)
    assert (await store.ledger_transfer(_transfer(30, to_address=WALLET, allowance="permit2"))).ok
    account = await store.ledger_account(NETWORK, ASSET, WALLET)
    assert (account.balance, account.permit2_allowance) == (50, 10)


async def test_zero_transfer_between_addresses_without_accounts(store: Store) -> None:
    outcome = await store.ledger_transfer(_transfer(0, from_address=OTHER_WALLET), now_ms=7)
    assert outcome.ok
    [record] = await store.ledger_transfers(NETWORK, ASSET, MERCHANT)
    assert (record.tx_hash, record.from_address, record.amount) == (outcome.tx_hash, OTHER_WALLET, 0)
    assert await store.ledger_account(NETWORK, ASSET, OTHER_WALLET) == LedgerAccount(NETWORK, ASSET, OTHER_WALLET)


@pytest.mark.parametrize(
    ("nonce", "statements"),
    [
        pytest.param(None, ["BEGIN", "SELECT", "UPDATE", "INSERT", "COMMIT"], id="no-nonce"),
        pytest.param(NONCE, ["BEGIN", "SELECT", "SELECT", "UPDATE", "INSERT", "INSERT", "COMMIT"], id="nonce"),
    ],
)
async def test_sqlite_transfer_reads_both_accounts_once_and_writes_them_once(
    sqlite_store: Store, nonce: str | None, statements: list[str]
) -> None:
    await sqlite_store.ledger_fund(NETWORK, ASSET, WALLET, 100, False, True)
    await sqlite_store.ledger_fund(NETWORK, ASSET, MERCHANT, 1, False, False)
    with sqlite_statements(sqlite_store) as seen:
        outcome = await sqlite_store.ledger_transfer(_transfer(30, nonce=nonce, allowance="spender"))
    assert outcome.ok and seen == statements
    payer = await sqlite_store.ledger_account(NETWORK, ASSET, WALLET)
    assert (payer.balance, payer.spender_allowance) == (70, UINT256_MAX)
    assert (await sqlite_store.ledger_account(NETWORK, ASSET, MERCHANT)).balance == 31


async def test_sqlite_transfer_refuses_to_write_over_balances_it_did_not_read(sqlite_store: Store) -> None:
    """The write restates the balances read: had the rows changed since (they cannot under
    BEGIN IMMEDIATE), it fails and the transaction rolls back rather than overwrite them."""
    await sqlite_store.ledger_fund(NETWORK, ASSET, WALLET, 100, False, False)
    changed = LedgerAccount(NETWORK, ASSET, WALLET, balance=5)

    async def stale_transfer(tx: Tx) -> str:
        read = await ledger.read_transfer(tx, _transfer(30))
        assert read is not None and read.affordable == 100
        await ledger._save(tx, changed, 1)
        return await ledger.complete(tx, read, 30, 2)

    with pytest.raises(RuntimeError, match="changed under the lock"):
        await sqlite_store._db.run(stale_transfer, write=True)
    assert (await sqlite_store.ledger_account(NETWORK, ASSET, WALLET)).balance == 100
    assert await sqlite_store.ledger_transfers(NETWORK, ASSET, WALLET) == []

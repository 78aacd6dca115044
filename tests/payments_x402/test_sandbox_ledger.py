"""The sandbox's view of the store's ledger and the §9.6 account object (spec/payments.md §9.6, §9.7)."""

from __future__ import annotations

import inspect

from x402_testkit import ASSET, NETWORK, OTHER, PAY_TO

from gateway_core.payments.sandbox import ACCOUNT_TRANSFERS, SandboxLedger, account_document, load_account_document
from gateway_core.store import LedgerAccount, LedgerTransfer, LedgerTransferRecord, Store


def test_sandbox_ledger_is_a_subset_of_the_store_with_the_same_signatures() -> None:
    # mypy checks the same at the end of ledger.py; this catches drift when mypy is not run.
    names = [name for name in vars(SandboxLedger) if name.startswith("ledger_")]
    assert names
    for name in names:
        assert inspect.signature(getattr(SandboxLedger, name)) == inspect.signature(getattr(Store, name)), name


def test_account_document_shapes_the_store_records() -> None:
    account = LedgerAccount(NETWORK, ASSET.lower(), OTHER, balance=7, permit2_allowance=8, spender_allowance=9)
    record = LedgerTransferRecord("0x" + "ab" * 32, NETWORK, ASSET.lower(), OTHER, PAY_TO, 7, 1767225600123)
    assert account_document(account, [record]) == {
        "address": OTHER,
        "network": NETWORK,
        "balance": "7",
        "permit2Allowance": "8",
        "spenderAllowance": "9",
        "transfers": [{"txHash": "0x" + "ab" * 32, "from": OTHER, "to": PAY_TO, "amount": "7", "at": 1767225600123}],
    }


def test_unknown_account_is_all_zeros(ledger, run) -> None:
    document = run(load_account_document(ledger, NETWORK, ASSET, OTHER))
    assert document == {
        "address": OTHER,
        "network": NETWORK,
        "balance": "0",
        "permit2Allowance": "0",
        "spenderAllowance": "0",
        "transfers": [],
    }


def test_account_shows_its_last_transfers_newest_first(payer, ledger, run) -> None:
    async def pay_out() -> None:
        for amount in range(1, ACCOUNT_TRANSFERS + 2):
            assert (await ledger.ledger_transfer(LedgerTransfer(NETWORK, ASSET, payer.address, PAY_TO, amount))).ok

    run(pay_out())
    transfers = run(load_account_document(ledger, NETWORK, ASSET, payer.address))["transfers"]
    assert ACCOUNT_TRANSFERS == 20
    assert [transfer["amount"] for transfer in transfers] == [str(n) for n in range(21, 1, -1)]
    # Either side of a transfer: the payee's account lists the same ones.
    assert run(load_account_document(ledger, NETWORK, ASSET, PAY_TO))["transfers"] == transfers

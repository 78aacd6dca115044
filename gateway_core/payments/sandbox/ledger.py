"""What the sandbox needs from the store's ledger (spec/payments.md §9.6, §9.7).

There is one ledger: the store's (:mod:`gateway_core.store.ledger`). :class:`SandboxLedger`
names the subset of :class:`~gateway_core.store.Store` methods the sandbox calls, with the
store's own names and signatures, so a ``Store`` is passed wherever a ``SandboxLedger`` is
expected and mypy checks that it fits (see the ``TYPE_CHECKING`` block at the end). The
records (``LedgerAccount``, ``LedgerTransfer``, ``TransferOutcome``,
``LedgerTransferRecord``) are the store's too. The store keeps the §9.7 rules: one transfer
is one transaction that checks nonce, allowance and balance in that order and changes
nothing when one fails, so concurrent settlements cannot overdraw or reuse a nonce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gateway_core.store import LedgerAccount, LedgerTransfer, LedgerTransferRecord, TransferOutcome

__all__ = ["ACCOUNT_TRANSFERS", "SandboxLedger", "account_document", "load_account_document"]

# §9.6: an account shows its last 20 transfers.
ACCOUNT_TRANSFERS = 20


class SandboxLedger(Protocol):
    """The ledger half of :class:`~gateway_core.store.Store` (docstrings there)."""

    async def ledger_account(self, network: str, asset: str, address: str) -> LedgerAccount: ...

    async def ledger_fund(
        self,
        network: str,
        asset: str,
        address: str,
        amount: int,
        approve_permit2: bool,
        approve_spender: bool,
        *,
        now_ms: int | None = None,
    ) -> LedgerAccount: ...

    async def ledger_nonce_used(self, network: str, asset: str, address: str, nonce: str) -> bool: ...

    async def ledger_transfer(self, transfer: LedgerTransfer, *, now_ms: int | None = None) -> TransferOutcome: ...

    async def ledger_transfers(
        self, network: str, asset: str, address: str, limit: int = 20
    ) -> list[LedgerTransferRecord]: ...


def account_document(account: LedgerAccount, transfers: Sequence[LedgerTransferRecord]) -> dict[str, Any]:
    """The §9.6 account object: amounts as digit strings, ``transfers`` as given.

    ``transfers`` is what :meth:`SandboxLedger.ledger_transfers` returns (newest first). Each
    ``at`` is Unix **milliseconds**, as the store keeps it: §9.6 leaves the unit open, and the
    gateway's other JSON timestamps (``createdAt``, ``settledAt``) are milliseconds too.
    """
    return {
        "address": account.address,
        "network": account.network,
        "balance": str(account.balance),
        "permit2Allowance": str(account.permit2_allowance),
        "spenderAllowance": str(account.spender_allowance),
        "transfers": [
            {
                "txHash": record.tx_hash,
                "from": record.from_address,
                "to": record.to_address,
                "amount": str(record.amount),
                "at": record.at,
            }
            for record in transfers
        ],
    }


async def load_account_document(ledger: SandboxLedger, network: str, asset: str, address: str) -> dict[str, Any]:
    """Read an account and its last :data:`ACCOUNT_TRANSFERS` transfers; the §9.6 object.

    Two reads, not one snapshot: a transfer landing between them may show in the list but
    not yet in the balance, which a sandbox page can live with.
    """
    account = await ledger.ledger_account(network, asset, address)
    transfers = await ledger.ledger_transfers(network, asset, address, ACCOUNT_TRANSFERS)
    return account_document(account, transfers)


if TYPE_CHECKING:
    from gateway_core.store import Store

    # mypy proves the store is the ledger: no adapter, no second implementation.
    _STORE: type[SandboxLedger] = Store

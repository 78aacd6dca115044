"""What the sandbox facilitator needs from the store (spec/payments.md §9.6, §9.7).

The store implements :class:`SandboxLedger`; this package never imports the store. Rules an
implementation must keep (§9.7): balances and allowances are per (network, asset, address)
and never negative; one :meth:`SandboxLedger.transfer` is one store transaction (or one
conditional statement), so concurrent settlements on several replicas can neither overdraw
an account nor use a nonce twice; nonces are recorded per (network, asset, payer).
Addresses and assets are passed lowercase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "LedgerAccount",
    "LedgerTransfer",
    "SandboxLedger",
    "TransferFailure",
    "TransferOutcome",
    "TransferRecord",
    "account_document",
]

TransferFailure = Literal["nonce_used", "insufficient_funds", "insufficient_allowance"]


@dataclass(frozen=True)
class TransferRecord:
    """One settled transfer as shown on an account (``at`` in Unix seconds)."""

    tx_hash: str
    from_address: str
    to: str
    amount: int
    at: int


@dataclass(frozen=True)
class LedgerAccount:
    """An account; an address never funded is all zeros with no transfers."""

    network: str
    asset: str
    address: str
    balance: int = 0
    permit2_allowance: int = 0
    spender_allowance: int = 0
    transfers: Sequence[TransferRecord] = field(default_factory=tuple)


@dataclass(frozen=True)
class LedgerTransfer:
    """A settlement to apply atomically.

    ``kind="eip3009"``: require the nonce unused and ``balance >= amount``; move ``amount``;
    mark the nonce. ``kind="permit2"``: additionally require ``permit2_allowance >= amount``
    and reduce it by ``amount``. Checks run in the order nonce, allowance, balance, and the
    first failure is reported with nothing changed.
    """

    network: str
    asset: str
    payer: str
    payee: str
    amount: int
    nonce: str
    kind: Literal["eip3009", "permit2"]
    tx_hash: str
    at: int


@dataclass(frozen=True)
class TransferOutcome:
    ok: bool
    failure: TransferFailure | None = None


class SandboxLedger(Protocol):
    async def account(self, network: str, asset: str, address: str) -> LedgerAccount:
        """The account with its last 20 transfers (either side), newest first."""
        ...

    async def nonce_used(self, network: str, asset: str, address: str, nonce: str) -> bool: ...

    async def transfer(self, transfer: LedgerTransfer) -> TransferOutcome: ...

    async def fund(
        self,
        network: str,
        asset: str,
        address: str,
        amount: int,
        *,
        approve_permit2: bool = True,
        approve_spender: bool = True,
    ) -> LedgerAccount:
        """Add ``amount`` to the balance; an approval sets that allowance to max uint256."""
        ...


def account_document(account: LedgerAccount) -> dict[str, Any]:
    """The §9.6 account object (amounts as digit strings)."""
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
                "to": record.to,
                "amount": str(record.amount),
                "at": record.at,
            }
            for record in account.transfers
        ],
    }

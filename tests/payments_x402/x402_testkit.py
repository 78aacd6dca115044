"""Shared pieces of the x402 / sandbox tests: an in-memory :class:`SandboxLedger` and constants.

The ledger keeps the §9.7 rules (atomic transfer: nonce, allowance, balance, then move); it
stands in for the store implementation, which is bound by the gateway, not by this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway_core.payments.sandbox import LedgerAccount, LedgerTransfer, TransferOutcome, TransferRecord
from gateway_core.payments.sandbox.constants import MAX_UINT256
from gateway_core.payments.x402 import sandbox_chain

NOW = 1767225600  # 2026-01-01T00:00:00Z
PAY_TO = "0x1111111111111111111111111111111111111111"
FACILITATOR = "0x3333333333333333333333333333333333333333"
OTHER = "0x4444444444444444444444444444444444444444"
ROW = sandbox_chain()
NETWORK = ROW.network
ASSET = ROW.usdc_address


@dataclass
class _Account:
    balance: int = 0
    permit2_allowance: int = 0
    spender_allowance: int = 0


@dataclass
class MemoryLedger:
    accounts: dict[tuple[str, str, str], _Account] = field(default_factory=dict)
    nonces: set[tuple[str, str, str, str]] = field(default_factory=set)
    transfers: list[tuple[str, str, TransferRecord]] = field(default_factory=list)

    def _get(self, network: str, asset: str, address: str) -> _Account:
        return self.accounts.setdefault((network, asset.lower(), address.lower()), _Account())

    async def account(self, network: str, asset: str, address: str) -> LedgerAccount:
        state = self._get(network, asset, address)
        address = address.lower()
        mine = [
            record
            for net, token, record in reversed(self.transfers)
            if (net, token) == (network, asset.lower()) and address in (record.from_address, record.to)
        ]
        return LedgerAccount(
            network=network,
            asset=asset.lower(),
            address=address,
            balance=state.balance,
            permit2_allowance=state.permit2_allowance,
            spender_allowance=state.spender_allowance,
            transfers=tuple(mine[:20]),
        )

    async def nonce_used(self, network: str, asset: str, address: str, nonce: str) -> bool:
        return (network, asset.lower(), address.lower(), nonce) in self.nonces

    async def transfer(self, transfer: LedgerTransfer) -> TransferOutcome:
        # No await between the checks and the writes: atomic on one event loop.
        key = (transfer.network, transfer.asset.lower(), transfer.payer.lower(), transfer.nonce)
        payer = self._get(transfer.network, transfer.asset, transfer.payer)
        if key in self.nonces:
            return TransferOutcome(False, "nonce_used")
        if transfer.kind == "permit2" and payer.permit2_allowance < transfer.amount:
            return TransferOutcome(False, "insufficient_allowance")
        if payer.balance < transfer.amount:
            return TransferOutcome(False, "insufficient_funds")
        payer.balance -= transfer.amount
        if transfer.kind == "permit2":
            payer.permit2_allowance -= transfer.amount
        self._get(transfer.network, transfer.asset, transfer.payee).balance += transfer.amount
        self.nonces.add(key)
        record = TransferRecord(
            transfer.tx_hash, transfer.payer.lower(), transfer.payee.lower(), transfer.amount, transfer.at
        )
        self.transfers.append((transfer.network, transfer.asset.lower(), record))
        return TransferOutcome(True)

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
        state = self._get(network, asset, address)
        state.balance += amount
        if approve_permit2:
            state.permit2_allowance = MAX_UINT256
        if approve_spender:
            state.spender_allowance = MAX_UINT256
        return await self.account(network, asset, address)

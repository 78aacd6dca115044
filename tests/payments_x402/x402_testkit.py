"""Shared pieces of the x402 / sandbox tests: constants and a funding shortcut.

The sandbox's ledger is the store's: the fixtures in ``conftest.py`` open a real
:class:`~gateway_core.store.Store` on a temporary SQLite file and hand it to the facilitator.
"""

from __future__ import annotations

from gateway_core.payments.sandbox import SandboxLedger
from gateway_core.payments.x402 import sandbox_chain
from gateway_core.store import LedgerAccount

NOW = 1767225600  # 2026-01-01T00:00:00Z
PAY_TO = "0x1111111111111111111111111111111111111111"
FACILITATOR = "0x3333333333333333333333333333333333333333"
OTHER = "0x4444444444444444444444444444444444444444"
ROW = sandbox_chain()
NETWORK = ROW.network
ASSET = ROW.usdc_address


async def fund(
    ledger: SandboxLedger, address: str, amount: int, *, approve_permit2: bool = True, approve_spender: bool = True
) -> LedgerAccount:
    """The faucet (§9.6) on the sandbox network and asset: approvals default to unlimited."""
    return await ledger.ledger_fund(NETWORK, ASSET, address, amount, approve_permit2, approve_spender)

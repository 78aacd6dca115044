from __future__ import annotations

import asyncio

import pytest
from x402_testkit import FACILITATOR, NOW, ROW, MemoryLedger

from gateway_core.payments.sandbox import SandboxFacilitator, Wallet


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def sandbox(ledger: MemoryLedger) -> SandboxFacilitator:
    return SandboxFacilitator(ledger, FACILITATOR, ROW, clock=lambda: NOW)


@pytest.fixture
def payer(ledger: MemoryLedger) -> Wallet:
    """A wallet with 5 USDC and unlimited Permit2 / spender approvals."""
    wallet = Wallet.create()
    asyncio.run(ledger.fund(ROW.network, ROW.usdc_address, wallet.address, 5_000_000))
    return wallet

"""Compose Keys for tests and benchmarks: a funded sandbox wallet and a key it owns."""

from __future__ import annotations

import asyncio
import time

from gateway_core.payments.keys import ComposeKeys, new_key_id
from gateway_core.payments.sandbox.signer import Wallet
from gateway_core.payments.x402.networks import ChainRow, sandbox_chain
from gateway_core.store import KeyRecord, Store

__all__ = ["TEST_KEY_BUDGET", "create_test_key", "mint_test_key"]

#: 1,000,000 USDC in atomic units: more than any test spends.
TEST_KEY_BUDGET = 10**12


async def create_test_key(
    store: Store, keys: ComposeKeys, chain: ChainRow, budget: int = TEST_KEY_BUDGET, *, funded: bool = True
) -> str:
    """A new wallet, funded on the sandbox ledger with both approvals (so sandbox collection
    succeeds), and a Compose Key it owns with ``budget``; returns the token."""
    address = Wallet.create().address.lower()
    if funded:
        await store.ledger_fund(
            chain.network, chain.usdc_address.lower(), address, budget, approve_permit2=True, approve_spender=True
        )
    now_ms = int(time.time() * 1000)
    record = KeyRecord(
        key_id=new_key_id(),
        user_address=address,
        purpose="api",
        budget_limit=budget,
        budget_used=0,
        budget_reserved=0,
        created_at=now_ms,
        expires_at=now_ms + 86_400_000,
        chain_id=chain.chain_id,
        name="test",
    )
    await store.create_key(record)
    return keys.mint(record)


def mint_test_key(store_url: str, secret: str, budget: int = TEST_KEY_BUDGET) -> str:
    """The same, from outside a running gateway (for a gateway in another process that shares
    the store and has ``GATEWAY_KEY_SECRET`` = ``secret``)."""

    async def run() -> str:
        store = await Store.open(store_url, migrate=True)
        try:
            return await create_test_key(store, ComposeKeys(store, secret), sandbox_chain(), budget)
        finally:
            await store.close()

    return asyncio.run(run())

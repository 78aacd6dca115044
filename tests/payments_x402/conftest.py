from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from x402_testkit import FACILITATOR, NOW, ROW, fund

from gateway_core.payments.sandbox import SandboxFacilitator, Wallet
from gateway_core.store import Store

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def run() -> Iterator[Run]:
    """Run a coroutine on this test's one event loop.

    The store's pooled connections and its writer lock belong to the loop that first used
    them, so a test touching the ledger uses this instead of a fresh ``asyncio.run`` each time.
    """
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def ledger(run: Run, tmp_path: Path) -> Iterator[Store]:
    """A real, migrated store on a fresh SQLite file: the sandbox ledger is the store's."""
    store: Store = run(Store.open(f"sqlite:///{tmp_path}/ledger.db"))
    yield store
    run(store.close())


@pytest.fixture
def sandbox(ledger: Store) -> SandboxFacilitator:
    return SandboxFacilitator(ledger, FACILITATOR, ROW, clock=lambda: NOW)


@pytest.fixture
def payer(run: Run, ledger: Store) -> Wallet:
    """A wallet with 5 USDC and unlimited Permit2 / spender approvals."""
    wallet = Wallet.create()
    run(fund(ledger, wallet.address, 5_000_000))
    return wallet

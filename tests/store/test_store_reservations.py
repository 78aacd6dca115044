"""x402 authorization reservations (payments.md §6.6)."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from store_helpers import ASSET, NETWORK, NOW, WALLET

from gateway_core.store import Store

pytestmark = pytest.mark.anyio

NONCE = "0x" + "ab" * 32
DEADLINE = NOW // 1000 + 600
AUTH = (NETWORK, ASSET, WALLET, NONCE)


async def _reserve(store: Store, request_id: str = "req_1", *, payer: str = WALLET, asset: str = ASSET) -> str:
    return await store.reserve_authorization(NETWORK, asset, payer, NONCE, DEADLINE, request_id, now_ms=NOW)


async def test_reserve_then_in_use_in_any_letter_case(store: Store) -> None:
    assert await _reserve(store) == "reserved"
    assert await _reserve(store, "req_2") == "in_use"
    assert await _reserve(store, "req_3", payer=WALLET.upper().replace("0X", "0x"), asset=ASSET.upper()) == "in_use"
    other_nonce = await store.reserve_authorization(NETWORK, ASSET, WALLET, "0x" + "cd" * 32, DEADLINE, "r", now_ms=NOW)
    assert other_nonce == "reserved"


@pytest.mark.parametrize("state", ["used", "settled", "pending", "failed"])
async def test_every_state_after_in_flight_is_already_used(
    store: Store, state: Literal["used", "settled", "pending", "failed"]
) -> None:
    assert await _reserve(store) == "reserved"
    assert await store.set_reservation_state(*AUTH, state)
    assert await _reserve(store, "req_2") == "already_used"
    assert await store.release_reservation(*AUTH) is False  # only in_flight rows are released
    assert await _reserve(store, "req_3") == "already_used"


async def test_release_lets_the_client_retry(store: Store) -> None:
    assert await _reserve(store) == "reserved"
    assert await store.release_reservation(*AUTH) is True
    assert await store.release_reservation(*AUTH) is False
    assert await _reserve(store, "req_2") == "reserved"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        pytest.param(["pending", "settled"], [True, True], id="pending-then-settled"),
        pytest.param(["pending", "failed"], [True, True], id="pending-then-failed"),
        pytest.param(["settled", "pending"], [True, False], id="settled-is-final"),
        pytest.param(["used", "settled"], [True, False], id="used-is-final"),
        pytest.param(["failed", "settled"], [True, False], id="failed-is-final"),
    ],
)
async def test_state_transitions(store: Store, path: list[str], allowed: list[bool]) -> None:
    assert await _reserve(store) == "reserved"
    results = [await store.set_reservation_state(*AUTH, state) for state in path]  # type: ignore[arg-type]
    assert results == allowed


async def test_unknown_reservation_cannot_change_state(store: Store) -> None:
    assert await store.set_reservation_state(*AUTH, "settled") is False


async def test_pending_reservations_keep_their_detail(store: Store) -> None:
    assert await _reserve(store) == "reserved"
    await store.set_reservation_state(*AUTH, "pending", detail_json='{"amount":"23"}', now_ms=NOW + 5)
    [pending] = await store.pending_reservations()
    assert (pending.nonce, pending.state, pending.detail_json) == (NONCE, "pending", '{"amount":"23"}')
    assert (pending.expires_at, pending.request_id, pending.created_at, pending.updated_at) == (
        DEADLINE,
        "req_1",
        NOW,
        NOW + 5,
    )
    await store.set_reservation_state(*AUTH, "settled")
    assert await store.pending_reservations() == []


async def test_concurrent_reservations_of_one_nonce_reserve_once(store: Store, second_store: Store) -> None:
    results = await asyncio.gather(*(_reserve((store, second_store)[i % 2], f"req_{i}") for i in range(5)))
    assert sorted(results) == ["in_use"] * 4 + ["reserved"]

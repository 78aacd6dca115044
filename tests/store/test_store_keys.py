"""Compose Key records (payments.md §2.3)."""

from __future__ import annotations

import pytest
from store_helpers import NOW, OTHER_WALLET, WALLET, make_key

from gateway_core.store import DuplicateRecord, KeyRecord, Store

pytestmark = pytest.mark.anyio


async def test_create_and_get_round_trip_with_lowercase_wallet(store: Store) -> None:
    record = make_key("k1", limit=5_000_000, wallet=WALLET.upper().replace("0X", "0x"), name="laptop")
    await store.create_key(record)
    stored = await store.get_key("k1")
    assert stored == KeyRecord(
        key_id="k1",
        user_address=WALLET,
        purpose="api",
        budget_limit=5_000_000,
        budget_used=0,
        budget_reserved=0,
        created_at=NOW,
        expires_at=NOW + 86_400_000,
        chain_id=31337,
        name="laptop",
    )
    assert stored.remaining == 5_000_000
    assert await store.get_key("missing") is None


async def test_duplicate_key_id_is_refused(store: Store) -> None:
    await store.create_key(make_key("k1"))
    with pytest.raises(DuplicateRecord):
        await store.create_key(make_key("k1"))


@pytest.mark.parametrize(
    ("wallet", "chain_id", "expected"),
    [
        pytest.param(None, None, ["k4", "k3", "k2", "k1"], id="all-newest-first"),
        pytest.param(WALLET, None, ["k3", "k2", "k1"], id="one-wallet"),
        pytest.param(WALLET.upper().replace("0X", "0x"), None, ["k3", "k2", "k1"], id="wallet-any-case"),
        pytest.param(WALLET, 43113, ["k2"], id="wallet-and-chain"),
        pytest.param(None, 31337, ["k4", "k3", "k1"], id="one-chain"),
        pytest.param("0x" + "9" * 40, None, [], id="unknown-wallet"),
    ],
)
async def test_list_keys_filters_and_orders_newest_first(
    store: Store, wallet: str | None, chain_id: int | None, expected: list[str]
) -> None:
    await store.create_key(make_key("k1", created_at=NOW))
    await store.create_key(make_key("k2", created_at=NOW + 1, chain_id=43113))
    await store.create_key(make_key("k3", created_at=NOW + 2, revoked_at=NOW + 3))
    await store.create_key(make_key("k4", created_at=NOW + 3, wallet=OTHER_WALLET))
    assert [k.key_id for k in await store.list_keys(wallet, chain_id)] == expected


async def test_revoke_sets_revoked_at_once(store: Store) -> None:
    await store.create_key(make_key("k1"))
    first = await store.revoke_key("k1", NOW + 10)
    again = await store.revoke_key("k1", NOW + 20)
    assert first is not None and first.revoked_at == NOW + 10
    assert again == first
    assert await store.revoke_key("missing", NOW) is None


async def test_touch_sets_last_used_and_never_goes_back(store: Store) -> None:
    await store.create_key(make_key("k1"))
    await store.touch_key("k1", NOW + 50)
    await store.touch_key("k1", NOW + 40)
    key = await store.get_key("k1")
    assert key is not None and key.last_used_at == NOW + 50
    await store.touch_key("missing", NOW)  # no error for an unknown key


def test_remaining_is_never_negative() -> None:
    assert make_key(limit=10, budget_used=8, budget_reserved=5).remaining == 0

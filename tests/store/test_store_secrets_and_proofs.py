"""Generated secrets (first writer wins) and wallet-signature proofs (accepted once, §4.5)."""

from __future__ import annotations

import asyncio

import pytest

from gateway_core.store import Store

pytestmark = pytest.mark.anyio

DIGEST = "0x" + "5e" * 32


async def test_secret_is_created_once_and_then_read(store: Store) -> None:
    assert await store.get_or_create_secret("sandbox_key_secret", "first") == "first"
    assert await store.get_or_create_secret("sandbox_key_secret", "second") == "first"
    assert await store.get_or_create_secret("sandbox_signer_key", "other") == "other"


async def test_concurrent_creators_all_get_the_first_value(store: Store, second_store: Store) -> None:
    values = await asyncio.gather(
        *((store, second_store)[i % 2].get_or_create_secret("merchant", f"candidate-{i}") for i in range(10))
    )
    assert len(set(values)) == 1 and values[0].startswith("candidate-")
    assert await store.get_or_create_secret("merchant", "late") == values[0]


async def test_signature_proof_is_accepted_once_until_it_expires(store: Store) -> None:
    assert await store.use_signature_proof(DIGEST, 1600, now_s=1000) is True
    assert await store.use_signature_proof(DIGEST, 1700, now_s=1100) is False
    assert await store.use_signature_proof(DIGEST.upper().replace("0X", "0x"), 1700, now_s=1100) is False
    assert await store.use_signature_proof(DIGEST, 2200, now_s=1600) is True  # the first use expired
    assert await store.use_signature_proof(DIGEST, 2300, now_s=1700) is False


async def test_concurrent_uses_of_one_signature_accept_one(store: Store, second_store: Store) -> None:
    results = await asyncio.gather(
        *((store, second_store)[i % 2].use_signature_proof(DIGEST, 1600, now_s=1000) for i in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]

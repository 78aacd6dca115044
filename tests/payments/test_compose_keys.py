"""Compose Key validation remembers verified claims, never unverified ones, and still checks
the store on every call."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from gateway_core.errors import GatewayError
from gateway_core.payments import keys as keys_module
from gateway_core.payments.keys import TOKEN_PREFIX, ComposeKeys
from gateway_core.store import KeyRecord, Store

pytestmark = pytest.mark.anyio

SECRET = "s" * 32
WALLET = "0x" + "ab" * 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _record(key_id: str) -> KeyRecord:
    now = int(time.time() * 1000)
    return KeyRecord(
        key_id=key_id,
        user_address=WALLET,
        purpose="api",
        budget_limit=1000,
        budget_used=0,
        budget_reserved=0,
        created_at=now,
        expires_at=now + 86_400_000,
        chain_id=31337,
    )


async def test_claims_are_verified_once_and_the_store_is_read_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "_VERIFIED_TOKENS", 2)
    store = await Store.open(f"sqlite:///{tmp_path / 'gateway.db'}")
    try:
        keys = ComposeKeys(store, SECRET)
        tokens = []
        for key_id in ("k1", "k2", "k3"):
            await store.create_key(_record(key_id))
            tokens.append(keys.mint(_record(key_id)).removeprefix(TOKEN_PREFIX))
        verified = 0
        real_decode = jwt.decode

        def counting(*args: object, **kwargs: object) -> object:
            nonlocal verified
            verified += 1
            return real_decode(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(jwt, "decode", counting)
        for _ in range(3):
            assert (await keys.validate(tokens[0])).key_id == "k1"
        assert verified == 1
        # A token with the same claims but another signature is verified on its own, and refused.
        forged = tokens[0].rsplit(".", 1)[0] + ".AAAA"
        with pytest.raises(GatewayError):
            await keys.validate(forged)
        # Bounded: the oldest token is forgotten, and verified again when it comes back.
        await keys.validate(tokens[1])
        await keys.validate(tokens[2])
        before = verified
        await keys.validate(tokens[0])
        assert verified == before + 1
        # Revocation is read from the store on every call, remembered claims or not.
        await store.revoke_key("k1", int(time.time() * 1000))
        with pytest.raises(GatewayError, match="revoked"):
            await keys.validate(tokens[0])
    finally:
        await store.close()

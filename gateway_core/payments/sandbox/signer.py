"""Throwaway wallets that pay x402 challenges (tests, ``gateway sandbox wallet``).

Signs exactly what a real client signs (the typed data of :mod:`.typed_data`, domain values
taken from the requirement like the x402 SDK does). Keyword overrides exist so tests can
produce validly signed payloads that break one rule at a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements
from x402.schemas.v1 import PaymentPayloadV1

from gateway_core.payments.sandbox.constants import SCHEME_EXACT, SCHEME_UPTO, UPTO_PERMIT2_PROXY_ADDRESS
from gateway_core.payments.sandbox.typed_data import eip3009_typed_data, permit2_typed_data, sign_typed_data
from gateway_core.payments.x402.networks import parse_network

__all__ = ["Wallet", "pay", "sign_exact", "sign_exact_v1", "sign_upto"]


@dataclass(frozen=True)
class Wallet:
    """An EOA; ``address`` lowercase."""

    address: str
    private_key: str

    @classmethod
    def create(cls) -> Wallet:
        from eth_account import Account  # loaded on use: see typed_data

        account = Account.create()
        return cls(address=account.address.lower(), private_key="0x" + bytes(account.key).hex())

    @classmethod
    def from_key(cls, private_key: str) -> Wallet:
        from eth_account import Account

        account = Account.from_key(private_key)
        return cls(address=account.address.lower(), private_key="0x" + bytes(account.key).hex())


def _chain_id(requirement: PaymentRequirements) -> int:
    chain_id = parse_network(requirement.network)
    if chain_id is None:
        raise ValueError(f"not an eip155 network: {requirement.network}")
    return chain_id


def _exact_inner(
    requirement: PaymentRequirements,
    wallet: Wallet,
    *,
    now: int,
    value: int | None,
    to: str | None,
    valid_after: int,
    valid_before: int | None,
    nonce: str | None,
) -> dict[str, Any]:
    extra = requirement.extra or {}
    name, version = extra.get("name"), extra.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise ValueError("requirement extra lacks the EIP-712 name/version")
    auth = {
        "from": wallet.address,
        "to": (to or requirement.pay_to).lower(),
        "value": str(int(requirement.amount) if value is None else value),
        "validAfter": str(valid_after),
        "validBefore": str(now + requirement.max_timeout_seconds if valid_before is None else valid_before),
        "nonce": nonce or "0x" + secrets.token_hex(32),
    }
    typed = eip3009_typed_data(
        chain_id=_chain_id(requirement),
        asset=requirement.asset,
        name=name,
        version=version,
        from_address=auth["from"],
        to=auth["to"],
        value=int(auth["value"]),
        valid_after=valid_after,
        valid_before=int(auth["validBefore"]),
        nonce=auth["nonce"],
    )
    return {"signature": sign_typed_data(typed, wallet.private_key), "authorization": auth}


def sign_exact(
    requirement: PaymentRequirements,
    wallet: Wallet,
    *,
    now: int,
    value: int | None = None,
    to: str | None = None,
    valid_after: int = 0,
    valid_before: int | None = None,
    nonce: str | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> PaymentPayload:
    """An EIP-3009 payment of ``requirement`` (``validBefore`` defaults to now + maxTimeoutSeconds)."""
    inner = _exact_inner(
        requirement,
        wallet,
        now=now,
        value=value,
        to=to,
        valid_after=valid_after,
        valid_before=valid_before,
        nonce=nonce,
    )
    return PaymentPayload(
        x402_version=2, accepted=requirement, payload=inner, extensions=dict(extensions) if extensions else None
    )


def sign_exact_v1(
    requirement: PaymentRequirements,
    wallet: Wallet,
    *,
    v1_network: str,
    now: int,
    value: int | None = None,
    to: str | None = None,
    valid_after: int = 0,
    valid_before: int | None = None,
    nonce: str | None = None,
) -> PaymentPayloadV1:
    """The same authorization in the v1 envelope ``{x402Version: 1, scheme, network: <v1 name>, payload}``."""
    inner = _exact_inner(
        requirement,
        wallet,
        now=now,
        value=value,
        to=to,
        valid_after=valid_after,
        valid_before=valid_before,
        nonce=nonce,
    )
    return PaymentPayloadV1(x402_version=1, scheme=SCHEME_EXACT, network=v1_network, payload=inner)


def sign_upto(
    requirement: PaymentRequirements,
    wallet: Wallet,
    *,
    now: int,
    amount: int | None = None,
    token: str | None = None,
    spender: str = UPTO_PERMIT2_PROXY_ADDRESS,
    to: str | None = None,
    facilitator: str | None = None,
    valid_after: int = 0,
    deadline: int | None = None,
    nonce: int | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> PaymentPayload:
    """A Permit2 witness transfer authorizing up to ``requirement.amount`` (the envelope)."""
    facilitator = facilitator or str((requirement.extra or {}).get("facilitatorAddress") or "")
    if not facilitator:
        raise ValueError("upto requirement lacks extra.facilitatorAddress")
    permitted_amount = int(requirement.amount) if amount is None else amount
    nonce_value = secrets.randbits(256) if nonce is None else nonce
    deadline_value = now + requirement.max_timeout_seconds if deadline is None else deadline
    token_value = (token or requirement.asset).lower()
    to_value = (to or requirement.pay_to).lower()
    typed = permit2_typed_data(
        chain_id=_chain_id(requirement),
        token=token_value,
        amount=permitted_amount,
        spender=spender,
        nonce=nonce_value,
        deadline=deadline_value,
        witness_to=to_value,
        witness_facilitator=facilitator,
        witness_valid_after=valid_after,
    )
    inner = {
        "signature": sign_typed_data(typed, wallet.private_key),
        "permit2Authorization": {
            "from": wallet.address,
            "permitted": {"token": token_value, "amount": str(permitted_amount)},
            "spender": spender,
            "nonce": str(nonce_value),
            "deadline": str(deadline_value),
            "witness": {"to": to_value, "facilitator": facilitator.lower(), "validAfter": str(valid_after)},
        },
    }
    return PaymentPayload(
        x402_version=2, accepted=requirement, payload=inner, extensions=dict(extensions) if extensions else None
    )


def pay(challenge: PaymentRequired, wallet: Wallet, *, now: int, scheme: str | None = None) -> PaymentPayload:
    """Pay the first requirement of ``challenge`` (or the first of ``scheme``), echoing its
    ``resource`` and ``extensions`` like an x402 client."""
    requirement = next((item for item in challenge.accepts if scheme in (None, item.scheme)), None)
    if requirement is None:
        raise ValueError(f"the challenge offers no {scheme or 'payable'} requirement")
    if requirement.scheme == SCHEME_UPTO:
        payload = sign_upto(requirement, wallet, now=now, extensions=challenge.extensions)
    elif requirement.scheme == SCHEME_EXACT:
        payload = sign_exact(requirement, wallet, now=now, extensions=challenge.extensions)
    else:
        raise ValueError(f"unsupported scheme {requirement.scheme}")
    return payload.model_copy(update={"resource": challenge.resource})

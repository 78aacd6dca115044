"""Typed views of the scheme-specific ``payload`` of a PaymentPayload (spec/payments.md §6.4).

The x402 package keeps ``PaymentPayload.payload`` as a plain dict; both the gateway's
acceptance checks and the sandbox facilitator need the same fields as numbers and normalized
strings, so the parsing lives here once. Addresses are lowercased (the gateway stores and
emits wallet addresses lowercase; EIP-712 ``address`` fields hash the same either way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.payments.x402.codec import normalize_eip3009_nonce, normalize_permit2_nonce
from gateway_core.payments.x402.constants import MAX_UINT256
from gateway_core.payments.x402.networks import is_address

__all__ = ["ExactAuthorization", "PayloadError", "UptoAuthorization", "parse_exact", "parse_upto"]


class PayloadError(ValueError):
    """The scheme payload is missing a field or has one of the wrong shape."""


@dataclass(frozen=True)
class ExactAuthorization:
    """EIP-3009 ``transferWithAuthorization`` parameters plus the signature."""

    signature: str
    from_address: str
    to: str
    value: int
    valid_after: int
    valid_before: int
    nonce: str  # 0x + 64 lowercase hex (§6.6)

    @property
    def nonce_key(self) -> str:
        return self.nonce


@dataclass(frozen=True)
class UptoAuthorization:
    """Permit2 ``PermitWitnessTransferFrom`` parameters with the x402 upto witness."""

    signature: str
    from_address: str
    token: str
    amount: int
    spender: str
    nonce: int
    deadline: int
    witness_to: str
    witness_facilitator: str
    witness_valid_after: int

    @property
    def nonce_key(self) -> str:
        """Decimal string (§6.6)."""
        return str(self.nonce)


def _object(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}{key} must be an object")
    return value


def _address(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not is_address(value):
        raise PayloadError(f"{where}{key} must be a 0x-prefixed 20-byte address")
    return str(value).lower()


def _uint(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit() and value.isascii():
        number = int(value)
    if number is None or not 0 <= number <= MAX_UINT256:
        raise PayloadError(f"{where}{key} must be a uint256 decimal string")
    return number


def _signature(data: Mapping[str, Any]) -> str:
    value = data.get("signature")
    if not isinstance(value, str) or not value.startswith("0x") or len(value) <= 2:
        raise PayloadError("payload.signature must be a 0x-prefixed hex string")
    return value


def parse_exact(payload: Mapping[str, Any]) -> ExactAuthorization:
    """``{signature, authorization{from,to,value,validAfter,validBefore,nonce}}``."""
    signature = _signature(payload)
    auth = _object(payload, "authorization", "payload.")
    where = "payload.authorization."
    try:
        nonce = normalize_eip3009_nonce(auth.get("nonce"))
    except ValueError as exc:
        raise PayloadError(f"{where}nonce: {exc}") from exc
    return ExactAuthorization(
        signature=signature,
        from_address=_address(auth, "from", where),
        to=_address(auth, "to", where),
        value=_uint(auth, "value", where),
        valid_after=_uint(auth, "validAfter", where),
        valid_before=_uint(auth, "validBefore", where),
        nonce=nonce,
    )


def parse_upto(payload: Mapping[str, Any]) -> UptoAuthorization:
    """``{signature, permit2Authorization{from, permitted{token,amount}, spender, nonce,
    deadline, witness{to, facilitator, validAfter}}}``."""
    signature = _signature(payload)
    auth = _object(payload, "permit2Authorization", "payload.")
    where = "payload.permit2Authorization."
    permitted = _object(auth, "permitted", where)
    witness = _object(auth, "witness", where)
    try:
        nonce = int(normalize_permit2_nonce(auth.get("nonce")))
    except ValueError as exc:
        raise PayloadError(f"{where}nonce: {exc}") from exc
    return UptoAuthorization(
        signature=signature,
        from_address=_address(auth, "from", where),
        token=_address(permitted, "token", where + "permitted."),
        amount=_uint(permitted, "amount", where + "permitted."),
        spender=_address(auth, "spender", where),
        nonce=nonce,
        deadline=_uint(auth, "deadline", where),
        witness_to=_address(witness, "to", where + "witness."),
        witness_facilitator=_address(witness, "facilitator", where + "witness."),
        witness_valid_after=_uint(witness, "validAfter", where + "witness."),
    )

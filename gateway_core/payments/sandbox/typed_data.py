"""EIP-712 typed data the sandbox checks, and signer recovery (spec/payments.md §9.2).

The same definitions serve verification (the sandbox facilitator) and signing (test wallets,
``gateway sandbox wallet``), so a payload we sign is by construction one we verify; the
tests also check them against payloads signed by the official x402 SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway_core.payments.sandbox.constants import PERMIT2_ADDRESS

if TYPE_CHECKING:
    from eth_account.messages import SignableMessage

# eth_account (~11 MiB resident) is imported where it is used, not at start-up: a gateway
# paid only with Compose Keys never loads it (issue 6: idle memory).

__all__ = [
    "PERMIT2_WITNESS_TYPES",
    "TRANSFER_WITH_AUTHORIZATION_TYPES",
    "SignatureError",
    "TypedData",
    "eip3009_typed_data",
    "permit2_typed_data",
    "recover_signer",
    "sign_typed_data",
]

TRANSFER_WITH_AUTHORIZATION_TYPES: Mapping[str, list[dict[str, str]]] = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}

PERMIT2_WITNESS_TYPES: Mapping[str, list[dict[str, str]]] = {
    "PermitWitnessTransferFrom": [
        {"name": "permitted", "type": "TokenPermissions"},
        {"name": "spender", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
        {"name": "witness", "type": "Witness"},
    ],
    "TokenPermissions": [
        {"name": "token", "type": "address"},
        {"name": "amount", "type": "uint256"},
    ],
    "Witness": [
        {"name": "to", "type": "address"},
        {"name": "facilitator", "type": "address"},
        {"name": "validAfter", "type": "uint256"},
    ],
}

_SIGNATURE = re.compile(r"^0x([0-9a-fA-F]{130})$")


class SignatureError(ValueError):
    """The signature is malformed or recovers to no address."""


@dataclass(frozen=True)
class TypedData:
    """One EIP-712 message: domain, struct types (without ``EIP712Domain``), primary type, values."""

    domain: Mapping[str, Any]
    types: Mapping[str, list[dict[str, str]]]
    primary_type: str
    message: Mapping[str, Any] = field(default_factory=dict)

    def signable(self) -> SignableMessage:
        from eth_account.messages import encode_typed_data

        # eth_account derives the EIP712Domain type from the domain's keys, which is what a
        # domain without ``version`` (Permit2's) needs.
        return encode_typed_data(
            domain_data=dict(self.domain),
            message_types={name: list(fields) for name, fields in self.types.items()},
            message_data=dict(self.message),
        )


def eip3009_typed_data(
    *,
    chain_id: int,
    asset: str,
    name: str,
    version: str,
    from_address: str,
    to: str,
    value: int,
    valid_after: int,
    valid_before: int,
    nonce: str,
) -> TypedData:
    """``TransferWithAuthorization`` under the token's domain ``{name, version, chainId,
    verifyingContract: asset}``; ``nonce`` is ``0x`` + 64 hex."""
    return TypedData(
        domain={"name": name, "version": version, "chainId": chain_id, "verifyingContract": asset.lower()},
        types=TRANSFER_WITH_AUTHORIZATION_TYPES,
        primary_type="TransferWithAuthorization",
        message={
            "from": from_address.lower(),
            "to": to.lower(),
            "value": value,
            "validAfter": valid_after,
            "validBefore": valid_before,
            "nonce": bytes.fromhex(nonce.removeprefix("0x")),
        },
    )


def permit2_typed_data(
    *,
    chain_id: int,
    token: str,
    amount: int,
    spender: str,
    nonce: int,
    deadline: int,
    witness_to: str,
    witness_facilitator: str,
    witness_valid_after: int,
    permit2: str = PERMIT2_ADDRESS,
) -> TypedData:
    """``PermitWitnessTransferFrom`` with the x402 upto witness under Permit2's domain
    ``{name: "Permit2", chainId, verifyingContract}`` (no ``version``)."""
    return TypedData(
        domain={"name": "Permit2", "chainId": chain_id, "verifyingContract": permit2.lower()},
        types=PERMIT2_WITNESS_TYPES,
        primary_type="PermitWitnessTransferFrom",
        message={
            "permitted": {"token": token.lower(), "amount": amount},
            "spender": spender.lower(),
            "nonce": nonce,
            "deadline": deadline,
            "witness": {
                "to": witness_to.lower(),
                "facilitator": witness_facilitator.lower(),
                "validAfter": witness_valid_after,
            },
        },
    )


def _signature_bytes(signature: str) -> bytes:
    """65 bytes r‖s‖v with v 27/28 or 0/1 (normalized to 27/28); only EOA signatures (§9.2)."""
    match = _SIGNATURE.match(signature.strip())
    if match is None:
        raise SignatureError("signature must be 65 bytes of 0x-prefixed hex")
    raw = bytearray(bytes.fromhex(match.group(1)))
    if raw[64] in (0, 1):
        raw[64] += 27
    if raw[64] not in (27, 28):
        raise SignatureError("signature v must be 27/28 or 0/1")
    return bytes(raw)


def recover_signer(typed: TypedData, signature: str) -> str:
    """The lowercase address that signed ``typed``.

    :raises SignatureError: malformed signature or one that recovers to nothing.
    """
    from eth_account import Account

    raw = _signature_bytes(signature)
    try:
        return str(Account.recover_message(typed.signable(), signature=raw)).lower()
    # eth_keys raises several unrelated types (BadSignature, ValidationError, ValueError)
    # for a well-formed but invalid r/s; all mean "not signed by anyone".
    except Exception as exc:
        raise SignatureError(f"signature does not recover: {exc}") from exc


def sign_typed_data(typed: TypedData, private_key: str | bytes) -> str:
    """``0x`` + 130 hex (v = 27/28)."""
    from eth_account import Account

    signed = Account.sign_message(typed.signable(), private_key)
    return "0x" + bytes(signed.signature).hex()

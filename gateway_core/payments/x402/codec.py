"""x402 header codecs (spec/payments.md §6.1, §6.6, §6.9; README "Base64").

Decoding is lenient where the spec says so (standard or URL-safe alphabet, padded or not,
surrounding whitespace) and strict about shape: the result is always one of the x402
package's pydantic models, or a :class:`PaymentRefused` with the §6.5 code.

Encoding does not use the package's ``encode_payment_*_header`` helpers: the response one
emits ``json.dumps`` spacing and both follow pydantic field order, while the spec asks for
compact JSON whose key order reproduces its examples byte-for-byte (the 402 body must be the
exact bytes that were base64-encoded, so the order is fixed here once).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse
from x402.schemas.v1 import PaymentPayloadV1

from gateway_core.payments.x402.constants import MAX_UINT256
from gateway_core.payments.x402.errors import PaymentRefused

__all__ = [
    "decode_base64",
    "decode_json_header",
    "decode_payment_header",
    "decode_payment_response_header",
    "dump_json",
    "encode_base64",
    "encode_payment_required_header",
    "encode_payment_response_header",
    "normalize_eip3009_nonce",
    "normalize_permit2_nonce",
    "payment_required_json",
    "requirement_dict",
    "settle_response_json",
    "upgrade_v1",
]

_M = TypeVar("_M", bound=BaseModel)

_BASE64 = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")
_HEX = re.compile(r"^(?:0[xX])?([0-9a-fA-F]+)$")

# Key orders of the spec's examples (§6.3, §6.7, §9.5); keys not listed follow in model order.
_REQUIRED_ORDER = ("x402Version", "error", "resource", "accepts", "extensions")
_RESOURCE_ORDER = ("url", "description", "mimeType")
_REQUIREMENT_ORDER = ("scheme", "network", "amount", "asset", "payTo", "maxTimeoutSeconds", "extra")
_SETTLE_ORDER = ("success", "errorReason", "errorMessage", "transaction", "network", "payer", "amount")


def decode_base64(value: str) -> bytes:
    """Standard or URL-safe alphabet, padded or not, surrounding whitespace ignored.

    :raises ValueError: not base64.
    """
    text = value.strip()
    if not _BASE64.match(text):
        raise ValueError("not base64")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    if len(text) % 4 == 1:
        raise ValueError("truncated base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def encode_base64(data: bytes) -> str:
    """Standard alphabet with padding: what every x402 header carries on output."""
    return base64.b64encode(data).decode("ascii")


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_json_header(value: str) -> Any:
    """base64(JSON) -> the JSON value; :raises ValueError: on either layer."""
    raw = decode_base64(value)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not UTF-8 JSON") from exc


def decode_payment_header(value: str, *, allow_v1: bool = True) -> PaymentPayload | PaymentPayloadV1:
    """Decode ``PAYMENT-SIGNATURE`` / ``X-PAYMENT`` (§6.5 checks 1 and 2, §6.9).

    The payload is dispatched by ``x402Version`` whichever header carried it (§1.2): 2 gives a
    :class:`PaymentPayload`, 1 (when ``allow_v1``) a :class:`PaymentPayloadV1` for
    :func:`upgrade_v1`.

    :raises PaymentRefused: ``invalid_payload`` or ``invalid_x402_version``.
    """
    try:
        data = decode_json_header(value)
    except ValueError as exc:
        raise PaymentRefused("invalid_payload", f"Payment header is not base64-encoded JSON ({exc})") from exc
    if not isinstance(data, dict) or "x402Version" not in data:
        raise PaymentRefused("invalid_payload", "Payment payload must be a JSON object with x402Version")
    version = data["x402Version"]
    if _is_int(version, 1):
        if not allow_v1:
            raise PaymentRefused("invalid_x402_version", "x402 v1 payloads are not accepted here")
        if not all(isinstance(data.get(key), str) for key in ("scheme", "network")) or not isinstance(
            data.get("payload"), dict
        ):
            raise PaymentRefused("invalid_payload", "x402 v1 payload needs scheme, network and payload")
        return _validate(PaymentPayloadV1, data)
    if not isinstance(data.get("accepted"), dict) or not isinstance(data.get("payload"), dict):
        raise PaymentRefused("invalid_payload", "Payment payload needs accepted and payload objects")
    if not _is_int(version, 2):
        raise PaymentRefused("invalid_x402_version", f"Unsupported x402Version {json.dumps(version)}")
    return _validate(PaymentPayload, data)


def _is_int(value: object, expected: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == expected


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PaymentRefused("invalid_payload", f"Payment payload field {where}: {first['msg']}") from exc


def upgrade_v1(payload: PaymentPayloadV1, accepted: PaymentRequirements) -> PaymentPayload:
    """A v1 payload as v2 (§6.9): ``accepted`` is the gateway's own ``exact`` requirement
    for the v1 network and this request; the inner ``payload`` is kept unchanged."""
    return PaymentPayload(x402_version=2, accepted=accepted, payload=dict(payload.payload))


def _ordered(data: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    first = [key for key in order if key in data]
    return {key: data[key] for key in [*first, *(key for key in data if key not in first)]}


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def requirement_dict(requirement: PaymentRequirements) -> dict[str, Any]:
    """A requirement as JSON, in the §6.3 key order."""
    return _ordered(_dump(requirement), _REQUIREMENT_ORDER)


def payment_required_json(challenge: PaymentRequired) -> bytes:
    """The 402 body: also exactly the bytes the ``PAYMENT-REQUIRED`` header encodes."""
    data = _dump(challenge)
    if "resource" in data:
        data["resource"] = _ordered(data["resource"], _RESOURCE_ORDER)
    data["accepts"] = [requirement_dict(item) for item in challenge.accepts]
    return dump_json(_ordered(data, _REQUIRED_ORDER))


def settle_response_json(response: SettleResponse) -> bytes:
    return dump_json(_ordered(_dump(response), _SETTLE_ORDER))


def encode_payment_required_header(challenge: PaymentRequired) -> str:
    return encode_base64(payment_required_json(challenge))


def encode_payment_response_header(response: SettleResponse) -> str:
    """``PAYMENT-RESPONSE`` (and, for v1 payers, ``X-PAYMENT-RESPONSE`` with the same value)."""
    return encode_base64(settle_response_json(response))


def decode_payment_response_header(value: str) -> SettleResponse:
    """For clients and tests; :raises ValueError: not a base64 ``SettleResponse``."""
    data = decode_json_header(value)
    try:
        return SettleResponse.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"not a SettleResponse: {exc}") from exc


def normalize_eip3009_nonce(value: object) -> str:
    """The §6.6 reservation form of an EIP-3009 ``bytes32`` nonce: ``0x`` + 64 lowercase hex.

    :raises ValueError: not 32 bytes of hex.
    """
    match = _HEX.match(value.strip()) if isinstance(value, str) else None
    if match is None or len(match.group(1)) != 64:
        raise ValueError("EIP-3009 nonce must be 32 bytes of hex")
    return "0x" + match.group(1).lower()


def normalize_permit2_nonce(value: object) -> str:
    """The §6.6 reservation form of a Permit2 ``uint256`` nonce: a decimal string.

    Hex input (``0x…``) is converted; integers are accepted.
    :raises ValueError: not a uint256.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit() and text.isascii():
            number = int(text)
        elif text[:2] in ("0x", "0X") and _HEX.match(text):
            number = int(text[2:], 16)
    if number is None or not 0 <= number <= MAX_UINT256:
        raise ValueError("Permit2 nonce must be a uint256 (decimal or 0x-hex)")
    return str(number)

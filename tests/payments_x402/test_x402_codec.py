"""Header codecs: tolerant decoding, exact encoding, nonce forms, v1 upgrade (spec/payments.md §6)."""

from __future__ import annotations

import base64
import json

import pytest
from x402.http import encode_payment_signature_header
from x402.schemas import PaymentPayload, SettleResponse
from x402.schemas.v1 import PaymentPayloadV1
from x402_testkit import NOW, PAY_TO, ROW

from gateway_core.payments.sandbox import Wallet, sign_exact, sign_exact_v1
from gateway_core.payments.x402 import (
    PaymentRefused,
    decode_payment_header,
    decode_payment_response_header,
    encode_payment_response_header,
    exact_requirement,
    normalize_eip3009_nonce,
    normalize_permit2_nonce,
    settle_response_json,
    upgrade_v1,
)

REQUIREMENT = exact_requirement(ROW, pay_to=PAY_TO, amount=6208, max_timeout_seconds=600)


def _payload() -> PaymentPayload:
    # '?' and '>' runs encode to '/' and '+' at every alignment, so the URL-safe rows below
    # really swap alphabet characters.
    return sign_exact(REQUIREMENT, Wallet.create(), now=NOW, extensions={"note": "???>>>" * 4})


def _b64(data: object) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda h: h, id="standard-padded"),
        pytest.param(lambda h: h.rstrip("="), id="standard-unpadded"),
        pytest.param(lambda h: h.replace("+", "-").replace("/", "_"), id="url-safe-padded"),
        pytest.param(lambda h: h.replace("+", "-").replace("/", "_").rstrip("="), id="url-safe-unpadded"),
        pytest.param(lambda h: f"  {h}\t\n", id="surrounding-whitespace"),
    ],
)
def test_payment_header_round_trips(transform) -> None:
    payload = _payload()
    header = encode_payment_signature_header(payload)  # the x402 package's encoder, as a client sends it
    assert "+" in header and "/" in header
    assert decode_payment_header(transform(header)) == payload


@pytest.mark.parametrize(
    ("header", "code"),
    [
        pytest.param("", "invalid_payload", id="empty"),
        pytest.param("!!!not base64!!!", "invalid_payload", id="not-base64"),
        pytest.param("eyJ4", "invalid_payload", id="truncated-json"),
        pytest.param("abcde", "invalid_payload", id="impossible-length"),
        pytest.param(base64.b64encode(b"\xff\xfe\xfd").decode(), "invalid_payload", id="not-utf8"),
        pytest.param(_b64([1, 2]), "invalid_payload", id="json-array"),
        pytest.param(_b64({"accepted": {}, "payload": {}}), "invalid_payload", id="no-version"),
        pytest.param(_b64({"x402Version": 2, "payload": {}}), "invalid_payload", id="no-accepted"),
        pytest.param(_b64({"x402Version": 2, "accepted": {}, "payload": "x"}), "invalid_payload", id="payload-string"),
        pytest.param(_b64({"x402Version": 2, "accepted": {"scheme": "exact"}, "payload": {}}), "invalid_payload",
                     id="accepted-incomplete"),
        pytest.param(_b64({"x402Version": 3, "accepted": {}, "payload": {}}), "invalid_x402_version", id="version-3"),
        pytest.param(_b64({"x402Version": "2", "accepted": {}, "payload": {}}), "invalid_x402_version",
                     id="version-string"),
        pytest.param(_b64({"x402Version": True, "accepted": {}, "payload": {}}), "invalid_x402_version",
                     id="version-bool"),
        pytest.param(_b64({"x402Version": 1, "scheme": "exact", "payload": {}}), "invalid_payload",
                     id="v1-without-network"),
    ],
)  # fmt: skip
def test_garbage_headers_are_refused_with_the_check_code(header, code) -> None:
    with pytest.raises(PaymentRefused) as refused:
        decode_payment_header(header)
    assert refused.value.code == code
    assert refused.value.challenge_error.startswith(f"{code}: ")


def test_v1_payload_decodes_as_v1_and_can_be_refused() -> None:
    v1 = sign_exact_v1(REQUIREMENT, Wallet.create(), v1_network="sandbox", now=NOW)
    header = encode_payment_signature_header(v1)
    decoded = decode_payment_header(header)
    assert isinstance(decoded, PaymentPayloadV1) and decoded == v1
    with pytest.raises(PaymentRefused) as refused:
        decode_payment_header(header, allow_v1=False)
    assert refused.value.code == "invalid_x402_version"


def test_v1_upgrade_keeps_the_inner_payload_and_takes_the_gateway_requirement() -> None:
    v1 = sign_exact_v1(REQUIREMENT, Wallet.create(), v1_network="sandbox", now=NOW)
    upgraded = upgrade_v1(v1, REQUIREMENT)
    assert upgraded.x402_version == 2
    assert upgraded.accepted == REQUIREMENT
    assert upgraded.payload == v1.payload
    assert upgraded.resource is None and upgraded.extensions is None


SPEC_SETTLE_HEADER = (
    "eyJzdWNjZXNzIjp0cnVlLCJ0cmFuc2FjdGlvbiI6IjB4N2NkM2I4ZjBlMWEyYzRkNWU2ZjcwODE5MmEzYjRjNWQ2ZTdmODA5MWEyYjNjNGQ1ZTZm"
    "NzA4MTkyYTNiOGQxMiIsIm5ldHdvcmsiOiJlaXAxNTU6MzEzMzciLCJwYXllciI6IjB4MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
    "MjIyMjIyMiIsImFtb3VudCI6IjIzIn0="
)


def test_payment_response_reproduces_the_spec_example() -> None:
    response = SettleResponse(
        success=True,
        transaction="0x7cd3b8f0e1a2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b8d12",
        network="eip155:31337",
        payer="0x2222222222222222222222222222222222222222",
        amount="23",
    )
    assert encode_payment_response_header(response) == SPEC_SETTLE_HEADER
    assert decode_payment_response_header(SPEC_SETTLE_HEADER.rstrip("=")) == response


def test_failed_settle_response_key_order() -> None:
    response = SettleResponse(
        success=False,
        error_reason="insufficient_funds",
        error_message="low",
        transaction="",
        network="eip155:31337",
        payer="0x2222222222222222222222222222222222222222",
    )
    assert settle_response_json(response) == (
        b'{"success":false,"errorReason":"insufficient_funds","errorMessage":"low","transaction":"",'
        b'"network":"eip155:31337","payer":"0x2222222222222222222222222222222222222222"}'
    )


def test_garbage_payment_response_raises_value_error() -> None:
    with pytest.raises(ValueError):
        decode_payment_response_header(_b64({"success": "maybe"}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0x" + "AB" * 32, "0x" + "ab" * 32, id="uppercase-hex"),
        pytest.param("ab" * 32, "0x" + "ab" * 32, id="no-prefix"),
        pytest.param(" 0X" + "0" * 64 + " ", "0x" + "0" * 64, id="upper-prefix-whitespace"),
    ],
)
def test_eip3009_nonce_normalization(value, expected) -> None:
    assert normalize_eip3009_nonce(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0x" + "ab" * 31, id="31-bytes"),
        pytest.param("0x" + "zz" * 32, id="not-hex"),
        pytest.param(12, id="integer"),
        pytest.param(None, id="missing"),
    ],
)
def test_bad_eip3009_nonces(value) -> None:
    with pytest.raises(ValueError):
        normalize_eip3009_nonce(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("60544231907719513624594", "60544231907719513624594", id="decimal"),
        pytest.param("0x0cd2", "3282", id="hex-converted"),
        pytest.param("007", "7", id="leading-zeros"),
        pytest.param(42, "42", id="integer"),
        pytest.param("0x" + "f" * 64, str(2**256 - 1), id="max-uint256"),
    ],
)
def test_permit2_nonce_normalization(value, expected) -> None:
    assert normalize_permit2_nonce(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-1", id="negative"),
        pytest.param(str(2**256), id="above-uint256"),
        pytest.param("1e3", id="exponent"),
        pytest.param("0x", id="empty-hex"),
        pytest.param(True, id="bool"),
        pytest.param("١٢", id="non-ascii-digits"),
    ],
)
def test_bad_permit2_nonces(value) -> None:
    with pytest.raises(ValueError):
        normalize_permit2_nonce(value)

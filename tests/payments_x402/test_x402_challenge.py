"""The 402 challenge and the envelope rules (spec/payments.md §6.3)."""

from __future__ import annotations

import base64
import json

import pytest
from x402.http import decode_payment_required_header
from x402_testkit import FACILITATOR, PAY_TO, ROW

from gateway_core.errors import GatewayError
from gateway_core.payments.x402 import (
    build_challenge,
    encode_payment_required_header,
    payment_required_json,
    select_envelope,
)

# The spec's example, verbatim (key order included).
SPEC_EXAMPLE = """
{
  "x402Version": 2,
  "resource": { "url": "http://127.0.0.1:3000/v1/chat/completions",
                "description": "AI inference: POST /v1/chat/completions", "mimeType": "application/json" },
  "accepts": [
    { "scheme": "upto", "network": "eip155:31337", "amount": "1000000",
      "asset": "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d", "payTo": "0x1111111111111111111111111111111111111111",
      "maxTimeoutSeconds": 600,
      "extra": { "name": "USDC", "version": "2", "assetTransferMethod": "permit2",
                 "facilitatorAddress": "0x3333333333333333333333333333333333333333",
                 "compose": { "metering": "authoritative_usage" } } },
    { "scheme": "exact", "network": "eip155:31337", "amount": "6208",
      "asset": "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d", "payTo": "0x1111111111111111111111111111111111111111",
      "maxTimeoutSeconds": 600,
      "extra": { "name": "USDC", "version": "2", "compose": { "metering": "quoted" } } }
  ],
  "extensions": { "compose-metering-v1": { "mode": "authoritative_usage" } }
}
"""
SPEC_HEADER_PREFIX = "eyJ4NDAyVmVyc2lvbiI6MiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cDovLzEyNy4wLjAuMTozMDAwL3Yx"


def _challenge(**overrides):
    arguments = {
        "resource_url": "http://127.0.0.1:3000/v1/chat/completions",
        "method": "POST",
        "path": "/v1/chat/completions",
        "row": ROW,
        "pay_to": PAY_TO,
        "envelope": 1_000_000,
        "max_cost": 6208,
        "schemes": ("upto", "exact"),
        "facilitator_address": FACILITATOR,
        "max_timeout_seconds": 600,
    }
    arguments.update(overrides)
    return build_challenge(**arguments)


def test_spec_example_byte_for_byte() -> None:
    body = payment_required_json(_challenge())
    assert body == json.dumps(json.loads(SPEC_EXAMPLE), separators=(",", ":")).encode()
    header = encode_payment_required_header(_challenge())
    assert header.startswith(SPEC_HEADER_PREFIX)
    assert base64.b64decode(header, validate=True) == body  # standard alphabet, padded, same bytes as the body


def test_the_x402_package_reads_our_challenge() -> None:
    challenge = _challenge()
    assert decode_payment_required_header(encode_payment_required_header(challenge)) == challenge


@pytest.mark.parametrize(
    ("overrides", "schemes"),
    [
        pytest.param({"schemes": ("exact", "upto")}, ["exact", "upto"], id="configured-order"),
        pytest.param({"schemes": ("upto",)}, ["upto"], id="upto-only"),
        pytest.param({"schemes": ("exact",)}, ["exact"], id="exact-only"),
        pytest.param({"quotable": False}, ["upto"], id="unquotable-drops-exact"),
        pytest.param({"facilitator_address": None}, ["exact"], id="no-facilitator-address-drops-upto"),
    ],
)
def test_accepts_follow_configuration(overrides, schemes) -> None:
    assert [item.scheme for item in _challenge(**overrides).accepts] == schemes


def test_refusal_sets_error_and_extensions_can_be_disabled() -> None:
    data = json.loads(payment_required_json(_challenge(error="amount_mismatch: nope", extensions=False)))
    assert list(data) == ["x402Version", "error", "resource", "accepts"]
    assert data["error"] == "amount_mismatch: nope"


def test_query_stays_in_url_and_out_of_description() -> None:
    challenge = _challenge(resource_url="https://gw.example/v1/embeddings?x=1", method="post", path="/v1/embeddings")
    assert challenge.resource is not None
    assert (challenge.resource.url, challenge.resource.description) == (
        "https://gw.example/v1/embeddings?x=1",
        "AI inference: POST /v1/embeddings",
    )


def test_addresses_are_emitted_as_configured_for_assets_and_lowercase_for_wallets() -> None:
    upto = _challenge(pay_to="0xABCDEFabcdefABCDEFabcdefABCDEFabcdefABCD", row=ROW).accepts[0]
    assert upto.pay_to == "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
    base_row = type(ROW)(8453, "Base", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2", "base")
    assert _challenge(row=base_row).accepts[0].asset == "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"


@pytest.mark.parametrize(
    ("header", "body_value", "max_cost", "expected"),
    [
        pytest.param("2500", None, 6208, 2500, id="header"),
        pytest.param(" 2500 ", 9, 6208, 2500, id="header-wins-over-body"),
        pytest.param("abc", 9000, 6208, 9000, id="malformed-header-falls-to-body"),
        pytest.param("0", 9000, 6208, 9000, id="zero-header-falls-to-body"),
        pytest.param("-5", None, 6208, 1_000_000, id="negative-header-falls-to-default"),
        pytest.param(None, 0, 6208, 1_000_000, id="zero-body-is-absent"),
        pytest.param(None, None, 6208, 1_000_000, id="default"),
        pytest.param(None, None, 3_000_000, 3_000_000, id="large-quote-asks-for-its-quote"),
        pytest.param(None, None, 500_000_000, 100_000_000, id="computed-capped-at-max"),
        pytest.param("100000000", None, 6208, 100_000_000, id="header-equal-to-max"),
    ],
)
def test_envelope_selection(header, body_value, max_cost, expected) -> None:
    envelope = select_envelope(
        header=header, body_value=body_value, max_cost=max_cost, default_envelope=1_000_000, max_envelope=100_000_000
    )
    assert envelope == expected


@pytest.mark.parametrize(
    ("header", "body_value"),
    [pytest.param("100000001", None, id="header"), pytest.param(None, 100_000_001, id="body")],
)
def test_given_envelope_above_max_is_a_400(header, body_value) -> None:
    with pytest.raises(GatewayError) as raised:
        select_envelope(
            header=header, body_value=body_value, max_cost=1, default_envelope=1_000_000, max_envelope=100_000_000
        )
    assert (raised.value.status, raised.value.code, raised.value.param) == (
        400,
        "invalid_request",
        "x-x402-max-amount-wei",
    )

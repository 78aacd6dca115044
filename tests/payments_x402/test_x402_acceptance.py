"""Acceptance checks 1-9 of spec/payments.md §6.5, v1 upgrade (§6.9), verify answer (check 10)."""

from __future__ import annotations

import copy

import pytest
from x402.http import encode_payment_signature_header
from x402.schemas import VerifyResponse
from x402_testkit import FACILITATOR, NOW, OTHER, PAY_TO, ROW

from gateway_core.payments.sandbox import Wallet, sign_exact, sign_exact_v1, sign_upto
from gateway_core.payments.x402 import (
    PaymentRefused,
    accept,
    build_challenge,
    decode_payment_header,
    load_chains,
)

M = 6208
MIN_RUNNABLE = 64
CHALLENGE = build_challenge(
    resource_url="http://127.0.0.1:3000/v1/chat/completions",
    method="POST",
    path="/v1/chat/completions",
    row=ROW,
    pay_to=PAY_TO,
    envelope=1_000_000,
    max_cost=M,
    schemes=("upto", "exact"),
    facilitator_address=FACILITATOR,
    max_timeout_seconds=600,
)
UPTO, EXACT = CHALLENGE.accepts
WALLET = Wallet.create()


def _accept(payload, **overrides):
    arguments = {
        "now": NOW,
        "network_rows": [ROW],
        "pay_to": PAY_TO,
        "schemes": ("upto", "exact"),
        "max_envelope": 100_000_000,
        "min_runnable_cost": MIN_RUNNABLE,
        "exact_cost": M,
        "facilitator_signers": {FACILITATOR.upper().replace("0X", "0x")},
        "max_timeout_seconds": 600,
    }
    arguments.update(overrides)
    return accept(payload, **arguments)


def _upto(**sign):
    return sign_upto(UPTO, WALLET, now=NOW, nonce=60544231907719513624594, **sign)


def _exact(**sign):
    return sign_exact(EXACT, WALLET, now=NOW, nonce="0x" + "2C" * 32, **sign)


def _with_accepted(payload, **fields):
    return payload.model_copy(update={"accepted": payload.accepted.model_copy(update=fields)})


def _with_extra(payload, **extra):
    return _with_accepted(payload, extra={**payload.accepted.extra, **extra})


def _without_inner(payload, key):
    inner = copy.deepcopy(payload.payload)
    del inner[key]
    return payload.model_copy(update={"payload": inner})


def test_upto_is_accepted_with_its_authorized_amount() -> None:
    accepted = _accept(_upto())
    assert (accepted.scheme, accepted.amount, accepted.version) == ("upto", 1_000_000, 2)
    assert accepted.payer == WALLET.address
    assert accepted.nonce == "60544231907719513624594"
    assert accepted.deadline == NOW + 600
    assert accepted.reservation_key == ("eip155:31337", ROW.usdc_address, WALLET.address, "60544231907719513624594")
    assert accepted.requirement == UPTO  # /verify gets the gateway's own requirement, amount B
    assert accepted.settle_requirement(23).amount == "23"
    assert accepted.settle_requirement(23).extra == UPTO.extra


def test_exact_is_accepted_at_the_quote() -> None:
    accepted = _accept(_exact())
    assert (accepted.scheme, accepted.amount) == ("exact", M)
    assert accepted.nonce == "0x" + "2c" * 32  # reservation form: lowercase
    assert accepted.requirement == EXACT


@pytest.mark.parametrize(
    ("payload", "overrides", "code"),
    [
        # 3
        pytest.param(_with_accepted(_upto(), network="eip155:84532"), {}, "invalid_network", id="3-not-enabled"),
        pytest.param(_upto(), {"network_rows": []}, "invalid_network", id="3-no-enabled-network"),
        # 4
        pytest.param(_exact(), {"schemes": ("upto",)}, "unsupported_scheme", id="4-exact-not-configured"),
        pytest.param(_upto(), {"schemes": ("exact",)}, "unsupported_scheme", id="4-upto-not-configured"),
        pytest.param(_exact(), {"exact_cost": None, "min_runnable_cost": None}, "unsupported_scheme",
                     id="4-exact-on-unquotable-call"),
        pytest.param(_with_accepted(_upto(), scheme="batch"), {"schemes": ("batch", "upto")}, "unsupported_scheme",
                     id="4-unknown-scheme"),
        # 5
        pytest.param(_with_accepted(_upto(), asset=OTHER), {}, "invalid_payment_requirements", id="5-asset"),
        pytest.param(_with_accepted(_exact(), pay_to=OTHER), {}, "invalid_payment_requirements", id="5-pay-to"),
        # 6
        pytest.param(_with_accepted(_upto(), amount="0"), {}, "invalid_payment_requirements", id="6-zero-amount"),
        pytest.param(_with_accepted(_upto(), amount="1e6"), {}, "invalid_payment_requirements", id="6-not-digits"),
        pytest.param(_upto(), {"max_envelope": 999_999}, "invalid_payment_requirements", id="6-above-max-envelope"),
        pytest.param(_with_extra(_upto(), facilitatorAddress=OTHER), {}, "upto_facilitator_mismatch",
                     id="6-facilitator-not-a-signer"),
        pytest.param(_upto(), {"facilitator_signers": set()}, "upto_facilitator_mismatch", id="6-no-signers"),
        # 7
        pytest.param(_upto(), {"min_runnable_cost": 1_000_001}, "authorization_too_small", id="7-below-minimum"),
        # 8
        pytest.param(_exact(), {"exact_cost": M + 1}, "amount_mismatch", id="8-quote-changed"),
        pytest.param(_with_accepted(_exact(), amount="06208x"), {}, "amount_mismatch", id="8-not-digits"),
        # 9
        pytest.param(_upto(deadline=NOW + 59), {}, "authorization_expires_too_soon", id="9-upto-deadline"),
        pytest.param(_exact(valid_before=NOW + 59), {}, "authorization_expires_too_soon", id="9-exact-valid-before"),
        # inner payload unreadable
        pytest.param(_without_inner(_upto(), "permit2Authorization"), {}, "invalid_payload", id="upto-no-permit"),
        pytest.param(_without_inner(_exact(), "signature"), {}, "invalid_payload", id="exact-no-signature"),
    ],
)  # fmt: skip
def test_refusals_carry_the_first_failing_check_code(payload, overrides, code) -> None:
    with pytest.raises(PaymentRefused) as refused:
        _accept(payload, **overrides)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("payload", "overrides"),
    [
        pytest.param(_upto(deadline=NOW + 60), {}, id="9-exactly-60s-left"),
        pytest.param(_upto(), {"min_runnable_cost": 1_000_000}, id="7-equal-to-minimum"),
        pytest.param(_upto(), {"min_runnable_cost": None, "exact_cost": None}, id="7-unquotable-has-no-minimum"),
        pytest.param(_upto(), {"max_envelope": 1_000_000}, id="6-equal-to-max-envelope"),
        pytest.param(_with_accepted(_upto(), asset=ROW.usdc_address.upper().replace("0X", "0x")), {},
                     id="5-asset-any-case"),
    ],
)  # fmt: skip
def test_boundaries_are_accepted(payload, overrides) -> None:
    _accept(payload, **overrides)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        pytest.param("%%%", "invalid_payload", id="1-garbage"),
        pytest.param(
            encode_payment_signature_header(_upto().model_copy(update={"x402_version": 3})),
            "invalid_x402_version",
            id="2-version",
        ),
    ],
)
def test_checks_1_and_2_happen_in_decoding(header, code) -> None:
    with pytest.raises(PaymentRefused) as refused:
        _accept(decode_payment_header(header))
    assert refused.value.code == code


def test_v1_payload_is_upgraded_to_the_gateway_exact_requirement() -> None:
    v1 = sign_exact_v1(EXACT, WALLET, v1_network="sandbox", now=NOW)
    accepted = _accept(decode_payment_header(encode_payment_signature_header(v1)))
    assert (accepted.version, accepted.scheme, accepted.amount) == (1, "exact", M)
    assert accepted.payload.accepted == EXACT
    assert accepted.payload.payload == v1.payload


@pytest.mark.parametrize(
    ("v1_network", "scheme", "sign", "overrides", "code"),
    [
        pytest.param("polygon", "exact", {}, {}, "invalid_network", id="unknown-v1-name"),
        pytest.param("base-sepolia", "exact", {}, {}, "invalid_network", id="known-but-not-enabled"),
        pytest.param("sandbox", "upto", {}, {}, "unsupported_scheme", id="v1-only-exact"),
        pytest.param("sandbox", "exact", {}, {"schemes": ("upto",)}, "unsupported_scheme", id="exact-not-offered"),
        pytest.param("sandbox", "exact", {"value": M - 1}, {}, "amount_mismatch", id="value-is-not-the-quote"),
        pytest.param("sandbox", "exact", {"valid_before": NOW + 10}, {}, "authorization_expires_too_soon",
                     id="then-check-9"),
    ],
)  # fmt: skip
def test_v1_refusals(v1_network, scheme, sign, overrides, code) -> None:
    v1 = sign_exact_v1(EXACT, WALLET, v1_network=v1_network, now=NOW, **sign).model_copy(update={"scheme": scheme})
    with pytest.raises(PaymentRefused) as refused:
        _accept(v1, **{"network_rows": list(load_chains())[:1], **overrides})
    assert refused.value.code == code


def test_verify_answer_is_check_10() -> None:
    accepted = _accept(_upto())
    refused = VerifyResponse(is_valid=False, invalid_reason="permit2_invalid_nonce", invalid_message="used")
    with pytest.raises(PaymentRefused) as raised:
        accepted.verified(refused)
    assert raised.value.challenge_error == "permit2_invalid_nonce: used"
    relayed = accepted.verified(VerifyResponse(is_valid=True, payer="0xABCDEFabcdefABCDEFabcdefABCDEFabcdefABCD"))
    assert relayed.payer == "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"  # the facilitator's payer wins
    assert accepted.verified(VerifyResponse(is_valid=True)).payer == WALLET.address

"""Raw x402 payments the gateway must refuse, and the one it must serve only once
(spec/payments.md §6.5, §6.6, §6.9, §9.5).

Every payment is really signed (EIP-3009 or Permit2 typed data) by the sandbox signer; a
"tampered" payment is a validly signed one whose JSON was changed afterwards, or one signed
over the wrong values, whichever the row needs to reach the check it names.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_utils import to_checksum_address
from paid_support import (
    CHAT,
    b64json,
    balance,
    chat_body,
    encode,
    funded_wallet,
    merchant,
    now,
    paid_gateway,
    post_concurrently,
    replay_concurrently,
    requirement,
    x402_error,
)
from x402.schemas import PaymentRequirements

from gateway_core.payments.sandbox import Wallet, sign_exact, sign_exact_v1, sign_upto
from gateway_core.testing.server import GatewayServer

OTHER = "0x4444444444444444444444444444444444444444"
BODY = chat_body("paid-text")


@dataclass
class Payer:
    """What a case needs to build its payment header."""

    wallet: Wallet
    stranger: Wallet  # funded too, but not the payer
    exact: PaymentRequirements  # the gateway's own requirements for BODY
    upto: PaymentRequirements
    min_upto: int  # M with an output cap of 1: the smallest runnable upto amount


@pytest.fixture
def payer(mock_gateway: GatewayServer) -> Payer:
    challenge = httpx.post(mock_gateway.base_url + CHAT, json=BODY, timeout=30)
    smallest = httpx.post(mock_gateway.base_url + CHAT, json={**BODY, "max_tokens": 1}, timeout=30)
    return Payer(
        funded_wallet(mock_gateway),
        funded_wallet(mock_gateway),
        requirement(challenge, "exact"),
        requirement(challenge, "upto"),
        int(requirement(smallest, "exact").amount),
    )


def _edit(payload: Any, change: Callable[[dict[str, Any]], None]) -> str:
    data = payload.model_dump(by_alias=True, exclude_none=True)
    change(data)
    return encode(data)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[part]
        data[last] = value

    return change


def _requirement(base: PaymentRequirements, **changes: Any) -> PaymentRequirements:
    return base.model_copy(update=changes)


def _wrong_signer(scheme: str) -> Callable[[Payer], str]:
    """Signed by the stranger, presented as the payer's."""

    def build(p: Payer) -> str:
        if scheme == "exact":
            payload = sign_exact(p.exact, p.stranger, now=now())
            return _edit(payload, _set("payload.authorization.from", p.wallet.address))
        payload = sign_upto(p.upto, p.stranger, now=now())
        return _edit(payload, _set("payload.permit2Authorization.from", p.wallet.address))

    return build


def _in_x_payment(build: Callable[[Payer], str]) -> Callable[[Payer], tuple[str, str]]:
    return lambda p: ("x-payment", build(p))


def _header(built: str | tuple[str, str]) -> tuple[str, str]:
    return built if isinstance(built, tuple) else ("payment-signature", built)


def _v1_exact(p: Payer, **overrides: Any) -> dict[str, Any]:
    payload = sign_exact_v1(p.exact, p.wallet, v1_network="sandbox", now=now(), **overrides)
    data: dict[str, Any] = payload.model_dump(by_alias=True, exclude_none=True)
    return data


CASES = [
    # -- amount ----------------------------------------------------------------------------
    pytest.param(
        lambda p: encode(sign_exact(_requirement(p.exact, amount=str(int(p.exact.amount) + 1)), p.wallet, now=now())),
        "amount_mismatch",
        id="exact-accepted-amount-not-the-quote",
    ),
    pytest.param(
        lambda p: encode(sign_exact(p.exact, p.wallet, now=now(), value=int(p.exact.amount) - 1)),
        "invalid_exact_evm_payload_authorization_value_mismatch",
        id="exact-signed-value-below-quote",
    ),
    pytest.param(
        lambda p: _edit(
            sign_upto(p.upto, p.wallet, now=now()), _set("payload.permit2Authorization.permitted.amount", "1")
        ),
        "permit2_amount_mismatch",
        id="upto-permitted-amount-tampered",
    ),
    pytest.param(
        lambda p: _edit(
            sign_upto(p.upto, p.wallet, now=now()),
            lambda d: (
                _set("accepted.amount", str(p.min_upto))(d),
                _set("payload.permit2Authorization.permitted.amount", str(p.min_upto))(d),
            ),
        ),
        "invalid_upto_evm_payload_signature",
        id="upto-both-amounts-tampered",
    ),
    pytest.param(
        lambda p: encode(sign_upto(_requirement(p.upto, amount=str(p.min_upto - 1)), p.wallet, now=now())),
        "authorization_too_small",
        id="upto-below-one-output-token",
    ),
    pytest.param(
        lambda p: encode(sign_upto(_requirement(p.upto, amount=str(10**12)), p.wallet, now=now())),
        "invalid_payment_requirements",
        id="upto-above-max-envelope",
    ),
    # -- payTo ------------------------------------------------------------------------------
    pytest.param(
        lambda p: _edit(sign_exact(p.exact, p.wallet, now=now()), _set("accepted.payTo", OTHER)),
        "invalid_payment_requirements",
        id="exact-accepted-payto",
    ),
    pytest.param(
        lambda p: encode(sign_exact(p.exact, p.wallet, now=now(), to=OTHER)),
        "invalid_exact_evm_payload_recipient_mismatch",
        id="exact-signed-to-another-address",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), to=OTHER)),
        "invalid_upto_evm_payload_recipient_mismatch",
        id="upto-witness-to-another-address",
    ),
    # -- network and asset ------------------------------------------------------------------
    pytest.param(
        lambda p: _edit(sign_exact(p.exact, p.wallet, now=now()), _set("accepted.network", "eip155:8453")),
        "invalid_network",
        id="exact-network-not-enabled",
    ),
    pytest.param(
        lambda p: _edit(sign_upto(p.upto, p.wallet, now=now()), _set("accepted.network", "eip155:84532")),
        "invalid_network",
        id="upto-network-not-enabled",
    ),
    pytest.param(
        lambda p: _edit(sign_exact(p.exact, p.wallet, now=now()), _set("accepted.asset", OTHER)),
        "invalid_payment_requirements",
        id="exact-accepted-asset",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), token=OTHER)),
        "permit2_token_mismatch",
        id="upto-permitted-token",
    ),
    # -- validity window --------------------------------------------------------------------
    pytest.param(
        lambda p: encode(sign_exact(p.exact, p.wallet, now=now(), valid_before=now() - 10)),
        "authorization_expires_too_soon",
        id="exact-expired",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), deadline=now() + 30)),
        "authorization_expires_too_soon",
        id="upto-deadline-within-a-minute",
    ),
    pytest.param(
        lambda p: encode(sign_exact(p.exact, p.wallet, now=now(), valid_after=now() + 3600)),
        "invalid_exact_evm_payload_authorization_valid_after",
        id="exact-not-yet-valid",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), valid_after=now() + 3600)),
        "permit2_not_yet_valid",
        id="upto-not-yet-valid",
    ),
    pytest.param(
        lambda p: _edit(
            sign_exact(p.exact, p.wallet, now=now()), _set("payload.authorization.validBefore", str(now() + 7200))
        ),
        "invalid_exact_evm_payload_signature",
        id="exact-valid-before-tampered",
    ),
    # -- signer, facilitator, spender, funds ------------------------------------------------
    pytest.param(_wrong_signer("exact"), "invalid_exact_evm_payload_signature", id="exact-wrong-signer"),
    pytest.param(_wrong_signer("upto"), "invalid_upto_evm_payload_signature", id="upto-wrong-signer"),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), facilitator=OTHER)),
        "upto_facilitator_mismatch",
        id="upto-facilitator-not-a-signer",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, p.wallet, now=now(), spender=OTHER)),
        "permit2_invalid_spender",
        id="upto-wrong-spender",
    ),
    pytest.param(
        lambda p: encode(sign_exact(p.exact, Wallet.create(), now=now())),
        "insufficient_funds",
        id="exact-unfunded-wallet",
    ),
    pytest.param(
        lambda p: encode(sign_upto(p.upto, Wallet.create(), now=now())),
        "permit2_allowance_required",
        id="upto-no-permit2-allowance",
    ),
    # -- x402 v1 in X-PAYMENT (§6.9), and v2 payloads in X-PAYMENT (processed as v2) ----------
    pytest.param(
        _in_x_payment(
            lambda p: encode(
                {
                    "x402Version": 1,
                    "scheme": "upto",
                    "network": "sandbox",
                    "payload": sign_upto(p.upto, p.wallet, now=now()).payload,
                }
            )
        ),
        "unsupported_scheme",
        id="v1-upto",
    ),
    pytest.param(
        _in_x_payment(lambda p: encode({**_v1_exact(p), "network": "base-sepolia"})),
        "invalid_network",
        id="v1-network-not-enabled",
    ),
    pytest.param(
        _in_x_payment(lambda p: encode(_v1_exact(p, value=int(p.exact.amount) - 1))),
        "amount_mismatch",
        id="v1-value-not-the-quote",
    ),
    pytest.param(
        _in_x_payment(lambda p: encode(_v1_exact(p, valid_before=now() + 30))),
        "authorization_expires_too_soon",
        id="v1-expires-too-soon",
    ),
    pytest.param(
        _in_x_payment(_wrong_signer("exact")),
        "invalid_exact_evm_payload_signature",
        id="v2-in-x-payment-wrong-signer",
    ),
    pytest.param(_in_x_payment(lambda p: "%%%"), "invalid_payload", id="garbage-in-x-payment"),
    # -- not a payment at all ---------------------------------------------------------------
    pytest.param(lambda p: "not base64 at all!", "invalid_payload", id="garbage"),
    pytest.param(lambda p: encode({"x402Version": 2, "accepted": {}}), "invalid_payload", id="no-payload"),
    pytest.param(
        lambda p: _edit(sign_exact(p.exact, p.wallet, now=now()), _set("x402Version", 3)),
        "invalid_x402_version",
        id="version-3",
    ),
]


@pytest.mark.parametrize(("build", "code"), CASES)
def test_refused_payment(
    build: Callable[[Payer], str | tuple[str, str]], code: str, payer: Payer, mock_gateway: GatewayServer
) -> None:
    """A refused payment gets the §6.3 challenge with ``error`` = ``"<code>: <message>"``, and
    nothing moves. The payload is dispatched by ``x402Version`` whichever header carries it
    (§1.2): v1 cases travel in ``X-PAYMENT``, a few v2 ones too."""
    header_name, header = _header(build(payer))
    before = {address: balance(mock_gateway, address) for address in (payer.wallet.address, merchant(mock_gateway))}
    response = httpx.post(mock_gateway.base_url + CHAT, json=BODY, headers={header_name: header}, timeout=30)
    error = x402_error(response)
    assert error.split(": ", 1)[0] == code, error
    assert len(error) > len(code) + 2, "the message follows the code"
    assert response.headers["cache-control"] == "no-store"
    assert [item["scheme"] for item in response.json()["accepts"]] == ["upto", "exact"]
    assert "payment-response" not in response.headers
    assert {address: balance(mock_gateway, address) for address in before} == before


def test_v1_exact_payment_is_served(payer: Payer, mock_gateway: GatewayServer) -> None:
    """§6.9: a v1 ``X-PAYMENT`` exact payment of the quote pays; the answer carries the
    settlement in ``X-PAYMENT-RESPONSE`` and ``PAYMENT-RESPONSE`` alike."""
    quote = int(payer.exact.amount)
    before = balance(mock_gateway, payer.wallet.address)
    header = encode(_v1_exact(payer))
    response = httpx.post(mock_gateway.base_url + CHAT, json=BODY, headers={"x-payment": header}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["x-payment-response"] == response.headers["payment-response"]
    settled = b64json(response.headers["payment-response"])
    assert settled["success"] is True and settled["amount"] == str(quote)
    assert settled["payer"] == payer.wallet.address
    assert response.json()["receipt"]["final_amount_wei"] == str(quote)
    assert before - balance(mock_gateway, payer.wallet.address) == quote


@pytest.mark.parametrize(
    ("scheme", "spent_code"),
    [
        pytest.param("exact", "invalid_exact_evm_nonce_already_used", id="exact"),
        pytest.param("upto", "permit2_invalid_nonce", id="upto"),
    ],
)
def test_one_payment_sent_five_times_at_once(
    scheme: str, spent_code: str, payer: Payer, mock_gateway: GatewayServer
) -> None:
    """``paid-slow`` answers in ~0.5 s, so all five copies meet the reservation of the first:
    one is served, four get ``authorization_in_use`` (§6.6), the payer pays once."""
    body = chat_body("paid-slow")
    signed = sign_exact(payer.exact, payer.wallet, now=now()) if scheme == "exact" else None
    if signed is None:
        signed = sign_upto(payer.upto, payer.wallet, now=now())
    header = encode(signed)
    replay_concurrently([mock_gateway], header, body)
    # Once settled, the facilitator's /verify already knows the nonce is spent (§6.5 check 10
    # runs before the reservation), so a late replay is refused with its reason.
    late = httpx.post(mock_gateway.base_url + CHAT, json=body, headers={"payment-signature": header}, timeout=30)
    assert x402_error(late).split(": ", 1)[0] == spent_code


def _respell(payload: dict[str, Any], scheme: str, wallet: Wallet) -> list[tuple[str, str]]:
    """The same signed authorization in spellings a client may legitimately use."""

    def variant(path: str, value: Any) -> str:
        copy = json.loads(json.dumps(payload))
        _set(path, value)(copy)
        return encode(copy)

    urlsafe = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    if scheme == "exact":
        nonce = payload["payload"]["authorization"]["nonce"]
        v1 = {"x402Version": 1, "scheme": "exact", "network": "sandbox", "payload": payload["payload"]}
        return [
            ("payment-signature", encode(payload)),
            ("payment-signature", variant("payload.authorization.nonce", "0x" + nonce[2:].upper())),
            ("payment-signature", variant("payload.authorization.from", to_checksum_address(wallet.address))),
            ("x-payment", encode(v1)),
            ("payment-signature", urlsafe),
        ]
    nonce = int(payload["payload"]["permit2Authorization"]["nonce"])
    return [
        ("payment-signature", encode(payload)),
        ("payment-signature", variant("payload.permit2Authorization.nonce", hex(nonce))),
        ("payment-signature", variant("payload.permit2Authorization.nonce", "0x" + format(nonce, "064X"))),
        ("payment-signature", variant("payload.permit2Authorization.from", to_checksum_address(wallet.address))),
        ("x-payment", urlsafe),
    ]


@pytest.mark.parametrize("scheme", [pytest.param("exact", id="exact"), pytest.param("upto", id="upto")])
def test_one_authorization_in_five_spellings(scheme: str, payer: Payer, mock_gateway: GatewayServer) -> None:
    """The reservation key is normalized (§6.6: network, asset and payer lowercase, nonce as
    0x+64 hex or decimal), so re-encoding a payment (v1 envelope, URL-safe base64, other nonce
    or address case) does not make it a second payment."""
    signer = sign_exact if scheme == "exact" else sign_upto
    payload = signer(getattr(payer, scheme), payer.wallet, now=now()).model_dump(by_alias=True, exclude_none=True)
    before = balance(mock_gateway, payer.wallet.address)
    body = chat_body("paid-slow")
    spellings = _respell(payload, scheme, payer.wallet)
    responses = post_concurrently([(mock_gateway, body, {name: value}) for name, value in spellings])
    assert sorted(r.status_code for r in responses) == [200, 402, 402, 402, 402]
    for response in responses:
        if response.status_code == 402:
            assert x402_error(response).startswith("authorization_in_use: ")
    served = next(r for r in responses if r.status_code == 200)
    assert before - balance(mock_gateway, payer.wallet.address) == int(served.json()["receipt"]["final_amount_wei"])


@pytest.mark.parametrize(
    ("headers", "status", "code", "param"),
    [
        pytest.param({"x-chain-id": "abc"}, 400, "invalid_request", "x-chain-id", id="chain-id-not-a-number"),
        pytest.param({"x-chain-id": "0"}, 400, "invalid_request", "x-chain-id", id="chain-id-zero"),
        pytest.param({"x-chain-id": "43113"}, 400, "chain_not_supported", None, id="chain-not-enabled"),
        pytest.param(
            {"x-x402-max-amount-wei": str(10**12)},
            400,
            "invalid_request",
            "x-x402-max-amount-wei",
            id="envelope-too-big",
        ),
    ],
)
def test_bad_challenge_request(
    headers: dict[str, str], status: int, code: str, param: str | None, mock_gateway: GatewayServer
) -> None:
    """§1.3 and §6.3: a challenge that cannot be built is an OpenAI-envelope error, not a 402."""
    response = httpx.post(mock_gateway.base_url + CHAT, json=BODY, headers=headers, timeout=30)
    assert response.status_code == status
    assert "payment-required" not in response.headers
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param({"headers": {"x-x402-max-amount-wei": "12345"}}, "12345", id="header"),
        pytest.param({"json": {**BODY, "max_payment_amount_wei": 23456}}, "23456", id="body-field"),
        pytest.param({"headers": {"x-x402-max-amount-wei": "lots"}}, "1000000", id="malformed-header-ignored"),
    ],
)
def test_upto_envelope_source(source: dict[str, Any], expected: str, mock_gateway: GatewayServer) -> None:
    response = httpx.post(mock_gateway.base_url + CHAT, **{"json": BODY, **source}, timeout=30)
    assert requirement(response, "upto").amount == expected


def test_raw_x402_disabled(store_backend: str) -> None:
    """§1.2 step 4: with ``GATEWAY_X402_SCHEMES`` empty only Compose Keys pay."""
    with paid_gateway(store_backend, {"GATEWAY_X402_SCHEMES": ""}) as server:
        for headers in ({}, {"payment-signature": encode({"x402Version": 2})}):
            response = httpx.post(server.base_url + CHAT, json=chat_body("sandbox-echo"), headers=headers, timeout=30)
            assert response.status_code == 402
            assert "payment-required" not in response.headers
            error = response.json()["error"]
            assert (error["code"], error["message"]) == ("payment_required", "A Compose Key is required")
        paid = httpx.post(server.base_url + CHAT, json=chat_body("sandbox-echo"), headers=server.auth, timeout=30)
        assert paid.status_code == 200

"""Payloads made by the official x402 Python SDK are accepted and settled by the sandbox.

The SDK is configured as spec/payments.md §9.2 tells a client to: the sandbox asset is added
to ``allowed_assets`` (it is not one of the SDK's default assets). Its EVM mechanisms import
web3, and its upto client imports ``x402.extensions`` (jsonschema) whenever the challenge
carries ``extensions``, so these tests need the ``x402[evm,extensions]`` extras installed.
"""

from __future__ import annotations

import time

import httpx
import pytest

pytest.importorskip("web3", reason="the x402 SDK's EVM client needs web3 (x402[evm])")
pytest.importorskip("jsonschema", reason="the x402 SDK's upto client imports x402.extensions (x402[extensions])")

from eth_account import Account
from x402 import x402Client
from x402.client import prefer_scheme
from x402.http import encode_payment_signature_header
from x402.http.clients import x402_httpx_transport
from x402.mechanisms.evm import constants as sdk_constants
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.exact.v1 import ExactEvmSchemeV1
from x402.mechanisms.evm.types import AUTHORIZATION_TYPES
from x402.mechanisms.evm.upto import UptoEvmScheme
from x402.mechanisms.evm.v1 import constants as sdk_v1_constants
from x402.schemas.v1 import PaymentRequiredV1, PaymentRequirementsV1
from x402_testkit import ASSET, FACILITATOR, NETWORK, PAY_TO, ROW, fund

from gateway_core.payments.sandbox import SandboxFacilitator
from gateway_core.payments.sandbox.constants import PERMIT2_ADDRESS, UPTO_PERMIT2_PROXY_ADDRESS
from gateway_core.payments.sandbox.typed_data import (
    PERMIT2_WITNESS_TYPES,
    TRANSFER_WITH_AUTHORIZATION_TYPES,
)
from gateway_core.payments.x402 import (
    accept,
    build_challenge,
    decode_payment_header,
    decode_payment_response_header,
    encode_payment_required_header,
    encode_payment_response_header,
    payment_required_json,
    settle_with_retry,
)

M = 6208


def _challenge():
    return build_challenge(
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


def _accept(payload):
    return accept(
        payload,
        now=int(time.time()),
        network_rows=[ROW],
        pay_to=PAY_TO,
        schemes=("upto", "exact"),
        max_envelope=100_000_000,
        min_runnable_cost=64,
        exact_cost=M,
        facilitator_signers={FACILITATOR},
        max_timeout_seconds=600,
    )


def _sdk_client(account, scheme):
    client = x402Client()
    client.register(ROW.network, ExactEvmScheme(account))
    client.register(ROW.network, UptoEvmScheme(account))
    client.register_policy(prefer_scheme(scheme))
    client.set_spend_controls({"allowed_assets": [{"network": ROW.network, "asset": ROW.usdc_address}]})
    return client


@pytest.fixture
def sdk_setup(ledger, run):
    """A funded SDK account and a sandbox facilitator on the real clock (the SDK signs with time.time())."""
    account = Account.create()
    run(fund(ledger, account.address, 5_000_000))
    return account, ledger, SandboxFacilitator(ledger, FACILITATOR, ROW)


def test_sdk_constants_match_ours() -> None:
    assert dict(PERMIT2_WITNESS_TYPES) == sdk_constants.UPTO_PERMIT2_WITNESS_TYPES
    assert (
        TRANSFER_WITH_AUTHORIZATION_TYPES["TransferWithAuthorization"]
        == AUTHORIZATION_TYPES["TransferWithAuthorization"]
    )
    assert (PERMIT2_ADDRESS, UPTO_PERMIT2_PROXY_ADDRESS) == (
        sdk_constants.PERMIT2_ADDRESS,
        sdk_constants.X402_UPTO_PERMIT2_PROXY_ADDRESS,
    )


@pytest.mark.parametrize(
    ("scheme", "charge"), [pytest.param("upto", 23, id="upto"), pytest.param("exact", M, id="exact")]
)
def test_sdk_payload_is_accepted_verified_and_settled(scheme, charge, sdk_setup, run) -> None:
    account, ledger, sandbox = sdk_setup
    client = _sdk_client(account, scheme)

    async def pay():
        sdk_payload = await client.create_payment_payload(_challenge())
        accepted = _accept(decode_payment_header(encode_payment_signature_header(sdk_payload)))
        accepted = accepted.verified(await sandbox.verify(accepted.payload, accepted.requirement))
        outcome = await settle_with_retry(sandbox, accepted.payload, accepted.settle_requirement(charge))
        return sdk_payload, accepted, outcome

    sdk_payload, accepted, outcome = run(pay())
    assert sdk_payload.accepted.scheme == accepted.scheme == scheme
    assert accepted.payer == account.address.lower()
    assert outcome.status == "settled" and outcome.response is not None
    assert outcome.response.amount == str(charge)
    payee = run(ledger.ledger_account(NETWORK, ASSET, PAY_TO))
    assert payee.balance == charge


@pytest.mark.parametrize("scheme", ["upto", "exact"])
def test_sdk_httpx_transport_pays_a_gateway_challenge(scheme, sdk_setup, run) -> None:
    """The SDK's httpx transport meets a 402 built by us, pays, and reads our PAYMENT-RESPONSE."""
    account, ledger, sandbox = sdk_setup
    charges = {"upto": 23, "exact": M}

    async def gateway(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("PAYMENT-SIGNATURE")
        if not header:
            challenge = _challenge()
            return httpx.Response(
                402,
                content=payment_required_json(challenge),
                headers={
                    "PAYMENT-REQUIRED": encode_payment_required_header(challenge),
                    "Content-Type": "application/json",
                },
            )
        accepted = _accept(decode_payment_header(header))
        accepted = accepted.verified(await sandbox.verify(accepted.payload, accepted.requirement))
        outcome = await settle_with_retry(sandbox, accepted.payload, accepted.settle_requirement(charges[scheme]))
        assert outcome.response is not None
        return httpx.Response(
            200, json={"ok": True}, headers={"PAYMENT-RESPONSE": encode_payment_response_header(outcome.response)}
        )

    transport = x402_httpx_transport(_sdk_client(account, scheme), transport=httpx.MockTransport(gateway))

    async def call():
        async with httpx.AsyncClient(transport=transport) as http:
            return await http.post("http://127.0.0.1:3000/v1/chat/completions", json={"model": "sandbox-echo"})

    response = run(call())
    assert response.status_code == 200
    settled = decode_payment_response_header(response.headers["PAYMENT-RESPONSE"])
    assert settled.success and settled.amount == str(charges[scheme])
    assert settled.payer == account.address.lower()
    assert run(ledger.ledger_account(NETWORK, ASSET, PAY_TO)).balance == charges[scheme]


def test_sdk_v1_exact_payload_is_upgraded_and_verified(sdk_setup, monkeypatch, run) -> None:
    account, _, sandbox = sdk_setup
    # The SDK's v1 client knows chain ids by legacy name only; teach it the sandbox's.
    monkeypatch.setitem(sdk_v1_constants.V1_NETWORK_CHAIN_IDS, "sandbox", ROW.chain_id)
    client = x402Client()
    client.register_v1("sandbox", ExactEvmSchemeV1(account))
    client.set_spend_controls({"allowed_assets": [{"network": "sandbox", "asset": ROW.usdc_address}]})
    required = PaymentRequiredV1(
        accepts=[
            PaymentRequirementsV1(
                scheme="exact",
                network="sandbox",
                max_amount_required=str(M),
                resource="http://127.0.0.1:3000/v1/chat/completions",
                pay_to=PAY_TO,
                max_timeout_seconds=600,
                asset=ROW.usdc_address,
                extra={"name": "USDC", "version": "2"},
            )
        ]
    )

    async def pay():
        v1 = await client.create_payment_payload(required)
        accepted = _accept(decode_payment_header(encode_payment_signature_header(v1)))
        return accepted, await sandbox.verify(accepted.payload, accepted.requirement)

    accepted, verified = run(pay())
    assert accepted.version == 1 and accepted.payload.accepted.scheme == "exact"
    assert verified.is_valid, verified.invalid_reason

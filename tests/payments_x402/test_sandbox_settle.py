"""Sandbox settlement, documents and HTTP bodies (spec/payments.md §9.3-§9.7)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from x402_testkit import FACILITATOR, NOW, PAY_TO, ROW

from gateway_core.errors import GatewayError
from gateway_core.payments.sandbox import (
    account_document,
    parse_facilitator_request,
    settle_response_body,
    sign_exact,
    sign_upto,
    supported_response_body,
)
from gateway_core.payments.sandbox.constants import MAX_UINT256
from gateway_core.payments.x402 import exact_requirement, upto_requirement

EXACT = exact_requirement(ROW, pay_to=PAY_TO, amount=6208, max_timeout_seconds=600)
UPTO = upto_requirement(ROW, pay_to=PAY_TO, amount=1_000_000, max_timeout_seconds=600, facilitator_address=FACILITATOR)
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")


def _balance(ledger, address):
    return asyncio.run(ledger.account(ROW.network, ROW.usdc_address, address)).balance


def test_exact_settles_the_full_value_once(payer, ledger, sandbox) -> None:
    payload = sign_exact(EXACT, payer, now=NOW)
    first = asyncio.run(sandbox.settle(payload, EXACT))
    assert first.success and TX_HASH.match(first.transaction)
    assert (first.network, first.payer, first.amount) == ("eip155:31337", payer.address, "6208")
    assert (_balance(ledger, payer.address), _balance(ledger, PAY_TO)) == (5_000_000 - 6208, 6208)

    second = asyncio.run(sandbox.settle(payload, EXACT))
    assert not second.success
    assert (second.error_reason, second.transaction) == ("invalid_exact_evm_nonce_already_used", "")
    assert _balance(ledger, PAY_TO) == 6208


def test_upto_settles_the_charge_and_reduces_the_permit2_allowance(payer, ledger, sandbox) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    charge = UPTO.model_copy(update={"amount": "23"})
    first = asyncio.run(sandbox.settle(payload, charge))
    assert first.success and TX_HASH.match(first.transaction) and first.amount == "23"
    account = asyncio.run(ledger.account(ROW.network, ROW.usdc_address, payer.address))
    assert (account.balance, account.permit2_allowance) == (5_000_000 - 23, MAX_UINT256 - 23)
    assert account.spender_allowance == MAX_UINT256  # Compose Key allowance untouched

    second = asyncio.run(sandbox.settle(payload, charge))
    assert (second.success, second.error_reason) == (False, "permit2_invalid_nonce")
    assert _balance(ledger, PAY_TO) == 23


def test_upto_settles_up_to_the_permitted_amount_only(payer, sandbox) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    assert asyncio.run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "1000001"}))).error_reason == (
        "invalid_upto_evm_payload_settlement_exceeds_amount"
    )
    assert asyncio.run(sandbox.settle(payload, UPTO)).amount == "1000000"


def test_upto_zero_settle_does_not_consume_the_nonce(payer, ledger, sandbox) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    zero = asyncio.run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "0"})))
    assert json.loads(settle_response_body(zero)) == {
        "success": True,
        "transaction": "",
        "network": "eip155:31337",
        "payer": payer.address,
        "amount": "0",
    }
    assert ledger.nonces == set() and ledger.transfers == []
    assert asyncio.run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "5"}))).success


def test_settle_runs_the_verify_checks(payer, sandbox) -> None:
    expired = sign_exact(EXACT, payer, now=NOW, valid_before=NOW)
    response = asyncio.run(sandbox.settle(expired, EXACT))
    assert json.loads(settle_response_body(response)) == {
        "success": False,
        "errorReason": "invalid_exact_evm_payload_authorization_valid_before",
        "errorMessage": "Authorization expires too soon",
        "transaction": "",
        "network": "eip155:31337",
        "payer": payer.address,
    }


@pytest.mark.parametrize(
    ("sign", "requirement", "reason"),
    [
        pytest.param(sign_exact, EXACT, "invalid_exact_evm_nonce_already_used", id="exact"),
        pytest.param(sign_upto, UPTO, "permit2_invalid_nonce", id="upto"),
    ],
)
def test_concurrent_settles_of_one_authorization_move_funds_once(sign, requirement, reason, payer, ledger, sandbox):
    payload = sign(requirement, payer, now=NOW)

    async def race():
        return await asyncio.gather(*(sandbox.settle(payload, requirement) for _ in range(5)))

    responses = asyncio.run(race())
    assert sum(response.success for response in responses) == 1
    assert {response.error_reason for response in responses if not response.success} == {reason}
    assert len(ledger.transfers) == 1


def test_ledger_refusal_after_checks_maps_to_the_scheme_reason(payer, ledger, sandbox) -> None:
    # Funds leave between the checks and the transfer (another settlement won): the ledger decides.
    payload = sign_upto(UPTO, payer, now=NOW)
    original = ledger.transfer

    async def drain_then_transfer(transfer):
        ledger.accounts[(ROW.network, ROW.usdc_address.lower(), payer.address)].balance = 0
        return await original(transfer)

    ledger.transfer = drain_then_transfer
    response = asyncio.run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "23"})))
    assert (response.success, response.error_reason) == (False, "insufficient_funds")


def test_account_document_after_a_transfer(payer, ledger, sandbox) -> None:
    response = asyncio.run(sandbox.settle(sign_exact(EXACT, payer, now=NOW), EXACT))
    document = account_document(asyncio.run(ledger.account(ROW.network, ROW.usdc_address, payer.address)))
    assert document == {
        "address": payer.address,
        "network": "eip155:31337",
        "balance": str(5_000_000 - 6208),
        "permit2Allowance": str(MAX_UINT256),
        "spenderAllowance": str(MAX_UINT256),
        "transfers": [
            {"txHash": response.transaction, "from": payer.address, "to": PAY_TO, "amount": "6208", "at": NOW}
        ],
    }


def test_supported_document_is_the_spec_example(sandbox) -> None:
    assert json.loads(supported_response_body(asyncio.run(sandbox.supported()))) == {
        "kinds": [
            {"x402Version": 2, "scheme": "exact", "network": "eip155:31337"},
            {
                "x402Version": 2,
                "scheme": "upto",
                "network": "eip155:31337",
                "extra": {"facilitatorAddress": "0x3333333333333333333333333333333333333333"},
            },
        ],
        "extensions": [],
        "signers": {"eip155:*": ["0x3333333333333333333333333333333333333333"]},
    }


def test_chains_document_is_the_spec_example(sandbox) -> None:
    assert sandbox.chains() == {
        "chains": [
            {
                "chainId": 31337,
                "name": "Gateway Sandbox",
                "network": "eip155:31337",
                "shortName": "Sandbox",
                "isTestnet": True,
                "explorer": "",
                "usdcAddress": "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d",
                "x402UptoPermit2Proxy": "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002",
                "schemes": ["exact", "upto"],
                "asset": "USDC",
                "decimals": 6,
            }
        ],
        "defaultChainId": 31337,
    }


def _body(payer, **changes):
    body = {
        "x402Version": 2,
        "paymentPayload": sign_exact(EXACT, payer, now=NOW).model_dump(by_alias=True, exclude_none=True),
        "paymentRequirements": EXACT.model_dump(by_alias=True),
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def test_request_body_parses(payer, sandbox) -> None:
    payload, requirements = parse_facilitator_request(_body(payer))
    assert requirements == EXACT
    assert asyncio.run(sandbox.verify(payload, requirements)).is_valid


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        pytest.param({"extra": 1}, "extra", id="unknown-top-level-key"),
        pytest.param({"paymentRequirements": ...}, "paymentRequirements", id="missing-key"),
        pytest.param({"x402Version": 1}, "x402Version", id="version-1"),
        pytest.param({"x402Version": "2"}, "x402Version", id="version-string"),
        pytest.param({"paymentPayload": {"x402Version": 2}}, "paymentPayload", id="payload-schema"),
        pytest.param({"paymentPayload": []}, "paymentPayload", id="payload-not-object"),
        pytest.param({"paymentRequirements": {"scheme": "exact"}}, "paymentRequirements", id="requirements-schema"),
    ],
)
def test_bad_request_bodies_are_400(changes, param, payer) -> None:
    with pytest.raises(GatewayError) as raised:
        parse_facilitator_request(_body(payer, **changes))
    assert (raised.value.status, raised.value.code, raised.value.param) == (400, "invalid_request", param)


def test_non_object_body_is_400() -> None:
    with pytest.raises(GatewayError):
        parse_facilitator_request([1])

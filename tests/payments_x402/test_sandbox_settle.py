"""Sandbox settlement, documents and HTTP bodies (spec/payments.md §9.3-§9.7)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import get_args

import pytest
from x402_testkit import ASSET, FACILITATOR, NETWORK, NOW, OTHER, PAY_TO, ROW

from gateway_core.errors import GatewayError
from gateway_core.payments.sandbox import (
    LEDGER_FAILURE_REASONS,
    load_account_document,
    parse_facilitator_request,
    settle_response_body,
    sign_exact,
    sign_upto,
    supported_response_body,
)
from gateway_core.payments.sandbox.constants import MAX_UINT256, SANDBOX_SCHEMES
from gateway_core.payments.sandbox.facilitator import REASON_MESSAGES
from gateway_core.payments.x402 import exact_requirement, upto_requirement
from gateway_core.payments.x402.payloads import parse_upto
from gateway_core.store import LedgerTransfer, Store, TransferOutcome
from gateway_core.store.records import TransferFailure

EXACT = exact_requirement(ROW, pay_to=PAY_TO, amount=6208, max_timeout_seconds=600)
UPTO = upto_requirement(ROW, pay_to=PAY_TO, amount=1_000_000, max_timeout_seconds=600, facilitator_address=FACILITATOR)
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")


def _balance(run, ledger, address):
    return run(ledger.ledger_account(NETWORK, ASSET, address)).balance


def test_exact_settles_the_full_value_once(payer, ledger, sandbox, run) -> None:
    payload = sign_exact(EXACT, payer, now=NOW)
    first = run(sandbox.settle(payload, EXACT))
    assert first.success and TX_HASH.match(first.transaction)
    assert (first.network, first.payer, first.amount) == ("eip155:31337", payer.address, "6208")
    assert (_balance(run, ledger, payer.address), _balance(run, ledger, PAY_TO)) == (5_000_000 - 6208, 6208)

    second = run(sandbox.settle(payload, EXACT))
    assert not second.success
    assert (second.error_reason, second.transaction) == ("invalid_exact_evm_nonce_already_used", "")
    assert _balance(run, ledger, PAY_TO) == 6208


@pytest.mark.parametrize(
    ("approved", "left"),
    [
        pytest.param(1_000_000, 1_000_000 - 23, id="finite"),
        # The store keeps the ERC-20 convention: an unlimited approval is never decremented.
        pytest.param(MAX_UINT256, MAX_UINT256, id="unlimited"),
    ],
)
def test_upto_settles_the_charge_and_reduces_the_permit2_allowance(approved, left, payer, ledger, sandbox, run) -> None:
    run(ledger.ledger_approve(NETWORK, ASSET, payer.address, "permit2", approved))
    payload = sign_upto(UPTO, payer, now=NOW)
    charge = UPTO.model_copy(update={"amount": "23"})
    first = run(sandbox.settle(payload, charge))
    assert first.success and TX_HASH.match(first.transaction) and first.amount == "23"
    account = run(ledger.ledger_account(NETWORK, ASSET, payer.address))
    assert (account.balance, account.permit2_allowance) == (5_000_000 - 23, left)
    assert account.spender_allowance == MAX_UINT256  # Compose Key allowance untouched

    second = run(sandbox.settle(payload, charge))
    assert (second.success, second.error_reason) == (False, "permit2_invalid_nonce")
    assert _balance(run, ledger, PAY_TO) == 23


def test_upto_settles_up_to_the_permitted_amount_only(payer, sandbox, run) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    assert run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "1000001"}))).error_reason == (
        "invalid_upto_evm_payload_settlement_exceeds_amount"
    )
    assert run(sandbox.settle(payload, UPTO)).amount == "1000000"


def test_upto_zero_settle_does_not_consume_the_nonce(payer, ledger, sandbox, run) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    zero = run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "0"})))
    assert json.loads(settle_response_body(zero)) == {
        "success": True,
        "transaction": "",
        "network": "eip155:31337",
        "payer": payer.address,
        "amount": "0",
    }
    nonce = parse_upto(payload.payload).nonce_key
    assert not run(ledger.ledger_nonce_used(NETWORK, ASSET, payer.address, nonce))
    assert run(ledger.ledger_transfers(NETWORK, ASSET, payer.address)) == []
    assert run(sandbox.settle(payload, UPTO.model_copy(update={"amount": "5"}))).success


def test_settle_runs_the_verify_checks(payer, sandbox, run) -> None:
    expired = sign_exact(EXACT, payer, now=NOW, valid_before=NOW)
    response = run(sandbox.settle(expired, EXACT))
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
def test_concurrent_settles_of_one_authorization_move_funds_once(
    sign, requirement, reason, payer, ledger, sandbox, run
):
    payload = sign(requirement, payer, now=NOW)

    async def race():
        return await asyncio.gather(*(sandbox.settle(payload, requirement) for _ in range(5)))

    responses = run(race())
    assert sum(response.success for response in responses) == 1
    assert {response.error_reason for response in responses if not response.success} == {reason}
    assert len(run(ledger.ledger_transfers(NETWORK, ASSET, payer.address))) == 1
    assert _balance(run, ledger, PAY_TO) == int(requirement.amount)


async def _drain(ledger, payer):
    # Store's own method: the instance's ledger_transfer is the patched one.
    drained = await Store.ledger_transfer(ledger, LedgerTransfer(NETWORK, ASSET, payer.address, OTHER, 5_000_000))
    assert drained.ok


async def _revoke_permit2(ledger, payer):
    await ledger.ledger_approve(NETWORK, ASSET, payer.address, "permit2", 22)


CHARGE_23 = UPTO.model_copy(update={"amount": "23"})


@pytest.mark.parametrize(
    ("sign", "requirement", "interfere", "reason"),
    [
        pytest.param(sign_upto, CHARGE_23, _drain, "insufficient_funds", id="upto-funds"),
        pytest.param(sign_upto, CHARGE_23, _revoke_permit2, "permit2_allowance_required", id="upto-allowance"),
        pytest.param(sign_exact, EXACT, _drain, "insufficient_funds", id="exact-funds"),
    ],
)
def test_ledger_refusal_after_checks_maps_to_the_scheme_reason(
    sign, requirement, interfere, reason, payer, ledger, sandbox, run, monkeypatch
) -> None:
    # The account changes between the checks and the transfer (another settlement won): the
    # store refuses the transfer, and its reason decides the answer.
    payload = sign(requirement, payer, now=NOW)
    original = ledger.ledger_transfer

    async def interfere_then_transfer(transfer, **options):
        await interfere(ledger, payer)
        return await original(transfer, **options)

    monkeypatch.setattr(ledger, "ledger_transfer", interfere_then_transfer)
    response = run(sandbox.settle(payload, requirement))
    assert (response.success, response.error_reason) == (False, reason)
    assert response.error_message == REASON_MESSAGES[reason]
    assert _balance(run, ledger, PAY_TO) == 0


def test_ledger_failure_table_covers_every_store_reason() -> None:
    assert set(LEDGER_FAILURE_REASONS) == {(s, f) for s in SANDBOX_SCHEMES for f in get_args(TransferFailure)}
    assert set(LEDGER_FAILURE_REASONS.values()) <= set(REASON_MESSAGES)


def test_ledger_refusal_without_a_reason_is_not_guessed(payer, ledger, sandbox, run, monkeypatch) -> None:
    async def refuse(transfer, **options):
        return TransferOutcome(ok=False)

    monkeypatch.setattr(ledger, "ledger_transfer", refuse)
    with pytest.raises(RuntimeError, match="without a reason"):
        run(sandbox.settle(sign_exact(EXACT, payer, now=NOW), EXACT))


def test_account_document_after_a_transfer(payer, ledger, sandbox, run) -> None:
    response = run(sandbox.settle(sign_exact(EXACT, payer, now=NOW), EXACT))
    document = run(load_account_document(ledger, NETWORK, ASSET, payer.address))
    assert document == {
        "address": payer.address,
        "network": "eip155:31337",
        "balance": str(5_000_000 - 6208),
        "permit2Allowance": str(MAX_UINT256),
        "spenderAllowance": str(MAX_UINT256),
        "transfers": [
            # ``at``: Unix milliseconds of the facilitator's clock.
            {"txHash": response.transaction, "from": payer.address, "to": PAY_TO, "amount": "6208", "at": NOW * 1000}
        ],
    }


def test_supported_document_is_the_spec_example(sandbox, run) -> None:
    assert json.loads(supported_response_body(run(sandbox.supported()))) == {
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


def test_request_body_parses(payer, sandbox, run) -> None:
    payload, requirements = parse_facilitator_request(_body(payer))
    assert requirements == EXACT
    assert run(sandbox.verify(payload, requirements)).is_valid


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

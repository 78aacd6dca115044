"""Every verify check of the sandbox facilitator, both schemes (spec/payments.md §9.5).

Payloads are signed for real with eth-account; each row breaks one rule (or two, to show the
first failure wins) and expects that row's ``invalidReason``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest
from x402_testkit import ASSET, FACILITATOR, NETWORK, NOW, OTHER, PAY_TO, ROW, fund

from gateway_core.payments.sandbox import SandboxFacilitator, Wallet, sign_exact, sign_upto, verify_response_body
from gateway_core.payments.x402 import exact_requirement, upto_requirement
from gateway_core.payments.x402.payloads import parse_upto
from gateway_core.store import Store

EXACT = exact_requirement(ROW, pay_to=PAY_TO, amount=6208, max_timeout_seconds=600)
UPTO = upto_requirement(ROW, pay_to=PAY_TO, amount=1_000_000, max_timeout_seconds=600, facilitator_address=FACILITATOR)


@dataclass
class Env:
    payer: Wallet
    ledger: Store
    sandbox: SandboxFacilitator


def _req(requirement, **fields):
    return requirement.model_copy(update=fields)


def _accepted(payload, **fields):
    return payload.model_copy(update={"accepted": payload.accepted.model_copy(update=fields)})


def _inner(payload, path, value):
    """Set (or with ``...`` delete) one field of the inner payload, after signing."""
    inner = copy.deepcopy(payload.payload)
    *parents, last = path.split(".")
    node = inner
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return payload.model_copy(update={"payload": inner})


def _exact(env, **sign):
    return sign_exact(EXACT, env.payer, now=NOW, **sign)


def _upto(env, **sign):
    return sign_upto(UPTO, env.payer, now=NOW, **sign)


async def _settled(env, payload, requirement):
    assert (await env.sandbox.settle(payload, requirement)).success
    return payload, requirement


async def _funded(env, amount, **approvals):
    env.payer = Wallet.create()
    await fund(env.ledger, env.payer.address, amount, **approvals)


# Each case: async (env) -> (payload, requirements).
async def exact_ok(env):
    return _exact(env), EXACT


async def exact_boundaries(env):
    return _exact(env, valid_before=NOW + 6, valid_after=NOW), EXACT


async def exact_scheme_differs(env):
    return _exact(env), _req(EXACT, scheme="upto")


async def exact_scheme_unknown(env):
    return _accepted(_exact(env), scheme="batch"), _req(EXACT, scheme="batch")


async def exact_other_network(env):
    return _accepted(_exact(env), network="eip155:84532"), _req(EXACT, network="eip155:84532")


async def exact_networks_differ(env):
    return _accepted(_exact(env), network="eip155:84532"), EXACT


async def exact_other_asset(env):
    return _exact(env), _req(EXACT, asset=OTHER)


async def exact_amount_not_digits(env):
    return _exact(env), _req(EXACT, amount="6208.0")


async def exact_no_domain(env):
    return _exact(env), _req(EXACT, extra={"compose": {"metering": "quoted"}})


async def exact_no_authorization(env):
    return _inner(_exact(env), "authorization", ...), EXACT


async def exact_no_signature(env):
    return _inner(_exact(env), "signature", ...), EXACT


async def exact_bad_nonce(env):
    return _inner(_exact(env), "authorization.nonce", "0x1234"), EXACT


async def exact_bad_from(env):
    return _inner(_exact(env), "authorization.from", "not-an-address"), EXACT


async def exact_recipient(env):
    return _exact(env, to=OTHER), EXACT


async def exact_tampered_pay_to(env):
    return _exact(env), _req(EXACT, pay_to=OTHER)


async def exact_value(env):
    return _exact(env, value=6207), EXACT


async def exact_tampered_amount(env):
    return _exact(env), _req(EXACT, amount="6209")


async def exact_expired(env):
    return _exact(env, valid_before=NOW + 5), EXACT


async def exact_not_yet_valid(env):
    return _exact(env, valid_after=NOW + 1), EXACT


async def exact_wrong_signer(env):
    forged = sign_exact(EXACT, Wallet.create(), now=NOW)
    return _inner(forged, "authorization.from", env.payer.address), EXACT


async def exact_tampered_after_signing(env):
    return _inner(_exact(env), "authorization.validBefore", str(NOW + 3600)), EXACT


async def exact_v_zero_one(env):
    payload = _exact(env)
    signature = payload.payload["signature"]
    return _inner(payload, "signature", signature[:-2] + f"{int(signature[-2:], 16) - 27:02x}"), EXACT


async def exact_reused_nonce(env):
    return await _settled(env, _exact(env), EXACT)


async def exact_no_funds(env):
    await _funded(env, 6207)
    return _exact(env), EXACT


async def exact_recipient_and_expired(env):
    return _exact(env, to=OTHER, valid_before=NOW), EXACT


async def upto_ok(env):
    return _upto(env), UPTO


async def upto_boundaries(env):
    return _upto(env, deadline=NOW + 6, valid_after=NOW), UPTO


async def upto_scheme_differs(env):
    return _upto(env), _req(UPTO, scheme="exact")


async def upto_other_network(env):
    return _accepted(_upto(env), network="eip155:8453"), _req(UPTO, network="eip155:8453")


async def upto_other_asset(env):
    return _upto(env), _req(UPTO, asset=OTHER)


async def upto_no_witness(env):
    return _inner(_upto(env), "permit2Authorization.witness", ...), UPTO


async def upto_bad_nonce(env):
    return _inner(_upto(env), "permit2Authorization.nonce", "-1"), UPTO


async def upto_spender(env):
    return _upto(env, spender=OTHER), UPTO


async def upto_recipient(env):
    return _upto(env, to=OTHER), UPTO


async def upto_tampered_pay_to(env):
    return _upto(env), _req(UPTO, pay_to=OTHER)


async def upto_facilitator(env):
    return _upto(env, facilitator=OTHER), UPTO


async def upto_token(env):
    return _upto(env, token=OTHER), UPTO


async def upto_amount(env):
    return _upto(env, amount=999_999), UPTO


async def upto_tampered_amount(env):
    return _upto(env), _req(UPTO, amount="1000001")


async def upto_expired(env):
    return _upto(env, deadline=NOW + 5), UPTO


async def upto_not_yet_valid(env):
    return _upto(env, valid_after=NOW + 1), UPTO


async def upto_wrong_signer(env):
    forged = sign_upto(UPTO, Wallet.create(), now=NOW)
    return _inner(forged, "permit2Authorization.from", env.payer.address), UPTO


async def upto_tampered_after_signing(env):
    payload = _inner(_upto(env), "permit2Authorization.permitted.amount", "2000000")
    return payload, _req(UPTO, amount="2000000")


async def upto_hex_nonce(env):
    payload = _upto(env, nonce=0xBEEF)
    return _inner(payload, "permit2Authorization.nonce", "0xbeef"), UPTO


async def upto_reused_nonce(env):
    payload = _upto(env)
    await _settled(env, payload, _req(UPTO, amount="23"))
    return payload, UPTO


async def upto_no_permit2_approval(env):
    await _funded(env, 5_000_000, approve_permit2=False)
    return _upto(env), UPTO


async def upto_no_funds(env):
    await _funded(env, 999_999)
    return _upto(env), UPTO


async def upto_spender_and_token(env):
    return _upto(env, spender=OTHER, token=OTHER), UPTO


CASES = [
    pytest.param(exact_ok, None, id="exact-valid"),
    pytest.param(exact_boundaries, None, id="exact-valid-at-boundaries"),
    pytest.param(exact_v_zero_one, None, id="exact-v-0-1"),
    pytest.param(exact_scheme_differs, "unsupported_scheme", id="exact-1-scheme-differs"),
    pytest.param(exact_scheme_unknown, "unsupported_scheme", id="exact-1-scheme-unknown"),
    pytest.param(exact_other_network, "invalid_network", id="exact-1-not-sandbox-network"),
    pytest.param(exact_networks_differ, "invalid_network", id="exact-1-networks-differ"),
    pytest.param(exact_other_asset, "invalid_payment_requirements", id="exact-2-asset"),
    pytest.param(exact_amount_not_digits, "invalid_payment_requirements", id="exact-2-amount"),
    pytest.param(exact_no_domain, "missing_eip712_domain", id="exact-2-domain"),
    pytest.param(exact_no_authorization, "invalid_payload", id="exact-3-no-authorization"),
    pytest.param(exact_no_signature, "invalid_payload", id="exact-3-no-signature"),
    pytest.param(exact_bad_nonce, "invalid_payload", id="exact-3-bad-nonce"),
    pytest.param(exact_bad_from, "invalid_payload", id="exact-3-bad-from"),
    pytest.param(exact_recipient, "invalid_exact_evm_payload_recipient_mismatch", id="exact-4-recipient"),
    pytest.param(exact_tampered_pay_to, "invalid_exact_evm_payload_recipient_mismatch", id="exact-4-pay-to"),
    pytest.param(exact_value, "invalid_exact_evm_payload_authorization_value_mismatch", id="exact-5-value"),
    pytest.param(exact_tampered_amount, "invalid_exact_evm_payload_authorization_value_mismatch", id="exact-5-amount"),
    pytest.param(exact_expired, "invalid_exact_evm_payload_authorization_valid_before", id="exact-6-expired"),
    pytest.param(exact_not_yet_valid, "invalid_exact_evm_payload_authorization_valid_after", id="exact-6-not-yet"),
    pytest.param(exact_wrong_signer, "invalid_exact_evm_payload_signature", id="exact-7-wrong-signer"),
    pytest.param(exact_tampered_after_signing, "invalid_exact_evm_payload_signature", id="exact-7-tampered"),
    pytest.param(exact_reused_nonce, "invalid_exact_evm_nonce_already_used", id="exact-8-reused-nonce"),
    pytest.param(exact_no_funds, "insufficient_funds", id="exact-9-funds"),
    pytest.param(exact_recipient_and_expired, "invalid_exact_evm_payload_recipient_mismatch", id="exact-first-wins"),
    pytest.param(upto_ok, None, id="upto-valid"),
    pytest.param(upto_boundaries, None, id="upto-valid-at-boundaries"),
    pytest.param(upto_hex_nonce, None, id="upto-hex-nonce"),
    pytest.param(upto_scheme_differs, "unsupported_scheme", id="upto-1-scheme-differs"),
    pytest.param(upto_other_network, "invalid_network", id="upto-1-network"),
    pytest.param(upto_other_asset, "invalid_payment_requirements", id="upto-2-asset"),
    pytest.param(upto_no_witness, "invalid_payload", id="upto-3-no-witness"),
    pytest.param(upto_bad_nonce, "invalid_payload", id="upto-3-bad-nonce"),
    pytest.param(upto_spender, "permit2_invalid_spender", id="upto-4-spender"),
    pytest.param(upto_recipient, "invalid_upto_evm_payload_recipient_mismatch", id="upto-4-recipient"),
    pytest.param(upto_tampered_pay_to, "invalid_upto_evm_payload_recipient_mismatch", id="upto-4-pay-to"),
    pytest.param(upto_facilitator, "upto_facilitator_mismatch", id="upto-4-facilitator"),
    pytest.param(upto_token, "permit2_token_mismatch", id="upto-5-token"),
    pytest.param(upto_amount, "permit2_amount_mismatch", id="upto-5-amount"),
    pytest.param(upto_tampered_amount, "permit2_amount_mismatch", id="upto-5-requirement-amount"),
    pytest.param(upto_expired, "permit2_deadline_expired", id="upto-6-deadline"),
    pytest.param(upto_not_yet_valid, "permit2_not_yet_valid", id="upto-6-not-yet"),
    pytest.param(upto_wrong_signer, "invalid_upto_evm_payload_signature", id="upto-7-wrong-signer"),
    pytest.param(upto_tampered_after_signing, "invalid_upto_evm_payload_signature", id="upto-7-tampered"),
    pytest.param(upto_reused_nonce, "permit2_invalid_nonce", id="upto-8-reused-nonce"),
    pytest.param(upto_no_permit2_approval, "permit2_allowance_required", id="upto-9-allowance"),
    pytest.param(upto_no_funds, "insufficient_funds", id="upto-9-funds"),
    pytest.param(upto_spender_and_token, "permit2_invalid_spender", id="upto-first-wins"),
]


@pytest.mark.parametrize(("case", "reason"), CASES)
def test_verify_check_table(case, reason, payer, ledger, sandbox, run) -> None:
    env = Env(payer, ledger, sandbox)

    async def check():
        payload, requirements = await case(env)
        return await sandbox.verify(payload, requirements)

    response = run(check())
    assert response.invalid_reason == reason
    assert response.is_valid is (reason is None)
    if reason is None:
        assert response.payer == env.payer.address
    else:
        assert response.invalid_message


def test_verify_body_shapes(payer, sandbox, run) -> None:
    valid = run(sandbox.verify(sign_exact(EXACT, payer, now=NOW), EXACT))
    assert json.loads(verify_response_body(valid)) == {"isValid": True, "payer": payer.address}
    invalid = run(sandbox.verify(sign_exact(EXACT, payer, now=NOW, to=OTHER), EXACT))
    assert list(json.loads(verify_response_body(invalid))) == ["isValid", "invalidReason", "invalidMessage", "payer"]


def test_verify_never_moves_funds_or_uses_nonces(payer, ledger, sandbox, run) -> None:
    payload = sign_upto(UPTO, payer, now=NOW)
    for _ in range(2):
        assert run(sandbox.verify(payload, UPTO)).is_valid
    nonce = parse_upto(payload.payload).nonce_key
    assert not run(ledger.ledger_nonce_used(NETWORK, ASSET, payer.address, nonce))
    assert run(ledger.ledger_transfers(NETWORK, ASSET, payer.address)) == []
    assert run(ledger.ledger_account(NETWORK, ASSET, payer.address)).balance == 5_000_000

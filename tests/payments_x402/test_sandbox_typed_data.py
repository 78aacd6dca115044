"""EIP-712 typed data and signer recovery (spec/payments.md §9.2), with real eth-account signatures."""

from __future__ import annotations

import pytest
from eth_account import Account
from x402_testkit import FACILITATOR, NOW, PAY_TO, ROW

from gateway_core.payments.sandbox import (
    SignatureError,
    Wallet,
    eip3009_typed_data,
    permit2_typed_data,
    recover_signer,
)
from gateway_core.payments.sandbox.constants import PERMIT2_ADDRESS, UPTO_PERMIT2_PROXY_ADDRESS
from gateway_core.payments.sandbox.typed_data import sign_typed_data


def _eip3009(**overrides):
    fields = {
        "chain_id": 31337,
        "asset": ROW.usdc_address,
        "name": "USDC",
        "version": "2",
        "from_address": "0x2222222222222222222222222222222222222222",
        "to": PAY_TO,
        "value": 6208,
        "valid_after": 0,
        "valid_before": NOW + 600,
        "nonce": "0x" + "2c" * 32,
    }
    fields.update(overrides)
    return eip3009_typed_data(**fields)


def _permit2(**overrides):
    fields = {
        "chain_id": 31337,
        "token": ROW.usdc_address,
        "amount": 1_000_000,
        "spender": UPTO_PERMIT2_PROXY_ADDRESS,
        "nonce": 60544231907719513624594,
        "deadline": NOW + 600,
        "witness_to": PAY_TO,
        "witness_facilitator": FACILITATOR,
        "witness_valid_after": 0,
    }
    fields.update(overrides)
    return permit2_typed_data(**fields)


def test_domains() -> None:
    assert dict(_eip3009().domain) == {
        "name": "USDC",
        "version": "2",
        "chainId": 31337,
        "verifyingContract": ROW.usdc_address,
    }
    assert dict(_permit2().domain) == {
        "name": "Permit2",
        "chainId": 31337,
        "verifyingContract": PERMIT2_ADDRESS.lower(),
    }


@pytest.mark.parametrize("build", [pytest.param(_eip3009, id="eip3009"), pytest.param(_permit2, id="permit2")])
def test_sign_and_recover(build) -> None:
    wallet = Wallet.create()
    typed = build()
    signature = sign_typed_data(typed, wallet.private_key)
    assert len(signature) == 132 and signature[-2:] in ("1b", "1c")
    assert recover_signer(typed, signature) == wallet.address
    # v as 0/1 is the same signature
    low_v = signature[:-2] + f"{int(signature[-2:], 16) - 27:02x}"
    assert recover_signer(typed, low_v) == wallet.address
    # eth-account's own typed-data signer agrees (domain type inferred from the domain keys)
    own = Account.sign_typed_data(wallet.private_key, dict(typed.domain), dict(typed.types), dict(typed.message))
    assert "0x" + bytes(own.signature).hex() == signature


@pytest.mark.parametrize(
    ("build", "changed"),
    [
        pytest.param(_eip3009, {"value": 6209}, id="eip3009-value"),
        pytest.param(_eip3009, {"chain_id": 8453}, id="eip3009-chain"),
        pytest.param(_eip3009, {"name": "USD Coin"}, id="eip3009-domain-name"),
        pytest.param(_permit2, {"amount": 999_999}, id="permit2-amount"),
        pytest.param(_permit2, {"witness_facilitator": PAY_TO}, id="permit2-witness"),
        pytest.param(_permit2, {"spender": PAY_TO}, id="permit2-spender"),
    ],
)
def test_any_changed_field_recovers_someone_else(build, changed) -> None:
    wallet = Wallet.create()
    signature = sign_typed_data(build(), wallet.private_key)
    assert recover_signer(build(**changed), signature) != wallet.address


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("0x1234", id="short"),
        pytest.param("1b" * 65, id="no-prefix"),
        pytest.param("0x" + "11" * 64 + "1d", id="v-29"),
        pytest.param("0x" + "00" * 64 + "1b", id="zero-r-s"),
        pytest.param("0x" + "zz" * 65, id="not-hex"),
    ],
)
def test_malformed_signatures(signature) -> None:
    with pytest.raises(SignatureError):
        recover_signer(_eip3009(), signature)

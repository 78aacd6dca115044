"""Any x402 facilitator by URL (spec/payments.md §6.10).

Gateway A runs in sandbox mode and serves its sandbox facilitator over HTTP at
``{A}/api/x402/facilitator`` (§9.3, §9.5). Gateway B runs outside sandbox mode with
``GATEWAY_X402_FACILITATOR_URL`` pointing there, the sandbox chain as its only ``GATEWAY_CHAINS``
row and A's merchant as ``GATEWAY_PAY_TO``: B reads ``/supported`` and calls ``/verify`` and
``/settle`` like any x402-standard facilitator, so money moves on A's ledger only. Each
gateway has its own (default SQLite) store; A's ledger is read through A's public account
route (§9.6), the way any client of A would.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from paid_support import (
    ASSET,
    CHAIN_ID,
    CHAT,
    NETWORK,
    b64json,
    challenge_of,
    chat_body,
    encode,
    funded_wallet,
    merchant,
    now,
    post_concurrently,
    requirement,
    sse_frames,
    write_catalog,
    x402_error,
)
from x402.schemas import PaymentRequirements

from gateway_core.payments.sandbox import Wallet, sign_exact, sign_upto
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer, run_gateway

FACILITATOR_PATH = "/api/x402/facilitator"
SANDBOX_CHAIN_ROW = {
    "chainId": CHAIN_ID,
    "name": "Gateway Sandbox",
    "usdcAddress": ASSET,
    "eip712Name": "USDC",
    "eip712Version": "2",
    "v1Name": "sandbox",
}
FUNDS = 10_000_000  # what funded_wallet puts on A's ledger
SPENT_CODES = {"exact": "invalid_exact_evm_nonce_already_used", "upto": "permit2_invalid_nonce"}
SCHEMES = [pytest.param("exact", id="exact"), pytest.param("upto", id="upto")]
UNAVAILABLE = {
    "message": "x402 facilitator is unavailable",
    "type": "payment_error",
    "param": None,
    "code": "facilitator_unavailable",
}


def remote_config(facilitator_url: str, pay_to: str, catalog: Path, upstream: MockUpstream) -> dict[str, str]:
    """Gateway B: outside sandbox mode, paying through the facilitator at ``facilitator_url``."""
    return {
        "GATEWAY_SANDBOX": "false",
        "GATEWAY_X402_FACILITATOR_URL": facilitator_url,
        "GATEWAY_PAY_TO": pay_to,
        "GATEWAY_KEY_SECRET": secrets.token_hex(32),
        "GATEWAY_DEFAULT_CHAIN_ID": str(CHAIN_ID),
        "GATEWAY_CHAINS": json.dumps([SANDBOX_CHAIN_ROW]),
        "GATEWAY_CATALOG": str(catalog),
        "GATEWAY_PROVIDER_SANDBOX_BASE_URL": upstream.base_url,
    }


def signer_of(server: GatewayServer) -> str:
    """The sandbox facilitator's signer address (lowercase)."""
    payments = server.runtime.payments
    assert payments is not None and payments.sandbox is not None
    return payments.sandbox.facilitator.signer_address


def account(facilitator: GatewayServer, address: str) -> dict[str, Any]:
    """``GET {A}/api/x402/facilitator/sandbox/accounts/{address}`` (§9.6)."""
    response = httpx.get(f"{facilitator.base_url}{FACILITATOR_PATH}/sandbox/accounts/{address}", timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def signed(remote: GatewayServer, facilitator: GatewayServer, scheme: str, body: dict[str, Any]) -> tuple[str, str]:
    """A payment header for ``body`` signed from B's own challenge by a wallet funded on A's
    ledger, and the payer."""
    wallet = funded_wallet(facilitator)
    sign = sign_exact if scheme == "exact" else sign_upto
    challenge = httpx.post(remote.base_url + CHAT, json=body, timeout=30)
    return encode(sign(requirement(challenge, scheme), wallet, now=now())), wallet.address


@pytest.fixture(scope="module")
def facilitator() -> Iterator[GatewayServer]:
    """Gateway A: sandbox mode, its facilitator served over HTTP."""
    with run_gateway({}) as server:
        yield server


@pytest.fixture(scope="module")
def remote(
    facilitator: GatewayServer, mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """Gateway B: outside sandbox mode, A's facilitator by URL, A's merchant as ``payTo``."""
    catalog = write_catalog(tmp_path_factory.mktemp("remote-catalog") / "catalog.yaml")
    config = remote_config(facilitator.base_url + FACILITATOR_PATH, merchant(facilitator), catalog, mock_upstream)
    with run_gateway(config) as server:
        yield server


def test_challenge_offers_both_schemes_through_the_remote_facilitator(
    remote: GatewayServer, facilitator: GatewayServer
) -> None:
    """B enables the sandbox chain because A's ``/supported`` lists it (§6.2), and names A's
    signer as the upto ``facilitatorAddress`` (§6.3)."""
    supported = httpx.get(facilitator.base_url + FACILITATOR_PATH + "/supported", timeout=30).json()
    assert [signer.lower() for signer in supported["signers"]["eip155:*"]] == [signer_of(facilitator)]
    assert remote.runtime.payments is not None and remote.runtime.payments.sandbox is None
    assert httpx.get(remote.base_url + FACILITATOR_PATH + "/supported", timeout=30).status_code == 404  # §9.1

    challenge = challenge_of(httpx.post(remote.base_url + CHAT, json=chat_body("paid-text"), timeout=30))
    assert [item.scheme for item in challenge.accepts] == ["upto", "exact"]
    upto, exact = challenge.accepts
    for item in (upto, exact):
        assert (item.network, item.asset.lower(), item.pay_to.lower()) == (NETWORK, ASSET, merchant(facilitator))
    assert (upto.extra or {})["facilitatorAddress"].lower() == signer_of(facilitator)
    assert (upto.extra or {})["assetTransferMethod"] == "permit2"
    assert ((exact.extra or {})["name"], (exact.extra or {})["version"]) == ("USDC", "2")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_remote_facilitator_settles_on_its_ledger(
    scheme: str, remote: GatewayServer, facilitator: GatewayServer
) -> None:
    """B verifies and settles through A: the charge leaves the payer for A's merchant once,
    and ``PAYMENT-RESPONSE``, the receipt and A's transfer agree on it."""
    body = chat_body("paid-text")
    header, payer = signed(remote, facilitator, scheme, body)
    quote = int(requirement(httpx.post(remote.base_url + CHAT, json=body, timeout=30), "exact").amount)
    merchant_before = account(facilitator, merchant(facilitator))["balance"]

    response = httpx.post(remote.base_url + CHAT, json=body, headers={"payment-signature": header}, timeout=30)

    assert response.status_code == 200, response.text
    settled = b64json(response.headers["payment-response"])
    receipt = response.json()["receipt"]
    charged = int(receipt["final_amount_wei"])
    assert settled["success"] is True
    assert (settled["payer"], settled["network"], settled["amount"]) == (payer, NETWORK, str(charged))
    assert settled["transaction"] == response.headers["x-transaction-hash"] == receipt["tx_hash"]
    assert (receipt["payment_method"], receipt["settlement_status"]) == ("x402", "settled")
    if scheme == "exact":
        assert charged == quote
    else:
        assert 0 < charged < quote
    # A's ledger moved the charge once, from the payer to the merchant, in that transaction.
    payer_account = account(facilitator, payer)
    assert int(payer_account["balance"]) == FUNDS - charged
    assert int(account(facilitator, merchant(facilitator))["balance"]) - int(merchant_before) == charged
    (transfer,) = payer_account["transfers"]
    assert (transfer["from"], transfer["to"]) == (payer, merchant(facilitator))
    assert (int(transfer["amount"]), transfer["txHash"]) == (charged, settled["transaction"])
    # B has no ledger of its own in play.
    assert remote.call(remote.runtime.store.ledger_account(NETWORK, ASSET, payer)).balance == 0


def test_remote_facilitator_settles_a_stream(remote: GatewayServer, facilitator: GatewayServer) -> None:
    """§6.8: settled after the last content event; the receipt frame carries the charge."""
    body = chat_body("paid-text", stream=True)
    header, payer = signed(remote, facilitator, "upto", body)
    with httpx.stream(
        "POST", remote.base_url + CHAT, json=body, headers={"payment-signature": header}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert "payment-response" not in response.headers
        frames = sse_frames(response.iter_lines())
    (event, receipt), (_, done) = frames[-2:]
    assert (event, done) == ("compose.receipt", "[DONE]")
    assert (receipt["paymentMethod"], receipt["settlementStatus"]) == ("x402", "settled")
    charged = int(receipt["finalAmountWei"])
    payer_account = account(facilitator, payer)
    assert charged > 0 and int(payer_account["balance"]) == FUNDS - charged
    assert [(int(t["amount"]), t["txHash"]) for t in payer_account["transfers"]] == [(charged, receipt["txHash"])]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_replay_to_the_remote_gateway_is_refused(
    scheme: str, remote: GatewayServer, facilitator: GatewayServer
) -> None:
    """§6.6 with a remote facilitator: five copies at once meet B's reservation (one served),
    and a late copy is refused by A's ``/verify`` as spent. The payer pays once."""
    body = chat_body("paid-slow")
    header, payer = signed(remote, facilitator, scheme, body)
    responses = post_concurrently([(remote, body, {"payment-signature": header})] * 5)
    assert sorted(r.status_code for r in responses) == [200, 402, 402, 402, 402], [r.text[:200] for r in responses]
    for response in responses:
        if response.status_code == 402:
            assert x402_error(response).startswith("authorization_in_use: ")
    served = next(r for r in responses if r.status_code == 200)
    charged = int(served.json()["receipt"]["final_amount_wei"])

    late = httpx.post(remote.base_url + CHAT, json=body, headers={"payment-signature": header}, timeout=30)
    assert x402_error(late).split(": ", 1)[0] == SPENT_CODES[scheme]
    assert "payment-response" not in late.headers
    payer_account = account(facilitator, payer)
    assert int(payer_account["balance"]) == FUNDS - charged
    assert len(payer_account["transfers"]) == 1


def test_facilitator_stopped_means_503_and_nothing_moves(
    mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """§6.10: a facilitator that cannot be asked is a transport failure: 503
    ``facilitator_unavailable`` in the OpenAI envelope, and no settlement. A's store is a file
    that outlives A, so a new A on it shows that nothing moved and both payments still verify."""
    folder = tmp_path_factory.mktemp("stopped-facilitator")
    store_a = {"GATEWAY_STORE_URL": f"sqlite:///{folder / 'facilitator.db'}"}
    catalog = write_catalog(folder / "catalog.yaml")
    body = chat_body("paid-text")
    with ExitStack() as running_a:
        first_a = running_a.enter_context(run_gateway(store_a))
        pay_to = merchant(first_a)
        config_b = remote_config(first_a.base_url + FACILITATOR_PATH, pay_to, catalog, mock_upstream)
        with run_gateway(config_b) as remote:
            challenge = httpx.post(remote.base_url + CHAT, json=body, timeout=30)
            wallet = funded_wallet(first_a)
            payloads = {
                "exact": sign_exact(requirement(challenge, "exact"), wallet, now=now()),
                "upto": sign_upto(requirement(challenge, "upto"), wallet, now=now()),
            }
            merchant_before = account(first_a, pay_to)["balance"]
            running_a.close()  # A stops; B keeps the /supported it read at start-up

            for payload in payloads.values():
                headers = {"payment-signature": encode(payload)}
                response = httpx.post(remote.base_url + CHAT, json=body, headers=headers, timeout=30)
                assert response.status_code == 503, response.text
                assert response.json() == {"error": UNAVAILABLE}
                for name in ("payment-required", "payment-response", "x-compose-receipt", "x-transaction-hash"):
                    assert name not in response.headers, name
            stored, _ = remote.call(remote.runtime.store.list_receipts(wallet.address, NETWORK, 10, 0))
            assert stored == []

    with run_gateway(store_a) as second_a:
        assert merchant(second_a) == pay_to
        assert account(second_a, pay_to)["balance"] == merchant_before
        payer_account = account(second_a, wallet.address)
        assert (int(payer_account["balance"]), payer_account["transfers"]) == (FUNDS, [])
        for payload in payloads.values():
            request = {
                "x402Version": 2,
                "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True),
                "paymentRequirements": payload.accepted.model_dump(by_alias=True, exclude_none=True),
            }
            verified = httpx.post(second_a.base_url + FACILITATOR_PATH + "/verify", json=request, timeout=30)
            assert verified.json() == {"isValid": True, "payer": wallet.address}


def test_facilitator_never_reached_means_503(
    mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """§6.10: until ``/supported`` has been read, raw x402 requests get 503; Compose Keys
    (``ledger`` settlement outside sandbox mode) do not need the facilitator."""
    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    catalog = write_catalog(tmp_path_factory.mktemp("unreached") / "catalog.yaml")
    pay_to = "0x" + "22" * 20
    config = remote_config(f"http://127.0.0.1:{port}{FACILITATOR_PATH}", pay_to, catalog, mock_upstream)
    # A well-formed payment (B has no challenge to sign from: it cannot list its networks).
    quoted = PaymentRequirements(
        scheme="exact",
        network=NETWORK,
        asset=ASSET,
        amount="1000",
        pay_to=pay_to,
        max_timeout_seconds=600,
        extra={"name": "USDC", "version": "2"},
    )
    payment = {"payment-signature": encode(sign_exact(quoted, Wallet.create(), now=now()))}
    with run_gateway(config) as remote:
        body = chat_body("paid-text")
        refused = httpx.post(remote.base_url + CHAT, json=body, headers=payment, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json() == {"error": UNAVAILABLE}
        keyed = httpx.post(remote.base_url + CHAT, json=body, headers=remote.auth, timeout=30)
        assert keyed.status_code == 200, keyed.text
        assert keyed.json()["receipt"]["payment_method"] == "compose_key"

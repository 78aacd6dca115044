"""The official x402 SDK pays a real gateway over loopback (spec/payments.md §6, §8; chat.md §5.3).

The SDK is used unmodified through its httpx transport; the only configuration is what
spec/payments.md §9.2 tells any client: allow the sandbox asset, and prefer a scheme.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import string
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("web3", reason="the x402 SDK's EVM client needs web3 (x402[evm])")
pytest.importorskip("jsonschema", reason="the x402 SDK's upto client imports x402.extensions (x402[extensions])")

from eth_account import Account
from eth_account.signers.local import LocalAccount
from paid_support import (
    ASSET,
    CHAT,
    NETWORK,
    b64json,
    balance,
    challenge_of,
    chat_body,
    merchant,
    paid_gateway,
    sse_frames,
)
from x402 import x402Client
from x402.client import prefer_scheme
from x402.http.clients import x402_httpx_transport
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.upto import UptoEvmScheme

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer

ENVELOPE = 1_000_000  # GATEWAY_X402_DEFAULT_ENVELOPE
HI = chat_body("sandbox-echo")
#: spec/payments.md §6.3 worked example: "hi" to sandbox-echo costs at most 2 + 6144 + fee 62.
M_HI = 6208


@pytest.fixture(scope="module")
def echo_gateway(store_backend: str) -> Iterator[GatewayServer]:
    """The shipped catalog and the offline sandbox-echo upstream."""
    with paid_gateway(store_backend) as server:
        yield server


@pytest.fixture
def account(echo_gateway: GatewayServer, mock_gateway: GatewayServer) -> LocalAccount:
    """A fresh SDK account, funded with both approvals on the sandbox ledger of each gateway."""
    account: LocalAccount = Account.create()
    for server in (echo_gateway, mock_gateway):
        server.call(server.runtime.store.ledger_fund(NETWORK, ASSET, account.address.lower(), 5_000_000, True, True))
    return account


class Recording(httpx.AsyncBaseTransport):
    """Loopback transport that remembers the requests the SDK sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def sdk_transport(account: LocalAccount, scheme: str) -> tuple[httpx.AsyncBaseTransport, Recording]:
    client = x402Client()
    client.register(NETWORK, ExactEvmScheme(account))
    client.register(NETWORK, UptoEvmScheme(account))
    client.register_policy(prefer_scheme(scheme))
    client.set_spend_controls({"allowed_assets": [{"network": NETWORK, "asset": ASSET}]})
    recording = Recording()
    return x402_httpx_transport(client, transport=recording), recording


def test_no_credential_gets_the_challenge(echo_gateway: GatewayServer) -> None:
    response = httpx.post(echo_gateway.base_url + CHAT, json=HI, timeout=30)
    assert response.status_code == 402
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    # The body is byte for byte the JSON that PAYMENT-REQUIRED carries (standard base64).
    assert base64.b64decode(response.headers["payment-required"], validate=True) == response.content
    body = json.loads(response.content)
    assert "error" not in body
    assert body["x402Version"] == 2
    assert body["resource"] == {
        "url": echo_gateway.base_url + CHAT,
        "description": "AI inference: POST /v1/chat/completions",
        "mimeType": "application/json",
    }
    assert [(item["scheme"], item["amount"]) for item in body["accepts"]] == [
        ("upto", str(ENVELOPE)),
        ("exact", str(M_HI)),
    ]
    upto, exact = body["accepts"]
    for item in (upto, exact):
        assert (item["network"], item["asset"], item["payTo"]) == (NETWORK, ASSET, merchant(echo_gateway))
        assert item["maxTimeoutSeconds"] == 600
    assert upto["extra"]["assetTransferMethod"] == "permit2"
    assert upto["extra"]["compose"] == {"metering": "authoritative_usage"}
    assert exact["extra"] == {"name": "USDC", "version": "2", "compose": {"metering": "quoted"}}
    assert body["extensions"] == {"compose-metering-v1": {"mode": "authoritative_usage"}}


@pytest.mark.parametrize("scheme", [pytest.param("upto", id="upto"), pytest.param("exact", id="exact")])
def test_sdk_pays_for_a_chat(scheme: str, echo_gateway: GatewayServer, account: LocalAccount) -> None:
    quote = challenge_of(httpx.post(echo_gateway.base_url + CHAT, json=HI, timeout=30))
    exact_amount = int(next(item.amount for item in quote.accepts if item.scheme == "exact"))
    payer = account.address.lower()
    payer_before, merchant_before = balance(echo_gateway, payer), balance(echo_gateway, merchant(echo_gateway))
    transport, recording = sdk_transport(account, scheme)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            return await http.post(echo_gateway.base_url + CHAT, json=HI)

    response = asyncio.run(call())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "echo: hi"
    # First the bare request (402), then the paid one carrying the preferred scheme.
    assert [bool(r.headers.get("payment-signature")) for r in recording.requests] == [False, True]
    assert b64json(recording.requests[1].headers["payment-signature"])["accepted"]["scheme"] == scheme

    settled = b64json(response.headers["payment-response"])
    receipt = body["receipt"]
    charged = int(receipt["final_amount_wei"])
    assert settled["success"] is True
    assert settled["amount"] == receipt["final_amount_wei"]
    assert settled["payer"] == payer and settled["network"] == NETWORK
    assert settled["transaction"] == response.headers["x-transaction-hash"] == receipt["tx_hash"]
    assert "x-payment-response" not in response.headers  # v1 clients only
    # The receipt: body, both headers (camelCase, base64url), the ledger all agree.
    assert response.headers["x-compose-receipt"] == response.headers["x-receipt"]
    header_receipt = b64json(response.headers["x-compose-receipt"])
    assert header_receipt["id"] == receipt["id"] and header_receipt["finalAmountWei"] == receipt["final_amount_wei"]
    assert receipt["payment_method"] == "x402" and receipt["user_address"] == payer
    assert receipt["settlement_status"] == "settled" and receipt["network"] == NETWORK
    assert payer_before - balance(echo_gateway, payer) == charged
    assert balance(echo_gateway, merchant(echo_gateway)) - merchant_before == charged
    if scheme == "upto":  # the metered amount, far below the envelope and the quote
        assert 0 < charged < exact_amount < ENVELOPE
        assert charged == int(receipt["provider_amount_wei"]) + int(receipt["platform_fee_wei"])
    else:  # the quote, in full
        assert charged == exact_amount == M_HI


def test_sdk_paid_stream_arrives_chunk_by_chunk(mock_gateway: GatewayServer, account: LocalAccount) -> None:
    """``paid-slow`` streams 5 chunks 100 ms apart: each reaches the client on its own, and the
    tail is final chunk, usage chunk, ``compose.receipt``, ``[DONE]`` (chat.md §5.3)."""
    payer = account.address.lower()
    payer_before, merchant_before = balance(mock_gateway, payer), balance(mock_gateway, merchant(mock_gateway))
    transport, _ = sdk_transport(account, "upto")
    arrivals: list[tuple[float, str]] = []

    async def call() -> httpx.Response:
        async with (
            httpx.AsyncClient(transport=transport, timeout=30) as http,
            http.stream("POST", mock_gateway.base_url + CHAT, json=chat_body("paid-slow", stream=True)) as response,
        ):
            async for line in response.aiter_lines():
                arrivals.append((time.monotonic(), line))
            return response

    response = asyncio.run(call())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "payment-response" not in response.headers  # headers left before settlement (§6.8)
    times = [at for at, line in arrivals if line.startswith("data: ") and '"content"' in line]
    assert len(times) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.07, gaps

    frames = sse_frames(line for _, line in arrivals)
    content = [data for event, data in frames[:-4] if event is None]
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in content) == (
        "Hello from the mock upstream."
    )
    (_, final), (_, usage), (event, receipt), (_, done) = frames[-4:]
    assert final["choices"][0]["delta"] == {} and final["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5
    assert usage["usage"]["usage_source"] == "provider"
    assert event == "compose.receipt"
    assert receipt["type"] == receipt["object"] == "compose.receipt" and receipt["choices"] == []
    assert receipt["paymentMethod"] == "x402" and receipt["userAddress"] == payer
    assert receipt["settlementStatus"] == "settled" and receipt["txHash"].startswith("0x")
    assert receipt["meterSubject"] == "sandbox:paid-slow"
    assert done == "[DONE]"
    charged = int(receipt["finalAmountWei"])
    assert charged > 0
    assert payer_before - balance(mock_gateway, payer) == charged
    assert balance(mock_gateway, merchant(mock_gateway)) - merchant_before == charged


def test_sdk_small_envelope_lowers_the_output_cap(
    mock_gateway: GatewayServer, account: LocalAccount, mock_upstream: MockUpstream
) -> None:
    """``x-x402-max-amount-wei`` sets the upto envelope (§6.3); the SDK authorizes exactly
    that, and an authorization below M buys the largest output cap it covers (§5.2, §6.5)."""
    content = f"envelope probe {uuid.uuid4().hex}"
    body = chat_body("paid-echo", content)
    quotes = [
        int(next(item.amount for item in challenge_of(response).accepts if item.scheme == "exact"))
        for response in (
            httpx.post(mock_gateway.base_url + CHAT, json={**body, "max_tokens": cap}, timeout=30) for cap in (100, 9)
        )
    ]
    full, envelope = quotes
    assert envelope < full
    transport, recording = sdk_transport(account, "upto")

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            return await http.post(
                mock_gateway.base_url + CHAT, json=body, headers={"x-x402-max-amount-wei": str(envelope)}
            )

    response = asyncio.run(call())
    assert response.status_code == 200, response.text
    signed = b64json(recording.requests[-1].headers["payment-signature"])
    assert signed["accepted"]["amount"] == signed["payload"]["permit2Authorization"]["permitted"]["amount"]
    assert signed["accepted"]["amount"] == str(envelope)
    sent = mock_upstream.wait_for(lambda entry: content in str(entry["body"]))
    assert sent["body"]["max_tokens"] == 9
    assert 0 < int(response.json()["receipt"]["final_amount_wei"]) <= envelope


def test_sdk_upto_charge_is_capped_at_the_authorization(mock_gateway: GatewayServer, account: LocalAccount) -> None:
    """§6.7: C = min(A, B). ``paid-twenty`` produces 20 tokens whatever cap it is sent, so an
    envelope worth 3 output tokens is settled in full and the rest shows as uncollected."""
    body = chat_body("paid-twenty")
    envelope = int(
        next(
            item.amount
            for item in challenge_of(
                httpx.post(mock_gateway.base_url + CHAT, json={**body, "max_tokens": 3}, timeout=30)
            ).accepts
            if item.scheme == "exact"
        )
    )
    payer_before = balance(mock_gateway, account.address)
    transport, _ = sdk_transport(account, "upto")

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            return await http.post(
                mock_gateway.base_url + CHAT, json=body, headers={"x-x402-max-amount-wei": str(envelope)}
            )

    response = asyncio.run(call())
    assert response.status_code == 200, response.text
    receipt = response.json()["receipt"]
    assert b64json(response.headers["payment-response"])["amount"] == str(envelope)
    assert receipt["final_amount_wei"] == str(envelope)
    metered = int(receipt["provider_amount_wei"]) + int(receipt["platform_fee_wei"])
    assert int(receipt["uncollected_amount_wei"]) == metered - envelope > 0
    assert payer_before - balance(mock_gateway, account.address) == envelope
    # X-Compose-Receipt is base64url without padding (§8.2).
    assert set(response.headers["x-compose-receipt"]) <= set(string.ascii_letters + string.digits + "-_")


def test_sdk_pays_for_a_response_that_anyone_with_its_id_reads(
    echo_gateway: GatewayServer, account: LocalAccount
) -> None:
    """A Responses call paid with raw x402: its record belongs to whoever knows the id
    (spec/responses.md §6.2), with or without a Compose Key, and continues a conversation."""
    transport, _ = sdk_transport(account, "upto")

    async def call(body: dict[str, object]) -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, timeout=30) as http:
            return await http.post(echo_gateway.base_url + "/v1/responses", json=body)

    first = asyncio.run(call({"model": "sandbox-echo", "input": "paid by x402"}))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["output"][0]["content"][0]["text"] == "echo: paid by x402"
    assert int(body["receipt"]["final_amount_wei"]) > 0
    stored = echo_gateway.call(echo_gateway.runtime.store.get_response(body["id"], int(time.time() * 1000)))
    assert stored is not None and (stored.owner_kind, stored.owner_id) == ("x402", account.address.lower())
    for headers in ({}, {"authorization": f"Bearer {echo_gateway.compose_key()}"}):
        fetched = httpx.get(f"{echo_gateway.base_url}/v1/responses/{body['id']}", headers=headers, timeout=30)
        assert fetched.status_code == 200 and fetched.json()["output"] == body["output"]
    second = asyncio.run(call({"model": "sandbox-echo", "input": "and again", "previous_response_id": body["id"]}))
    assert second.status_code == 200, second.text
    assert second.json()["previous_response_id"] == body["id"]

"""A failed provider call costs nothing, and the payment can be used again
(spec/payments.md §3.1 step 5, §6.6, §6.7 "provider failed", §6.8; chat.md §5.5)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import yaml
from paid_support import (
    CHAT,
    TOKEN_PRICING,
    b64json,
    balance,
    bearer,
    chat_body,
    encode,
    funded_wallet,
    key_record,
    merchant,
    now,
    openai_error,
    paid_gateway,
    requirement,
    sse_frames,
)

from gateway_core.errors import ProviderError
from gateway_core.hookspecs import hookimpl
from gateway_core.payments.sandbox import sign_exact, sign_upto
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.providers import SandboxWireProvider
from gateway_core.testing.server import GatewayServer
from gateway_core.types import (
    ProviderCall,
    ProviderContext,
    UpstreamRequest,
)


def signed_header(server: GatewayServer, scheme: str, model: str = "paid-text") -> tuple[str, str]:
    """A valid payment for ``chat_body(<any row>)`` (the rows quote alike) and its payer."""
    challenge = httpx.post(server.base_url + CHAT, json=chat_body(model), timeout=30)
    wallet = funded_wallet(server)
    signer = sign_exact if scheme == "exact" else sign_upto
    return encode(signer(requirement(challenge, scheme), wallet, now=now())), wallet.address


class Ledger:
    """The payer's and the merchant's sandbox balances, to compare before and after."""

    def __init__(self, server: GatewayServer, payer: str) -> None:
        self.server, self.addresses = server, (payer, merchant(server))
        self.before = self.now()

    def now(self) -> tuple[int, ...]:
        return tuple(balance(self.server, address) for address in self.addresses)

    def moved(self) -> int:
        """What left the payer; asserts the merchant got exactly that."""
        payer_after, merchant_after = self.now()
        spent = self.before[0] - payer_after
        assert merchant_after - self.before[1] == spent
        return spent


def stream(server: GatewayServer, model: str, headers: dict[str, str]) -> Iterator[str]:
    with httpx.stream(
        "POST", server.base_url + CHAT, json=chat_body(model, stream=True), headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from response.iter_lines()


def assert_broken_stream(lines: Iterator[str]) -> None:
    """Content, then ``compose.error`` and ``[DONE]``; no usage chunk and no receipt."""
    frames = sse_frames(lines)
    content = [data for event, data in frames[:-2] if event is None]
    assert content and all(chunk["choices"][0]["delta"].get("content") for chunk in content)
    (event, error), (_, done) = frames[-2:]
    assert event == "compose.error"
    assert error["code"] == error["error"]["code"] == "upstream_error"
    assert done == "[DONE]"
    assert not any(event == "compose.receipt" or "usage" in data for event, data in frames if data != "[DONE]")


@pytest.mark.parametrize("scheme", [pytest.param("exact", id="exact"), pytest.param("upto", id="upto")])
def test_x402_upstream_500_releases_the_reservation(scheme: str, mock_gateway: GatewayServer) -> None:
    header, payer = signed_header(mock_gateway, scheme)
    ledger = Ledger(mock_gateway, payer)
    paid = {"payment-signature": header}
    failed = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-broken"), headers=paid, timeout=30)
    assert failed.status_code == 502
    assert openai_error(failed)["code"] == "upstream_error"
    assert "payment-response" not in failed.headers and "x-compose-receipt" not in failed.headers
    assert ledger.moved() == 0
    # The reservation was released: the very same header pays for the next call, once.
    served = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=paid, timeout=30)
    assert served.status_code == 200, served.text
    assert ledger.moved() == int(served.json()["receipt"]["final_amount_wei"]) > 0


def test_key_upstream_500_charges_nothing(mock_gateway: GatewayServer) -> None:
    token = mock_gateway.compose_key(budget=1_000_000)
    ledger = Ledger(mock_gateway, key_record(mock_gateway, token).user_address)
    failed = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-broken"), headers=bearer(token), timeout=30)
    assert failed.status_code == 502
    assert openai_error(failed)["code"] == "upstream_error"
    assert "x-key-final-amount-wei" not in failed.headers
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)
    assert ledger.moved() == 0


@pytest.mark.parametrize("scheme", [pytest.param("exact", id="exact"), pytest.param("upto", id="upto")])
def test_x402_stream_broken_midway_charges_nothing(scheme: str, mock_gateway: GatewayServer) -> None:
    header, payer = signed_header(mock_gateway, scheme)
    ledger = Ledger(mock_gateway, payer)
    assert_broken_stream(stream(mock_gateway, "paid-midstream", {"payment-signature": header}))
    assert ledger.moved() == 0
    # Released, so the header still pays (streamed this time) and is charged once.
    frames = sse_frames(stream(mock_gateway, "paid-text", {"payment-signature": header}))
    (event, receipt), (_, done) = frames[-2:]
    assert (event, done) == ("compose.receipt", "[DONE]")
    assert ledger.moved() == int(receipt["finalAmountWei"]) > 0


def test_key_stream_broken_midway_charges_nothing(mock_gateway: GatewayServer) -> None:
    token = mock_gateway.compose_key(budget=1_000_000)
    ledger = Ledger(mock_gateway, key_record(mock_gateway, token).user_address)
    assert_broken_stream(stream(mock_gateway, "paid-midstream", bearer(token)))
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)
    assert ledger.moved() == 0


# -- settlement refused after the call (§3.6, §6.7 "settle refused", §6.8) -----------------------


async def _race(server: GatewayServer, body: dict[str, object], headers: list[dict[str, str]]) -> list[str]:
    """Send the calls at once; each answer as text (a stream read to its end)."""

    async def one(http: httpx.AsyncClient, extra: dict[str, str]) -> str:
        async with http.stream("POST", server.base_url + CHAT, json=body, headers=extra) as response:
            text = (await response.aread()).decode()
            return f"{response.status_code}\n{response.headers.get('payment-response', '')}\n{text}"

    async with httpx.AsyncClient(timeout=30) as http:
        return list(await asyncio.gather(*(one(http, extra) for extra in headers)))


@pytest.mark.parametrize("streamed", [pytest.param(False, id="non-stream"), pytest.param(True, id="stream")])
def test_x402_settlement_refused_withholds_the_answer(streamed: bool, mock_gateway: GatewayServer) -> None:
    """Two exact payments, each valid alone, from a wallet that holds one quote: both pass
    /verify and run, the second /settle finds the money gone."""
    body = chat_body("paid-slow", stream=streamed)
    quote = requirement(httpx.post(mock_gateway.base_url + CHAT, json=body, timeout=30), "exact")
    wallet = funded_wallet(mock_gateway, amount=int(quote.amount))
    ledger = Ledger(mock_gateway, wallet.address)
    headers = [{"payment-signature": encode(sign_exact(quote, wallet, now=now()))} for _ in range(2)]
    answers = [answer.split("\n", 2) for answer in asyncio.run(_race(mock_gateway, body, headers))]
    assert ledger.moved() == int(quote.amount)
    if not streamed:
        (status_a, _, _), (status_b, _, _) = answers
        assert sorted((status_a, status_b)) == ["200", "402"]
        _, settled, refusal = next(answer for answer in answers if answer[0] == "402")
        challenge = json.loads(refusal)
        assert challenge["error"] == "settlement_failed: insufficient_funds"
        assert "choices" not in challenge  # the output is withheld
        failed = b64json(settled)
        assert failed["success"] is False and failed["errorReason"] == "insufficient_funds"
        assert failed["transaction"] == "" and failed["payer"] == wallet.address
        return
    tails = []
    for status, settled, text in answers:
        assert status == "200" and settled == ""  # headers left before settlement
        frames = sse_frames(text.split("\n"))
        assert frames[-1] == (None, "[DONE]")
        tails.append(frames[-2])
    receipt = next(data for event, data in tails if event == "compose.receipt")
    error = next(data for event, data in tails if event == "compose.error")
    assert receipt["finalAmountWei"] == quote.amount
    assert error["code"] == "settlement_failed" and "insufficient_funds" in error["message"]


@pytest.mark.parametrize("streamed", [pytest.param(False, id="non-stream"), pytest.param(True, id="stream")])
def test_key_settlement_fails_when_the_wallet_cannot_pay(streamed: bool, mock_gateway: GatewayServer) -> None:
    """Sandbox collection (§3.6): a key whose wallet never approved the spender is refused at
    settlement; nothing is charged and the hold is released."""
    token = mock_gateway.compose_key(budget=1_000_000, funded=False)
    body = chat_body("paid-text", stream=streamed)
    response = httpx.post(mock_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30)
    if streamed:
        assert response.status_code == 200
        frames = sse_frames(response.text.split("\n"))
        (event, error), (_, done) = frames[-2:]
        assert (event, error["code"], done) == ("compose.error", "settlement_failed", "[DONE]")
        assert not any(event == "compose.receipt" for event, _ in frames)
    else:
        assert response.status_code == 402
        error = openai_error(response)
        assert error["code"] == "settlement_failed"
        assert error["message"].startswith("Payment settlement failed: ")
        assert "choices" not in response.json()
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)


# -- a plugin that refuses to build the upstream request ---------------------------------------


class PickyProvider(SandboxWireProvider):
    """Speaks the sandbox wire to the mock upstream, but its ``build_request`` refuses any
    message containing "refuse" with a 400 ``ProviderError`` (a plugin's way of saying the
    upstream cannot take the request, spec/models.md §2.3). That happens after the payment
    was authorized and before any upstream call."""

    def __init__(self) -> None:
        super().__init__("picky")

    @hookimpl
    def gateway_build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        if "refuse" in str(call.messages[-1].content):
            raise ProviderError(400, "The upstream cannot take this message", param="messages")
        return super().gateway_build_request(call, provider)


@pytest.fixture(scope="module")
def picky_gateway(
    store_backend: str, mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    catalog = tmp_path_factory.mktemp("picky") / "catalog.yaml"
    row = {"modelId": "picky", "provider": "picky", "upstreamModelId": "mock/text", "type": "chat"}
    catalog.write_text(yaml.safe_dump([{**row, "maxOutputTokens": 100, "pricing": TOKEN_PRICING}]), encoding="utf-8")
    config = {"GATEWAY_CATALOG": str(catalog), "GATEWAY_PROVIDER_PICKY_BASE_URL": mock_upstream.base_url}
    with paid_gateway(store_backend, config, extra_plugins=[("picky", PickyProvider())]) as server:
        yield server


STREAMED = [pytest.param(False, id="non-stream"), pytest.param(True, id="stream")]


@pytest.mark.parametrize("streamed", STREAMED)
def test_key_hold_released_when_the_plugin_refuses(streamed: bool, picky_gateway: GatewayServer) -> None:
    token = picky_gateway.compose_key(budget=1_000_000)
    body = chat_body("picky", "please refuse this", stream=streamed)
    response = httpx.post(picky_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30)
    assert response.status_code == 400
    assert openai_error(response)["param"] == "messages"
    record = key_record(picky_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)


@pytest.mark.parametrize("streamed", STREAMED)
def test_x402_reservation_released_when_the_plugin_refuses(streamed: bool, picky_gateway: GatewayServer) -> None:
    header, payer = signed_header(picky_gateway, "upto", model="picky")  # upto: any message
    ledger = Ledger(picky_gateway, payer)
    paid = {"payment-signature": header}
    refused = chat_body("picky", "please refuse this", stream=streamed)
    response = httpx.post(picky_gateway.base_url + CHAT, json=refused, headers=paid, timeout=30)
    assert response.status_code == 400
    assert ledger.moved() == 0
    # Nothing ran, so the client may pay the next call with the same header.
    retry = httpx.post(picky_gateway.base_url + CHAT, json=chat_body("picky", "hi"), headers=paid, timeout=30)
    assert retry.status_code == 200, retry.text
    assert ledger.moved() == int(retry.json()["receipt"]["final_amount_wei"])


# -- budget headers on failures after a hold (§3.5) --------------------------------------------

BUDGET_HEADERS = ("x-key-budget-limit", "x-key-budget-used", "x-key-budget-reserved", "x-key-budget-remaining")


@pytest.mark.parametrize(
    ("model", "funded", "status"),
    [
        pytest.param("paid-broken", True, 502, id="upstream-500"),
        pytest.param("paid-text", False, 402, id="settlement-failed"),
    ],
)
def test_key_failure_after_the_hold_reports_the_budget(
    model: str, funded: bool, status: int, mock_gateway: GatewayServer
) -> None:
    token = mock_gateway.compose_key(budget=1_000_000, funded=funded)
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body(model), headers=bearer(token), timeout=30)
    assert response.status_code == status
    # The hold was released before the answer, so the headers show the untouched budget.
    assert [response.headers.get(name) for name in BUDGET_HEADERS] == ["1000000", "0", "0", "1000000"]

"""Paying with a Compose Key over loopback (spec/payments.md §2.2, §3, §5.2).

Quotes are read from the gateway's own x402 challenge (the ``exact`` amount is M for the
request as sent), so the tests need no copy of the gateway's input-token estimate.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import httpx
import pytest
from paid_support import (
    CHAIN_ID,
    CHAT,
    balance,
    bearer,
    budget_race,
    chat_body,
    encode,
    funded_wallet,
    key_record,
    merchant,
    now,
    openai_error,
    requirement,
    sse_frames,
)

from gateway_core.payments.sandbox import sign_upto
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer


def quote(server: GatewayServer, body: dict[str, object]) -> int:
    """M for ``body``: the ``exact`` amount of its challenge."""
    return int(requirement(httpx.post(server.base_url + CHAT, json=body, timeout=30), "exact").amount)


def test_fifty_concurrent_calls_never_overspend(mock_gateway: GatewayServer) -> None:
    """``paid-twenty`` streams 20 tokens over ~0.3 s whatever ``max_tokens`` says, so every
    call costs more than its hold and is charged the whole hold (the rest is uncollected):
    ten full holds and a partial one (lowered cap) fill the budget, every other call is
    refused, and the budget ends used up without ever being exceeded."""
    body = chat_body("paid-twenty", max_tokens=10)
    full, smallest = quote(mock_gateway, body), quote(mock_gateway, {**body, "max_tokens": 1})
    budget = 10 * full + smallest + 2
    token = mock_gateway.compose_key(budget=budget)
    responses = budget_race([mock_gateway], token, body, calls=50)
    receipts = [r.json()["receipt"] for r in responses if r.status_code == 200]
    charges = sorted(int(r["final_amount_wei"]) for r in receipts)
    assert charges == [smallest + 2] + [full] * 10
    assert all("uncollected_amount_wei" in r for r in receipts), "the mock overran every cap"
    assert key_record(mock_gateway, token).budget_used == budget


def test_revoked_key_is_refused(mock_gateway: GatewayServer) -> None:
    token = mock_gateway.compose_key(budget=1_000_000)
    assert (
        httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=bearer(token)).status_code == 200
    )
    key = key_record(mock_gateway, token)
    mock_gateway.call(mock_gateway.runtime.store.revoke_key(key.key_id, int(time.time() * 1000)))
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=bearer(token), timeout=30)
    assert response.status_code == 401
    error = openai_error(response)
    assert (error["code"], error["message"]) == ("invalid_compose_key", "Key has been revoked")
    assert response.headers["x-session-invalid"] == "revoked"
    after = key_record(mock_gateway, token)
    assert (after.budget_used, after.budget_reserved) == (key.budget_used, 0)


@pytest.mark.parametrize(
    ("authorization", "message", "reason"),
    [
        pytest.param("Bearer compose-abc.def.ghi", "Invalid or expired token", "invalid_key", id="bad-signature"),
        pytest.param("compose-", "Invalid or expired token", "invalid_key", id="empty-token"),
    ],
)
def test_invalid_key_is_refused(mock_gateway: GatewayServer, authorization: str, message: str, reason: str) -> None:
    response = httpx.post(
        mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers={"authorization": authorization}, timeout=30
    )
    assert response.status_code == 401
    assert (openai_error(response)["code"], openai_error(response)["message"]) == ("invalid_compose_key", message)
    assert response.headers["x-session-invalid"] == reason


def test_key_errors_come_before_the_budget_error(mock_gateway: GatewayServer) -> None:
    """The hold reads the key itself: a key that is also out of budget still gets the errors of
    §2.2 and of its chain, in their order, and the budget is left as it was."""
    token = mock_gateway.compose_key(budget=1)  # too little for any call
    wrong_chain = {**bearer(token), "x-chain-id": "43113"}
    mismatch = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=wrong_chain, timeout=30)
    assert mismatch.status_code == 409, mismatch.text
    assert openai_error(mismatch)["code"] == "chain_mismatch"
    key = key_record(mock_gateway, token)
    mock_gateway.call(mock_gateway.runtime.store.revoke_key(key.key_id, int(time.time() * 1000)))
    revoked = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=wrong_chain, timeout=30)
    assert revoked.status_code == 401, revoked.text
    assert openai_error(revoked)["message"] == "Key has been revoked"
    after = key_record(mock_gateway, token)
    assert (after.budget_used, after.budget_reserved) == (0, 0)


def test_a_token_of_a_key_the_store_does_not_have_is_refused(mock_gateway: GatewayServer) -> None:
    payments = mock_gateway.runtime.payments
    assert payments is not None
    known = key_record(mock_gateway, mock_gateway.compose_key(budget=1_000_000))
    unknown = replace(known, key_id="key_" + uuid.uuid4().hex)
    token = payments.compose_keys.mint(unknown)
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=bearer(token), timeout=30)
    assert response.status_code == 401, response.text
    assert openai_error(response)["message"] == "Key not found"
    assert response.headers["x-session-invalid"] == "invalid_key"


def test_chain_mismatch(mock_gateway: GatewayServer) -> None:
    token = mock_gateway.compose_key(budget=1_000_000)
    headers = {**bearer(token), "x-chain-id": "43113"}
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=headers, timeout=30)
    assert response.status_code == 409
    error = openai_error(response)
    assert (error["code"], error["message"]) == ("chain_mismatch", "Compose key chainId does not match request chainId")
    assert response.headers["x-session-invalid"] == "invalid_key"
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)
    # The key's own chain, named explicitly, is fine.
    headers["x-chain-id"] = str(CHAIN_ID)
    assert httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=headers).status_code == 200


def test_budget_below_one_output_token(mock_gateway: GatewayServer) -> None:
    body = chat_body("paid-text")
    smallest = quote(mock_gateway, {**body, "max_tokens": 1})
    token = mock_gateway.compose_key(budget=smallest - 1)
    response = httpx.post(mock_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30)
    assert response.status_code == 402
    assert openai_error(response)["code"] == "budget_exhausted"
    assert response.headers["x-session-invalid"] == "budget_exhausted"
    assert response.headers["x-key-budget-limit"] == response.headers["x-key-budget-remaining"] == str(smallest - 1)
    assert "x-payment-intent-id" not in response.headers
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (0, 0)


@pytest.mark.parametrize(
    ("cap", "budget_for", "shortfall"),
    [
        pytest.param(1, 1, 0, id="one-token"),
        pytest.param(7, 7, 0, id="exactly-M(7)"),
        pytest.param(7, 8, 1, id="just-below-M(8)"),
        pytest.param(60, 60, 0, id="exactly-M(60)"),
    ],
)
def test_small_hold_lowers_max_tokens(
    cap: int, budget_for: int, shortfall: int, mock_gateway: GatewayServer, mock_upstream: MockUpstream
) -> None:
    """A budget below M buys the largest output cap it covers (§5.2), and that cap is what
    the upstream is asked for."""
    content = f"cap probe {uuid.uuid4().hex}"
    body = chat_body("paid-echo", content)
    full = quote(mock_gateway, body)  # the row's cap is 100
    budget = quote(mock_gateway, {**body, "max_tokens": budget_for}) - shortfall
    assert budget < full
    token = mock_gateway.compose_key(budget=budget)
    payer = key_record(mock_gateway, token).user_address
    response = httpx.post(mock_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    sent = mock_upstream.wait_for(lambda entry: content in str(entry["body"]))
    assert sent["body"]["max_tokens"] == cap
    # The hold was the whole budget; the charge is the metered amount, at most the hold.
    assert response.headers["x-payment-intent-id"].startswith("hold_")
    charged = int(response.headers["x-key-final-amount-wei"])
    assert 0 < charged <= budget
    record = key_record(mock_gateway, token)
    assert (record.budget_used, record.budget_reserved) == (charged, 0)
    assert response.headers["x-key-budget-used"] == str(charged)
    assert response.headers["x-key-budget-remaining"] == str(budget - charged)
    assert budget - balance(mock_gateway, payer) == charged


def test_key_receipt_and_headers(mock_gateway: GatewayServer) -> None:
    """A key-paid answer: hold id, amounts, sandbox tx hash, and the receipt in three forms."""
    token = mock_gateway.compose_key(budget=1_000_000)
    payer = key_record(mock_gateway, token).user_address
    merchant_before = balance(mock_gateway, merchant(mock_gateway))
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    headers, receipt = response.headers, response.json()["receipt"]
    charged = int(receipt["final_amount_wei"])
    assert receipt["payment_method"] == "compose_key" and receipt["user_address"] == payer
    assert receipt["payment_intent_id"] == headers["x-payment-intent-id"]
    assert receipt["tx_hash"] == headers["x-key-tx-hash"] == headers["x-transaction-hash"]
    assert headers["x-key-final-amount-wei"] == str(charged) and headers["x-settlement"] == "settled"
    assert (headers["x-key-budget-used"], headers["x-key-budget-reserved"]) == (str(charged), "0")
    assert headers["x-compose-receipt"] == headers["x-receipt"]
    assert "payment-response" not in headers
    assert 1_000_000 - balance(mock_gateway, payer) == charged
    assert balance(mock_gateway, merchant(mock_gateway)) - merchant_before == charged


@pytest.mark.parametrize(
    "form",
    [
        pytest.param("Bearer {token}", id="bearer"),
        pytest.param("bearer {token}", id="lowercase-scheme"),
        pytest.param("BEARER   {token}", id="uppercase-scheme-extra-spaces"),
        pytest.param("{token}", id="bare-token"),
    ],
)
def test_key_authorization_forms(form: str, mock_gateway: GatewayServer) -> None:
    """§1.2 / §2.2: ``Bearer compose-…`` (scheme word in any case) or the bare token."""
    token = mock_gateway.compose_key(budget=1_000_000)
    headers = {"authorization": form.format(token=token)}
    response = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["receipt"]["payment_method"] == "compose_key"


def test_credential_precedence(mock_gateway: GatewayServer) -> None:
    """§1.2: a Compose Key wins over a payment header (which is left untouched, so it still
    pays later); other ``Authorization`` values are ignored."""
    body = chat_body("paid-text")
    upto = requirement(httpx.post(mock_gateway.base_url + CHAT, json=body, timeout=30), "upto")
    wallet = funded_wallet(mock_gateway)
    payment = {"payment-signature": encode(sign_upto(upto, wallet, now=now()))}
    token = mock_gateway.compose_key(budget=1_000_000)

    both = httpx.post(mock_gateway.base_url + CHAT, json=body, headers={**bearer(token), **payment}, timeout=30)
    assert both.status_code == 200
    assert both.json()["receipt"]["payment_method"] == "compose_key"
    assert balance(mock_gateway, wallet.address) == 10_000_000

    foreign = {"authorization": "Bearer sk-not-a-compose-key"}
    challenge = httpx.post(mock_gateway.base_url + CHAT, json=body, headers=foreign, timeout=30)
    assert challenge.status_code == 402 and challenge.json()["x402Version"] == 2
    paid = httpx.post(mock_gateway.base_url + CHAT, json=body, headers={**foreign, **payment}, timeout=30)
    assert paid.status_code == 200
    assert paid.json()["receipt"]["payment_method"] == "x402"
    assert 10_000_000 - balance(mock_gateway, wallet.address) == int(paid.json()["receipt"]["final_amount_wei"])


def test_key_stream_holds_then_settles_even_when_revoked_midway(mock_gateway: GatewayServer) -> None:
    """§3.3: budget headers with the hold go out with the SSE headers; §3.1: revoking stops
    new calls, but a call already holding budget finishes and settles."""
    token = mock_gateway.compose_key(budget=1_000_000)
    body = chat_body("paid-slow", stream=True)
    full = quote(mock_gateway, {**body, "stream": False})
    with httpx.stream("POST", mock_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30) as response:
        assert response.status_code == 200
        headers = response.headers
        assert headers["x-payment-intent-id"].startswith("hold_")
        assert (headers["x-key-budget-used"], headers["x-key-budget-reserved"]) == ("0", str(full))
        assert headers["x-key-budget-remaining"] == str(1_000_000 - full)
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        key = key_record(mock_gateway, token)
        assert key.budget_reserved == full
        mock_gateway.call(mock_gateway.runtime.store.revoke_key(key.key_id, int(time.time() * 1000)))
        refused = httpx.post(mock_gateway.base_url + CHAT, json=chat_body("paid-text"), headers=bearer(token))
        assert refused.status_code == 401
        frames = sse_frames([first, *lines])
    (event, receipt), (_, done) = frames[-2:]
    assert (event, done) == ("compose.receipt", "[DONE]")
    assert receipt["paymentMethod"] == "compose_key"
    assert receipt["paymentIntentId"] == headers["x-payment-intent-id"]
    after = key_record(mock_gateway, token)
    assert (after.budget_used, after.budget_reserved) == (int(receipt["finalAmountWei"]), 0)
    assert 0 < after.budget_used < full


def test_key_stream_abandoned_midway_is_charged_for_what_was_delivered(mock_gateway: GatewayServer) -> None:
    """chat.md §5.6: the client leaves after content arrived, so the delivered part is
    metered and settled, and the hold does not linger."""
    token = mock_gateway.compose_key(budget=1_000_000)
    body = chat_body("paid-slow", stream=True)
    full = quote(mock_gateway, {**body, "stream": False})
    with httpx.stream("POST", mock_gateway.base_url + CHAT, json=body, headers=bearer(token), timeout=30) as response:
        lines = response.iter_lines()
        assert '"content"' in next(line for line in lines if line.startswith("data: "))
    deadline = time.monotonic() + 5
    while (record := key_record(mock_gateway, token)).budget_reserved and time.monotonic() < deadline:
        time.sleep(0.02)
    assert record.budget_reserved == 0
    assert 0 < record.budget_used < full
    assert 1_000_000 - balance(mock_gateway, record.user_address) == record.budget_used


@pytest.mark.parametrize(
    ("path", "action"),
    [
        pytest.param("/v1/chat/completions?trace=1", "POST /v1/chat/completions", id="chat"),
        pytest.param("/api/inference?a=b", "POST /api/inference", id="legacy-alias"),
    ],
)
def test_receipt_names_the_route(path: str, action: str, mock_gateway: GatewayServer) -> None:
    """§8.1: ``action`` is method and path (no query), ``resource`` the full public URL."""
    token = mock_gateway.compose_key(budget=1_000_000)
    response = httpx.post(mock_gateway.base_url + path, json=chat_body("paid-text"), headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    receipt = response.json()["receipt"]
    assert (receipt["action"], receipt["resource"]) == (action, mock_gateway.base_url + path)
    assert receipt["bills"][0]["action"] == action
    assert receipt["id"].startswith("rct_") and len(receipt["id"]) == 36
    assert receipt["subject"] == "sandbox:paid-text" and receipt["service"] == "inference"

"""A Compose Key call's receipt is stored by its settlement (one store transaction), so it can
be fetched as soon as the answer is out, exactly as the answer showed it (spec/payments.md §3.1
steps 6-7, §8.4); a settlement that charged something else still gets a receipt stating it."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway_core.payments.gate import PaymentRequest
from gateway_core.store import KeyRecord
from gateway_core.testing.server import GatewayServer, run_gateway
from gateway_core.types import Usage

CHAT = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


def _paid_call(server: GatewayServer, token: str) -> dict[str, object]:
    answer = httpx.post(
        server.base_url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    receipt: dict[str, object] = answer.json()["receipt"]
    return receipt


@pytest.mark.parametrize("settlement", [pytest.param("sandbox", id="sandbox"), pytest.param("ledger", id="ledger")])
def test_the_receipt_is_readable_as_soon_as_the_answer_is_out(settlement: str) -> None:
    with run_gateway({"GATEWAY_KEY_SETTLEMENT": settlement}) as server:
        token = server.compose_key()
        for count in (1, 2):
            receipt = _paid_call(server, token)
            fetched = httpx.get(
                f"{server.base_url}/api/receipts/{receipt['id']}", headers={"authorization": f"Bearer {token}"}
            )
            assert fetched.status_code == 200, fetched.text
            assert fetched.json()["receipt"] == receipt
            assert receipt["cumulative"]["receipt_count"] == count  # type: ignore[index]
        if settlement == "sandbox":
            store, payments = server.runtime.store, server.runtime.payments
            assert store is not None and payments is not None
            chain = payments.chain_row(payments.settings.default_chain_id)
            transfers = server.call(
                store.ledger_transfers(chain.network, chain.usdc_address, str(receipt["user_address"]))
            )
            assert transfers[0].tx_hash == receipt["tx_hash"]
        else:
            assert "tx_hash" not in receipt


def test_a_late_settlement_gets_the_receipt_of_what_it_charged() -> None:
    with run_gateway({"GATEWAY_KEY_SETTLEMENT": "ledger"}) as server:
        store, payments, catalog = server.runtime.store, server.runtime.payments, server.runtime.catalog
        assert store is not None and payments is not None
        token = server.compose_key(budget=10_000_000)
        row = catalog.resolve("sandbox-echo")
        assert row is not None
        request = PaymentRequest(
            headers={"authorization": f"Bearer {token}"},
            row=row.data,
            operation="chat",
            input_tokens_estimate=1_000,
            max_output_tokens=1_000,
            path="/v1/chat/completions",
            request_id="req_late",
        )
        authorization = server.call(payments.authorize(request))
        hold = authorization.state.hold
        # The sweeper gives the hold back and another call takes all but 1 of the budget.
        server.call(store.release_stale_holds(int(time.time() * 1000) + 60_000))
        key: KeyRecord | None = server.call(store.get_key(hold.key_id))
        assert key is not None
        assert server.call(store.hold(key.key_id, key.remaining - 1, 1, "req_other", key.created_at + 1)).hold
        usage = Usage(prompt_tokens=1_000, completion_tokens=1_000)
        receipt = server.call(payments.settle(authorization, usage, "provider", stream=False))
        assert receipt.body["final_amount_wei"] == "1" and int(receipt.body["uncollected_amount_wei"]) > 0
        stored = server.call(store.get_receipt(receipt.body["id"]))
        assert stored is not None and stored.final_amount == 1
        assert stored.cumulative is not None and stored.cumulative.receipt_count == 1

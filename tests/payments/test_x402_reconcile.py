"""A settlement whose outcome is unknown is answered (never with a 402), recorded ``pending``
and settled later by the reconciler, exactly once (spec/payments.md §6.6, §6.7)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse

from gateway_core.payments.sandbox.signer import Wallet, pay
from gateway_core.payments.x402.errors import FacilitatorUnavailable
from gateway_core.testing.server import run_gateway

NETWORK, ASSET = "eip155:31337", "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
CHAT = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hi"}]}


class Unreachable:
    """The real sandbox facilitator, except that /settle cannot be reached until ``up``."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.up = False

    async def supported(self) -> Any:
        return await self.real.supported()

    async def verify(self, payload: PaymentPayload, requirements: PaymentRequirements) -> Any:
        return await self.real.verify(payload, requirements)

    async def settle(self, payload: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        if not self.up:
            raise FacilitatorUnavailable("connection refused")
        response: SettleResponse = await self.real.settle(payload, requirements)
        return response


def test_unknown_settlement_is_queued_then_reconciled_once() -> None:
    with run_gateway({}) as server:
        payments = server.runtime.payments
        store = server.runtime.store
        assert payments is not None and store is not None
        flaky = Unreachable(payments.x402._facilitator)
        payments.x402._facilitator = flaky  # the facilitator "goes away" for settlement only

        wallet = Wallet.create()
        server.call(store.ledger_fund(NETWORK, ASSET, wallet.address.lower(), 10_000_000, True, True))
        url = server.base_url + "/v1/chat/completions"
        challenge = httpx.post(url, json=CHAT)
        assert challenge.status_code == 402
        required = PaymentRequired.model_validate_json(base64.b64decode(challenge.headers["payment-required"]))
        payload = pay(required, wallet, now=int(time.time()), scheme="exact")
        header = base64.b64encode(payload.model_dump_json(by_alias=True, exclude_none=True).encode()).decode()

        answer = httpx.post(url, json=CHAT, headers={"payment-signature": header}, timeout=30)
        assert answer.status_code == 200, answer.text  # the output is delivered ...
        assert "payment-response" not in answer.headers  # ... without a settlement answer
        assert answer.json()["receipt"]["settlement_status"] == "queued"
        before = server.call(store.ledger_account(NETWORK, ASSET, wallet.address.lower())).balance
        assert before == 10_000_000

        flaky.up = True
        assert server.call(payments.x402.reconcile()) == 1
        assert server.call(payments.x402.reconcile()) == 0  # nothing left pending
        after = server.call(store.ledger_account(NETWORK, ASSET, wallet.address.lower())).balance
        assert before - after == int(answer.json()["receipt"]["final_amount_wei"])

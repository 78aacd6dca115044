"""The HTTP facilitator client, the settle retry policy and /supported lookups (spec/payments.md §6.7, §6.10)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from x402.schemas import SettleResponse, SupportedKind, SupportedResponse
from x402_testkit import FACILITATOR, NOW, OTHER, PAY_TO, ROW

from gateway_core.payments.sandbox import (
    parse_facilitator_request,
    settle_response_body,
    sign_exact,
    sign_upto,
    supported_response_body,
    verify_response_body,
)
from gateway_core.payments.x402 import (
    FacilitatorUnavailable,
    HttpFacilitator,
    exact_requirement,
    facilitator_address,
    facilitator_signers,
    settle_with_retry,
    supported_schemes,
    upto_requirement,
)

EXACT = exact_requirement(ROW, pay_to=PAY_TO, amount=6208, max_timeout_seconds=600)
UPTO = upto_requirement(ROW, pay_to=PAY_TO, amount=1_000_000, max_timeout_seconds=600, facilitator_address=FACILITATOR)
URL = "http://facilitator.test/api/x402/facilitator"


def _served(sandbox, seen):
    """The sandbox facilitator behind an httpx mock transport, as its HTTP routes would serve it."""

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path.removeprefix("/api/x402/facilitator")
        if request.method == "GET" and path == "/supported":
            return httpx.Response(200, content=supported_response_body(await sandbox.supported()))
        payload, requirements = parse_facilitator_request(json.loads(request.content))
        if path == "/verify":
            return httpx.Response(200, content=verify_response_body(await sandbox.verify(payload, requirements)))
        return httpx.Response(200, content=settle_response_body(await sandbox.settle(payload, requirements)))

    return handler


def test_http_facilitator_round_trips_through_the_sandbox(payer, sandbox, run) -> None:
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(transport=httpx.MockTransport(_served(sandbox, seen)))
    facilitator = HttpFacilitator(URL + "/", headers={"X-Api-Key": "secret"}, http_client=http)
    payload = sign_upto(UPTO, payer, now=NOW)
    charge = UPTO.model_copy(update={"amount": "23"})

    async def exchange():
        supported = await facilitator.supported()
        verified = await facilitator.verify(payload, UPTO)
        settled = await facilitator.settle(payload, charge)
        again = await facilitator.settle(payload, charge)
        await facilitator.aclose()
        return supported, verified, settled, again

    supported, verified, settled, again = run(exchange())
    assert supported == run(sandbox.supported())
    assert verified.is_valid and verified.payer == payer.address
    assert settled.success and settled.amount == "23"
    assert (again.success, again.error_reason) == (False, "permit2_invalid_nonce")
    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in seen] == [
        ("GET", "supported"),
        ("POST", "verify"),
        ("POST", "settle"),
        ("POST", "settle"),
    ]
    assert all(request.headers["x-api-key"] == "secret" for request in seen)
    assert json.loads(seen[1].content)["x402Version"] == 2


def _failing(kind):
    async def handler(request: httpx.Request) -> httpx.Response:
        if kind == "status":
            return httpx.Response(503, json={"error": "down"})
        if kind == "not-json":
            return httpx.Response(200, content=b"<html>")
        if kind == "wrong-shape":
            return httpx.Response(200, json={"kinds": "no", "isValid": "maybe", "success": "?"})
        if kind == "slow":
            await asyncio.sleep(5)
        raise httpx.ConnectError("refused", request=request)

    return handler


@pytest.mark.parametrize("kind", ["status", "not-json", "wrong-shape", "connect-error", "slow"])
@pytest.mark.parametrize("call", ["supported", "verify", "settle"])
def test_unusable_answers_are_facilitator_unavailable(kind, call, payer) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(_failing(kind)))
    facilitator = HttpFacilitator(
        URL, http_client=http, verify_timeout=0.05, settle_timeout=0.05, supported_timeout=0.05
    )
    payload = sign_exact(EXACT, payer, now=NOW)

    async def run():
        if call == "supported":
            return await facilitator.supported()
        return await getattr(facilitator, call)(payload, EXACT)

    with pytest.raises(FacilitatorUnavailable):
        asyncio.run(run())


def test_unavailable_maps_to_503() -> None:
    error = FacilitatorUnavailable("x").gateway_error()
    assert (error.status, error.code, error.message) == (
        503,
        "facilitator_unavailable",
        "x402 facilitator is unavailable",
    )


def _answer(success=True, reason=None):
    return SettleResponse(
        success=success, error_reason=reason, transaction="0x" + "ab" * 32 if success else "", network=ROW.network
    )


class ScriptedFacilitator:
    """Answers /settle from a script: a SettleResponse, or FacilitatorUnavailable."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    async def supported(self):
        raise NotImplementedError

    async def verify(self, payload, requirements):
        raise NotImplementedError

    async def settle(self, payload, requirements):
        self.calls += 1
        step = self.script.pop(0)
        if step == "down":
            raise FacilitatorUnavailable("down")
        return step


@pytest.mark.parametrize(
    ("script", "status", "attempts", "sleeps"),
    [
        pytest.param([_answer()], "settled", 1, [], id="success"),
        pytest.param(["down", _answer()], "settled", 2, [0.5], id="retry-then-success"),
        pytest.param(["down", "down", _answer()], "settled", 3, [0.5, 1.0], id="third-attempt"),
        pytest.param(["down", "down", "down"], "unknown", 3, [0.5, 1.0], id="transport-failures-exhausted"),
        pytest.param([_answer(False, "settlement_pending")], "unknown", 1, [], id="pending-is-unknown-at-once"),
        pytest.param(["down", _answer(False, "settlement_pending")], "unknown", 2, [0.5], id="pending-after-retry"),
        pytest.param([_answer(False, "insufficient_funds")], "failed", 1, [], id="refusal"),
        pytest.param([_answer(False, "invalid_exact_evm_nonce_already_used")], "failed", 1, [], id="nonce-used-first"),
        pytest.param(["down", _answer(False, "invalid_exact_evm_nonce_already_used")], "unknown", 2, [0.5],
                     id="nonce-used-after-lost-attempt"),
        pytest.param(["down", _answer(False, "permit2_invalid_nonce")], "unknown", 2, [0.5],
                     id="permit2-nonce-after-lost-attempt"),
        pytest.param(["down", _answer(False, "insufficient_funds")], "failed", 2, [0.5], id="refusal-after-retry"),
    ],
)  # fmt: skip
def test_settle_retry_policy(script, status, attempts, sleeps, payer) -> None:
    facilitator = ScriptedFacilitator(script)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    outcome = asyncio.run(settle_with_retry(facilitator, sign_exact(EXACT, payer, now=NOW), EXACT, sleep=sleep))
    assert (outcome.status, outcome.attempts, slept) == (status, attempts, sleeps)
    assert facilitator.calls == attempts
    assert (outcome.response is None) is (script[-1] == "down")


REMOTE = SupportedResponse(
    kinds=[
        SupportedKind(x402_version=2, scheme="exact", network="eip155:84532"),
        SupportedKind(x402_version=2, scheme="upto", network="eip155:84532", extra={"facilitatorAddress": OTHER}),
        SupportedKind(x402_version=1, scheme="exact", network="base-sepolia"),
        SupportedKind(x402_version=2, scheme="exact", network="eip155:*"),
    ],
    signers={"eip155:*": [FACILITATOR], "eip155:8453": ["0x5555555555555555555555555555555555555555"]},
)


def test_supported_lookups(sandbox, run) -> None:
    assert supported_schemes(REMOTE, "eip155:84532") == ["exact", "upto"]
    assert supported_schemes(REMOTE, "eip155:43113") == ["exact"]
    assert facilitator_address(REMOTE, "eip155:84532", "upto") == OTHER
    assert facilitator_address(REMOTE, "eip155:43113", "upto") == FACILITATOR  # first of signers["eip155:*"]
    assert facilitator_signers(REMOTE, "eip155:84532") == {OTHER, FACILITATOR}
    assert facilitator_signers(REMOTE, "eip155:8453") == {FACILITATOR, "0x5555555555555555555555555555555555555555"}
    assert facilitator_signers(REMOTE) == {OTHER, FACILITATOR, "0x5555555555555555555555555555555555555555"}
    local = run(sandbox.supported())
    assert supported_schemes(local, ROW.network) == ["exact", "upto"]
    assert facilitator_address(local, ROW.network, "upto") == FACILITATOR
    assert facilitator_address(SupportedResponse(kinds=[]), ROW.network, "upto") is None

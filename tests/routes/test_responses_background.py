"""``background: true`` responses, ``POST /v1/responses/{id}/cancel`` and input item pages,
through the official SDK against a real loopback gateway (and a real mock upstream where a
run must be stopped mid-generation)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai.types.responses import Response

from gateway_core.payments.keys import compose_token_of
from gateway_core.store import KeyRecord, ResponseRecord, Store
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.providers import SandboxWireProvider
from gateway_core.testing.server import GatewayServer, run_gateway
from gateway_core.testing.waiting import eventually
from gateway_core.usage import estimate_output_tokens

#: One token costs one base unit of USDC in and out (plus the platform fee on top).
_PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}


def _sdk(server: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.api_key, max_retries=0)


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    with run_gateway({"GATEWAY_BACKGROUND_HEARTBEAT": "0.05"}) as server:
        yield server


def _paced_gateway(
    mock_upstream: MockUpstream, upstream_model: str, **extra: str
) -> AbstractContextManager[GatewayServer]:
    row = {"modelId": "paced", "provider": "paced", "upstreamModelId": upstream_model, "type": "chat"}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump([{**row, "maxOutputTokens": 4000, "pricing": _PRICING}], handle)
    config = {
        "GATEWAY_CATALOG": handle.name,
        "GATEWAY_PROVIDER_PACED_BASE_URL": mock_upstream.base_url,
        "GATEWAY_BACKGROUND_HEARTBEAT": "0.05",
        **extra,
    }
    return run_gateway(config, extra_plugins=[("paced", SandboxWireProvider("paced"))])


def _finished(sdk: openai.OpenAI, response_id: str) -> Callable[[], Response | None]:
    def probe() -> Response | None:
        response = sdk.responses.retrieve(response_id)
        return response if response.status not in ("queued", "in_progress") else None

    return probe


# -- background runs -----------------------------------------------------------------------------


def test_background_response_is_queued_then_completes(gateway: GatewayServer) -> None:
    sdk = _sdk(gateway)
    queued = sdk.responses.create(model="sandbox-echo", input="run me later", background=True)
    assert queued.status == "queued" and queued.background is True
    assert queued.output == [] and queued.usage is None
    done = eventually(_finished(sdk, queued.id))
    assert done.status == "completed" and done.background is True
    assert done.output_text == "echo: run me later"
    assert done.usage is not None and done.usage.output_tokens > 0
    assert int((done.model_extra or {})["receipt"]["final_amount_wei"]) > 0
    items = sdk.responses.input_items.list(queued.id)
    assert [item.type for item in items.data] == ["message"]


def test_background_needs_a_stored_non_stream_response(gateway: GatewayServer) -> None:
    for extra, param in (({"store": False}, "store"), ({"stream": True}, "stream")):
        answer = httpx.post(
            gateway.base_url + "/v1/responses",
            headers=gateway.auth,
            json={"model": "sandbox-echo", "input": "x", "background": True, **extra},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == param


def test_cancel_of_a_finished_response_changes_nothing(gateway: GatewayServer) -> None:
    sdk = _sdk(gateway)
    done = sdk.responses.create(model="sandbox-echo", input="hi")
    assert sdk.responses.cancel(done.id).status == "completed"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.cancel("resp_" + "0" * 32)


def test_cancel_follows_the_owner_rule(gateway: GatewayServer) -> None:
    sdk = _sdk(gateway)
    queued = sdk.responses.create(model="sandbox-echo", input="mine", background=True)
    other_wallet = gateway.compose_key()  # a key of another wallet
    stranger = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=other_wallet, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.cancel(queued.id)
    eventually(_finished(sdk, queued.id))


def test_background_run_cancelled_mid_generation(mock_upstream: MockUpstream) -> None:
    """Cancelled while the upstream streams: ``cancelled`` at once, the upstream connection
    closed, and only what was delivered billed."""
    mock_upstream.reset()
    with _paced_gateway(mock_upstream, "mock/hang?pace_ms=20") as server:
        sdk = _sdk(server)
        queued = sdk.responses.create(model="paced", input="keep going", background=True)

        def partial() -> Response | None:  # GET shows the run's progress
            response = sdk.responses.retrieve(queued.id)
            return response if response.status == "in_progress" and len(response.output_text) >= 10 else None

        assert eventually(partial).usage is None
        cancelled = sdk.responses.cancel(queued.id)
        assert cancelled.status == "cancelled"
        upstream = mock_upstream.wait_for(
            lambda r: r["model"] == "mock/hang?pace_ms=20" and r["outcome"] != "in_progress"
        )
        assert upstream["outcome"] == "client_disconnected"
        final = eventually(lambda: _billed(sdk, queued.id))
        assert final.status == "cancelled"
        delivered = final.output_text
        assert delivered and final.output[0].type == "message"
        usage = final.usage
        assert usage is not None
        # Billed output = what the record shows was delivered (no more, no upstream total).
        assert 0 < usage.output_tokens <= estimate_output_tokens(delivered, None, ())
        receipt = (final.model_extra or {})["receipt"]
        billed = int(receipt["final_amount_wei"])
        tokens = usage.input_tokens + usage.output_tokens
        assert tokens <= billed <= tokens * 1.02 + 1  # one unit per token plus the 1 % fee


def _billed(sdk: openai.OpenAI, response_id: str) -> Response | None:
    response = sdk.responses.retrieve(response_id)
    return response if response.usage is not None else None


def test_cancel_before_the_first_token_charges_nothing(mock_upstream: MockUpstream) -> None:
    mock_upstream.reset()
    with _paced_gateway(mock_upstream, "mock/hang?first_ms=3000") as server:
        sdk = _sdk(server)
        queued = sdk.responses.create(model="paced", input="x", background=True)
        assert _key_budget(server)[1] > 0  # the hold
        assert sdk.responses.cancel(queued.id).status == "cancelled"
        assert eventually(lambda: True if _key_budget(server) == (0, 0) else None)
        record = sdk.responses.retrieve(queued.id)
        assert record.status == "cancelled" and record.usage is None and record.output == []
        assert "receipt" not in (record.model_extra or {})
        if mock_upstream.requests():  # the run may have reached the upstream: then it hung up
            assert mock_upstream.wait_for(lambda r: r["outcome"] != "in_progress")["outcome"] == "client_disconnected"


def _key_budget(server: GatewayServer) -> tuple[int, int]:
    """The paying key's (used, reserved) amounts, from the store."""
    payments, store = server.runtime.payments, server.runtime.store
    assert payments is not None and store is not None
    key = server.call(payments.compose_keys.validate(compose_token_of(server.auth["authorization"]) or ""))
    record = server.call(store.get_key(key.key_id))
    assert record is not None
    return record.budget_used, record.budget_reserved


def test_gateway_shutdown_fails_running_background_runs(mock_upstream: MockUpstream, tmp_path: Path) -> None:
    mock_upstream.reset()
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    with _paced_gateway(mock_upstream, "mock/hang?pace_ms=20", GATEWAY_STORE_URL=url) as server:
        queued = _sdk(server).responses.create(model="paced", input="x", background=True)
        mock_upstream.wait_for(lambda r: r["frames"] >= 3)
        payments = server.runtime.payments
        assert payments is not None
        key = server.call(payments.compose_keys.validate(compose_token_of(server.auth["authorization"]) or ""))
    # The gateway stopped while the run streamed: upstream closed, record failed, nothing charged.
    entry = mock_upstream.wait_for(lambda r: r["outcome"] != "in_progress")
    assert entry["outcome"] == "client_disconnected"

    async def read() -> tuple[ResponseRecord | None, KeyRecord | None]:
        store = await Store.open(url)
        try:
            return await store.get_response(queued.id, time.time_ns() // 1_000_000), await store.get_key(key.key_id)
        finally:
            await store.close()

    record, key_record = asyncio.run(read())
    assert record is not None and record.status == "failed"
    assert json.loads(record.error_json or "")["code"] == "server_shutdown"
    assert json.loads(record.output_json or "[]")[0]["type"] == "message"
    assert key_record is not None and (key_record.budget_used, key_record.budget_reserved) == (0, 0)


# -- input item pages ----------------------------------------------------------------------------


def test_input_items_pagination(gateway: GatewayServer) -> None:
    sdk = _sdk(gateway)
    turns: list[Any] = [{"role": "user", "content": f"turn {n}"} for n in range(5)]
    created = sdk.responses.create(model="sandbox-echo", input=turns)
    everything = sdk.responses.input_items.list(created.id)
    ids = [item.id for item in everything.data]
    assert len(ids) == 5 and everything.has_more is False
    first = sdk.responses.input_items.list(created.id, limit=2)
    assert [item.id for item in first.data] == ids[:2] and first.has_more is True
    # The SDK's auto-paging follows ``after`` to the end.
    assert [item.id for item in sdk.responses.input_items.list(created.id, limit=2)] == ids
    newest = sdk.responses.input_items.list(created.id, order="desc", limit=3)
    assert [item.id for item in newest.data] == ids[::-1][:3]
    after = sdk.responses.input_items.list(created.id, order="desc", after=ids[1])
    assert [item.id for item in after.data] == [ids[0]] and after.has_more is False


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("order=up", "order"),
        ("after=nope", "after"),
    ],
)
def test_input_items_bad_page(gateway: GatewayServer, query: str, param: str) -> None:
    created = _sdk(gateway).responses.create(model="sandbox-echo", input="x")
    answer = httpx.get(f"{gateway.base_url}/v1/responses/{created.id}/input_items?{query}", headers=gateway.auth)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param

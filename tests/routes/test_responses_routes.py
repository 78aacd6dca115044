"""``/v1/responses`` end to end over loopback with the official ``openai`` SDK (spec/responses.md)."""

from __future__ import annotations

import base64
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest
import yaml
from fastapi import FastAPI

from gateway_core import pipeline as pipeline_module
from gateway_core.app import create_app
from gateway_core.errors import GatewayError
from gateway_core.routes import responses as responses_routes
from gateway_core.routes import responses_records
from gateway_core.store import ResponseRecord
from gateway_core.testing import server as server_module
from gateway_core.testing.contract import read_sse
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.providers import SandboxWireProvider
from gateway_core.testing.server import GatewayServer, run_gateway


def _create_app_with_responses(*args: Any, **kwargs: Any) -> FastAPI:
    app = create_app(*args, **kwargs)
    if not any(getattr(route, "path", None) == "/v1/responses" for route in app.routes):
        app.include_router(responses_routes.router)  # until app.py registers it
    return app


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server_module, "create_app", _create_app_with_responses)
        with run_gateway({}) as server:
            yield server


@pytest.fixture
def sdk(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.api_key, max_retries=0)


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth, timeout=30) as http:
        yield http


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- POST, non-stream ----------------------------------------------------------------------------


def test_sdk_create(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="sandbox-echo", input="hello there")
    assert response.id.startswith("resp_") and len(response.id) == 37
    assert response.object == "response"
    assert response.status == "completed"
    assert response.model == "sandbox-echo"
    assert response.output_text == "echo: hello there"
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    assert response.usage is not None and response.usage.total_tokens > 0
    extra = response.model_extra or {}
    assert extra["receipt"]["final_amount_wei"].isdigit()
    assert response.usage.model_extra is not None and response.usage.model_extra["usage_source"] in (
        "provider",
        "estimated",
    )


def test_create_headers_and_echo(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/responses",
        json={
            "model": "sandbox-echo",
            "input": [{"role": "user", "content": "hi"}],
            "instructions": "Answer briefly.",
            "max_output_tokens": 50,
            "metadata": {"k": "v"},
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert answer.headers["x-compose-response-id"] == answer.headers["x-response-id"] == body["id"]
    assert answer.headers["x-routing-final-model"] == "sandbox-echo"
    assert "x-compose-receipt" in answer.headers
    receipt = json.loads(base64.urlsafe_b64decode(answer.headers["x-compose-receipt"] + "=="))
    assert receipt["finalAmountWei"] == body["receipt"]["final_amount_wei"]
    assert body["instructions"] == "Answer briefly."
    assert body["max_output_tokens"] == 50
    assert body["metadata"] == {"k": "v"}
    assert body["text"] == {"format": {"type": "text"}}
    assert body["tool_choice"] == "auto" and body["tools"] == [] and body["parallel_tool_calls"] is True
    assert body["error"] is None and body["incomplete_details"] is None
    # The instructions go first as a system message; the echo plugin answers the last user turn.
    assert body["output"][0]["content"][0]["text"] == "echo: hi"


def test_create_needs_payment(gateway: GatewayServer) -> None:
    answer = httpx.post(gateway.base_url + "/v1/responses", json={"model": "sandbox-echo", "input": "hi"})
    assert answer.status_code == 402


def test_create_validation(client: httpx.Client) -> None:
    cases = [
        ({"model": "sandbox-echo", "input": "hi", "stream": "yes"}, 400, "invalid_stream"),
        ({"input": "hi"}, 400, "missing_model"),
        ({"model": "sandbox-echo", "input": [{"type": "item_reference", "id": "x"}]}, 400, "invalid_request"),
        ({"model": "no-such-model", "input": "hi"}, 404, "model_not_found"),
        ({"model": "sandbox-echo"}, 400, "missing_input"),
        ({"model": "sandbox-echo", "input": "hi", "previous_response_id": "resp_" + "0" * 32}, 404, None),
    ]
    for body, status, code in cases:
        answer = client.post("/v1/responses", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert _error(answer)["code"] == (code or "response_not_found")


# -- GET -----------------------------------------------------------------------------------------


def test_retrieve_and_input_items(sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(
        model="sandbox-echo",
        instructions="Be brief.",
        input=[
            {"role": "user", "content": "first"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temp":21}'},
            {"role": "user", "content": "second"},
        ],
    )
    fetched = sdk.responses.retrieve(created.id)
    assert fetched.id == created.id
    assert fetched.status == "completed"
    assert fetched.output_text == created.output_text
    assert fetched.instructions == "Be brief."
    assert fetched.created_at == created.created_at
    assert (fetched.model_extra or {})["receipt"] == (created.model_extra or {})["receipt"]
    assert fetched.usage is not None and created.usage is not None
    assert fetched.usage.total_tokens == created.usage.total_tokens

    page = sdk.responses.input_items.list(created.id)
    # No instructions, no history: this request's messages only, oldest first.
    assert [getattr(item, "role", None) for item in page.data] == ["user", "assistant", "tool", "user"]
    assert getattr(page.data[0], "content", None) == "first"
    assert all(str(getattr(item, "id", "")).startswith("msg_") for item in page.data)


def test_input_items_wire_shape(client: httpx.Client) -> None:
    created = client.post("/v1/responses", json={"model": "sandbox-echo", "input": "hi"}).json()
    page = client.get(f"/v1/responses/{created['id']}/input_items", params={"limit": 1, "order": "desc"})
    assert page.status_code == 200
    body = page.json()
    item = body["data"][0]
    assert body == {
        "object": "list",
        "data": [{"id": item["id"], "type": "message", "role": "user", "content": "hi"}],
        "first_id": item["id"],
        "last_id": item["id"],
        "has_more": False,
    }


def test_retrieve_missing(client: httpx.Client, sdk: openai.OpenAI) -> None:
    missing = "resp_" + "f" * 32
    for path in (f"/v1/responses/{missing}", f"/v1/responses/{missing}/input_items"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert _error(answer)["code"] == "response_not_found"
        assert _error(answer)["message"] == f"Response '{missing}' not found"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(missing)


def test_store_false_keeps_no_record(sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(model="sandbox-echo", input="hi", store=False)
    assert created.output_text == "echo: hi"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)


def test_owner_rule(gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(model="sandbox-echo", input="secret")
    other = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.compose_key(), max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="sandbox-echo", input="more", previous_response_id=created.id)
    anonymous = httpx.get(f"{gateway.base_url}/v1/responses/{created.id}")
    assert anonymous.status_code == 404
    assert _error(anonymous)["code"] == "response_not_found"
    bad_key = httpx.get(
        f"{gateway.base_url}/v1/responses/{created.id}", headers={"authorization": "Bearer compose-not.a.jwt"}
    )
    assert bad_key.status_code == 401


# -- previous_response_id ------------------------------------------------------------------------


def test_two_turn_conversation(sdk: openai.OpenAI, client: httpx.Client, gateway: GatewayServer) -> None:
    first = sdk.responses.create(model="sandbox-echo", input="my name is Ada", instructions="Be brief.")
    second = sdk.responses.create(model="sandbox-echo", input="what is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.output_text == "echo: what is my name?"
    assert second.instructions is None
    # The history reached the provider: the input estimate grows with the earlier turns.
    alone = sdk.responses.create(model="sandbox-echo", input="what is my name?")
    assert second.usage is not None and alone.usage is not None
    assert second.usage.input_tokens > alone.usage.input_tokens
    # The record keeps this request's items only.
    items = sdk.responses.input_items.list(second.id).data
    assert [getattr(item, "content", None) for item in items] == ["what is my name?"]
    # A third turn with no new input continues the chain.
    third = client.post("/v1/responses", json={"model": "sandbox-echo", "previous_response_id": second.id})
    assert third.status_code == 200, third.text


def test_history_messages(gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(model="sandbox-echo", input="one", instructions="sys")
    second = sdk.responses.create(model="sandbox-echo", input="two", previous_response_id=first.id)
    store = gateway.runtime.store
    assert store is not None
    record = gateway.call(store.get_response(second.id, time.time_ns() // 1_000_000))
    assert record is not None and record.owner_kind == "compose_key"
    # The record kept this key's wallet; another caller does not see the chain.
    with pytest.raises(GatewayError) as refused:
        gateway.call(responses_records.history(gateway.runtime, second.id, None))
    assert refused.value.code == "response_not_found"
    history = gateway.call(responses_records.history(gateway.runtime, second.id, record.owner_id))
    assert [(m.role, m.content) for m in history] == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
    ]


# -- streaming -----------------------------------------------------------------------------------


def test_sdk_stream(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="sandbox-echo", input="one two three") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "echo: one two three"
    assert final.status == "completed"
    assert final.output_text == "echo: one two three"
    assert final.usage is not None and final.usage.total_tokens > 0
    fetched = sdk.responses.retrieve(final.id)
    assert fetched.status == "completed"
    assert fetched.output_text == "echo: one two three"
    assert "receipt" in (fetched.model_extra or {})


def test_stream_wire(client: httpx.Client) -> None:
    answer = client.post("/v1/responses", json={"model": "sandbox-echo", "input": "hi", "stream": True})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = read_sse(answer)
    names = [event for event, _ in frames]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-3:] == ["response.completed", "compose.receipt", None]
    assert frames[-1][1] == "[DONE]"
    sequences = [data["sequence_number"] for event, data in frames if event and event.startswith("response.")]
    assert sequences == list(range(len(sequences)))
    created = frames[0][1]["response"]
    assert created["id"] == answer.headers["x-response-id"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    completed = frames[-3][1]["response"]
    assert "receipt" not in completed
    assert completed["output"][0]["content"][0]["text"] == "echo: hi"


def test_stream_continues_conversation(sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(model="sandbox-echo", input="remember 42")
    with sdk.responses.stream(model="sandbox-echo", input="and now?", previous_response_id=first.id) as stream:
        final = stream.get_final_response()
    assert final.previous_response_id == first.id
    assert final.output_text == "echo: and now?"


# -- history errors ------------------------------------------------------------------------------


def _record(response_id: str, previous: str | None) -> ResponseRecord:
    now = time.time_ns() // 1_000_000
    return ResponseRecord(
        response_id=response_id,
        status="completed",
        model="sandbox-echo",
        owner_kind="x402",
        owner_id="0x" + "1" * 40,
        previous_response_id=previous,
        request_json=json.dumps({"model": "sandbox-echo", "created_at": now // 1000}),
        input_items_json="[]",
        created_at=now,
        updated_at=now,
        expires_at=now + 60_000,
    )


def test_history_cycle_is_400(gateway: GatewayServer, client: httpx.Client) -> None:
    store = gateway.runtime.store
    assert store is not None
    a, b = "resp_" + "a" * 32, "resp_" + "b" * 32
    gateway.call(store.create_response(_record(a, b)))
    gateway.call(store.create_response(_record(b, a)))
    answer = client.post("/v1/responses", json={"model": "sandbox-echo", "input": "hi", "previous_response_id": a})
    assert answer.status_code == 400
    assert _error(answer)["code"] == "invalid_request"
    assert _error(answer)["message"].startswith("Response history cycle detected for 'resp_")
    # An x402 record is readable by whoever knows its id.
    assert httpx.get(f"{gateway.base_url}/v1/responses/{a}").status_code == 200


# -- provider failures ---------------------------------------------------------------------------


def _paced_gateway(mock_upstream: MockUpstream, upstream_model: str, **config: str) -> AbstractContextManager[Any]:
    pricing = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}
    row = {"modelId": "paced", "provider": "paced", "upstreamModelId": upstream_model, "type": "chat"}
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump([{**row, "pricing": pricing}], handle)
    full = {"GATEWAY_CATALOG": handle.name, "GATEWAY_PROVIDER_PACED_BASE_URL": mock_upstream.base_url, **config}
    return run_gateway(full, extra_plugins=[("paced", SandboxWireProvider("paced"))])


@pytest.fixture
def _patched_app() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server_module, "create_app", _create_app_with_responses)
        yield


def _stored(server: GatewayServer, response_id: str) -> ResponseRecord:
    assert server.runtime.store is not None
    record = server.call(server.runtime.store.get_response(response_id, time.time_ns() // 1_000_000))
    assert record is not None
    return record


@pytest.mark.usefixtures("_patched_app")
def test_provider_error_fails_the_record(mock_upstream: MockUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    # An error answer carries no response id: fix the one the pipeline draws.
    fixed = "resp_" + "e" * 32
    monkeypatch.setattr(pipeline_module, "new_id", lambda prefix, nbytes=16: fixed)
    with _paced_gateway(mock_upstream, "mock/error?status=400&message=bad%20thing") as server:
        answer = httpx.post(
            server.base_url + "/v1/responses", headers=server.auth, json={"model": "paced", "input": "x"}
        )
        assert answer.status_code == 400
        record = _stored(server, fixed)
        assert record.status == "failed"
        assert json.loads(record.error_json or "") == {"code": "invalid_request", "message": "bad thing"}
        fetched = httpx.get(f"{server.base_url}/v1/responses/{record.response_id}", headers=server.auth).json()
        assert fetched["status"] == "failed" and fetched["error"]["code"] == "invalid_request"


@pytest.mark.usefixtures("_patched_app")
def test_stream_idle_timeout_is_response_failed(mock_upstream: MockUpstream) -> None:
    upstream = "mock/text?chunks=3&pace_ms=1500"
    with _paced_gateway(mock_upstream, upstream, GATEWAY_STREAM_IDLE_TIMEOUT="0.3") as server:
        answer = httpx.post(
            server.base_url + "/v1/responses",
            headers=server.auth,
            json={"model": "paced", "input": "x", "stream": True},
            timeout=30,
        )
        frames = read_sse(answer)
        assert [event for event, _ in frames[-3:]] == ["response.failed", "compose.error", None]
        failed = frames[-3][1]["response"]
        assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_timeout"
        assert frames[-2][1]["code"] == "upstream_timeout"
        record = _stored(server, answer.headers["x-response-id"])
        assert record.status == "failed"
        assert json.loads(record.output_json or "")[0]["status"] == "incomplete"

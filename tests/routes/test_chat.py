"""``POST /v1/chat/completions`` end to end over loopback: the official ``openai`` SDK, the
request rules of spec/chat.md, and streaming that is never buffered."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import openai
import pytest

from gateway_core.default_plugins.sandbox import wire
from gateway_core.hookspecs import hookimpl
from gateway_core.testing.contract import read_sse
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.providers import KeylessSettings, SandboxWireProvider
from gateway_core.testing.server import GatewayServer, run_gateway
from gateway_core.types import (
    OperationSupport,
    Output,
    ProviderCall,
    ProviderContext,
    ProviderSpec,
    StreamDecoder,
    UpstreamResponse,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    with run_gateway({}) as server:
        yield server


@pytest.fixture
def sdk(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.api_key, max_retries=0)


@pytest.fixture
def client(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=gateway.auth, timeout=30) as http:
        yield http


# -- the official SDK ------------------------------------------------------------------------


def test_sdk_chat(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="sandbox-echo", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.id.startswith("resp_")
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_sdk_chat_stream(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="sandbox-echo", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4, "one word per chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage, receipt = chunks[-2], chunks[-1]
    assert usage.usage is not None and usage.usage.completion_tokens > 0
    # The paid stream's receipt frame reaches SDK users as a choice-less chunk they skip.
    assert receipt.object == "compose.receipt" and receipt.choices == []


def test_sdk_tool_call(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="sandbox-echo",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {}  # type: ignore[union-attr]
    assert call.id.startswith("call_") and len(call.id) == 29


def test_sdk_tool_call_stream_then_tool_result(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="sandbox-echo",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    deltas = [tc for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {}
    follow_up = sdk.chat.completions.create(
        model="sandbox-echo",
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": deltas[0].id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": deltas[0].id, "content": "sunny"},
            {"role": "user", "content": "thanks"},
        ],
    )
    assert follow_up.choices[0].message.content == "echo: thanks"


def test_sdk_error_is_an_api_error(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "model_not_found"


# -- request rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        pytest.param(
            {"model": "sandbox-echo", "messages": [{"content": "x"}], "stream": "yes"},
            400,
            "invalid_stream",
            None,
            id="stream-not-bool",
        ),
        pytest.param({"messages": [{"content": "x"}]}, 400, "missing_model", None, id="no-model"),
        pytest.param({"model": "sandbox-echo"}, 400, "missing_messages", None, id="no-messages"),
        pytest.param(
            {"model": "sandbox-echo", "messages": [], "max_tokens": 1},
            400,
            "missing_messages",
            None,
            id="empty-messages",
        ),
        pytest.param(
            {"model": "sandbox-echo", "messages": [{"content": "x"}], "max_tokens": 0},
            400,
            "invalid_request",
            "max_tokens",
            id="max-tokens-zero",
        ),
        pytest.param(
            {"model": "sandbox-echo", "messages": [{"content": "x"}], "tools": {}},
            400,
            "invalid_request",
            "tools",
            id="tools-not-array",
        ),
        pytest.param(
            {"model": "nope", "messages": [{"content": "x"}]}, 404, "model_not_found", "model", id="unknown-model"
        ),
        pytest.param(
            {"model": "sandbox-embed", "messages": [{"content": "x"}]},
            400,
            "invalid_operation",
            None,
            id="not-a-chat-model",
        ),
    ],
)
def test_validation_errors(
    client: httpx.Client, body: dict[str, Any], status: int, code: str, param: str | None
) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        pytest.param(b"{not json", "application/json", 400, "invalid_request_body", id="malformed"),
        pytest.param(b"[1,2]", "application/json", 400, "invalid_request_body", id="not-an-object"),
        pytest.param(b"", "application/json", 400, "missing_model", id="empty-is-object"),
        pytest.param(b"{}", "application/xml", 415, "unsupported_media_type", id="xml"),
        pytest.param(b"{}", "application/json; charset=latin-1", 415, "unsupported_media_type", id="charset"),
        pytest.param(b'{"model":"x"}', "text/plain", 400, "missing_messages", id="text-plain-is-json"),
    ],
)
def test_body_rules(client: httpx.Client, content: bytes, content_type: str, status: int, code: str) -> None:
    response = client.post("/v1/chat/completions", content=content, headers={"content-type": content_type})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_body_limit_413() -> None:
    with run_gateway({"GATEWAY_BODY_LIMIT": "1kb"}) as server:
        big = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "x" * 2000}]}
        response = httpx.post(server.base_url + "/v1/chat/completions", headers=server.auth, json=big)
        assert response.status_code == 413
        assert response.json()["error"] == {
            "message": "Request body exceeds the 1024 byte limit",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_entity_too_large",
        }


def test_legacy_alias_and_headers(client: httpx.Client) -> None:
    response = client.post(
        "/api/inference",
        json={"model": "sandbox-echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-request-id": "my-trace.1"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "echo: hi"
    headers = response.headers
    assert headers["x-request-id"] == "my-trace.1"
    assert headers["x-compose-response-id"] == headers["x-response-id"] == body["id"]
    assert headers["x-routing-primary-model"] == headers["x-routing-final-model"] == "sandbox-echo"
    assert (headers["x-routing-attempts"], headers["x-routing-fallback-used"]) == ("1", "false")


def test_invalid_request_id_is_replaced(client: httpx.Client) -> None:
    response = client.get("/health", headers={"x-request-id": "bad id with spaces"})
    assert response.headers["x-request-id"].startswith("req_") and len(response.headers["x-request-id"]) == 36


def test_cors_preflight_and_unknown_routes(client: httpx.Client) -> None:
    preflight = client.options(
        "/v1/chat/completions",
        headers={"origin": "http://localhost:5173", "access-control-request-headers": "x-stainless-os"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["access-control-allow-headers"].endswith("x-stainless-os")
    other = client.get("/nope", headers={"origin": "https://example.com"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert other.headers["access-control-allow-origin"] == "*"
    wrong_method = client.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    head = client.head("/health")
    assert head.status_code == 200 and head.content == b""


def test_unsupported_parameter_is_rejected() -> None:
    class NoTools:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            return [
                ProviderSpec(name="notools", settings_model=KeylessSettings, operations={"chat": OperationSupport()})
            ]

    with _catalog_gateway(
        {"modelId": "plain", "provider": "notools"}, extra_plugins=[("notools", NoTools())]
    ) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "plain", "messages": [{"content": "x"}], "tools": [WEATHER_TOOL]},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tools"
    assert "notools" in response.json()["error"]["message"]


def test_unsupported_passthrough_parameter_is_rejected() -> None:
    class FewParams:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            support = OperationSupport(passthrough=frozenset({"seed"}))
            return [ProviderSpec(name="fewparams", settings_model=KeylessSettings, operations={"chat": support})]

    with _catalog_gateway({"modelId": "few", "provider": "fewparams"}, [("fewparams", FewParams())]) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "few", "messages": [{"content": "x"}], "seed": 1, "top_p": 0.5},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "top_p"
    assert response.json()["error"]["message"] == "Parameter 'top_p' is not supported by provider 'fewparams'"


def test_model_without_pricing_is_503(tmp_path: Any) -> None:
    with _catalog_gateway({"modelId": "free", "provider": "sandbox", "pricing": None}) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "free", "messages": [{"content": "x"}]},
        )
    assert (response.status_code, response.json()["error"]["code"]) == (503, "model_not_priced")


# -- streaming is never buffered ---------------------------------------------------------------


def test_unquotable_model_still_answers_the_key_errors_first() -> None:
    # The key is read by the hold, which needs a price; when no price can be computed (an
    # entry pricing can't use) the key is validated first, so its 401 still comes first.
    unusable = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"bogus": 1}}]}
    body = {"model": "odd", "messages": [{"content": "x"}]}
    with _catalog_gateway({"modelId": "odd", "provider": "sandbox", "pricing": unusable}) as server:
        token = server.compose_key(budget=1_000_000)
        headers = {"authorization": f"Bearer {token}"}
        unpriced = httpx.post(server.base_url + "/v1/chat/completions", headers=headers, json=body)
        payments, store = server.runtime.payments, server.runtime.store
        assert payments is not None and store is not None
        key_id = payments.compose_keys.claims(token.removeprefix("compose-"))["keyId"]
        server.call(store.revoke_key(key_id, int(time.time() * 1000)))
        revoked = httpx.post(server.base_url + "/v1/chat/completions", headers=headers, json=body)
        key = server.call(store.get_key(key_id))
    assert (unpriced.status_code, unpriced.json()["error"]["code"]) == (503, "model_not_priced")
    assert (revoked.status_code, revoked.json()["error"]["message"]) == (401, "Key has been revoked")
    assert key is not None and (key.budget_used, key.budget_reserved) == (0, 0)


def _catalog_gateway(row: dict[str, Any], extra_plugins: Any = (), config: Mapping[str, str] | None = None) -> Any:
    import tempfile

    import yaml

    pricing = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}
    full = {"type": "chat", "pricing": pricing, **row}
    if full["pricing"] is None:
        del full["pricing"]
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    with handle:
        yaml.safe_dump([full], handle)
    return run_gateway({"GATEWAY_CATALOG": handle.name, **(config or {})}, extra_plugins=extra_plugins)


def test_stream_is_not_buffered(mock_upstream: MockUpstream) -> None:
    row = {"modelId": "paced", "provider": "paced", "upstreamModelId": "mock/text?chunks=5&pace_ms=100"}
    config = {"GATEWAY_PROVIDER_PACED_BASE_URL": mock_upstream.base_url}
    with _catalog_gateway(row, [("paced", SandboxWireProvider("paced"))], config) as server:
        arrivals: list[float] = []
        with httpx.stream(
            "POST",
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "paced", "stream": True, "messages": [{"content": "x"}]},
            timeout=30,
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: ") and '"content"' in line:
                    arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(0.07 < gap < 0.2 for gap in gaps), gaps


def test_stream_failure_before_first_byte_is_json(mock_upstream: MockUpstream) -> None:
    row = {"modelId": "broken", "provider": "paced", "upstreamModelId": "mock/error?status=400&message=bad%20thing"}
    config = {"GATEWAY_PROVIDER_PACED_BASE_URL": mock_upstream.base_url}
    with _catalog_gateway(row, [("paced", SandboxWireProvider("paced"))], config) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "broken", "stream": True, "messages": [{"content": "x"}]},
        )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == {
        "message": "bad thing",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request",
    }


def _paced_gateway(mock_upstream: MockUpstream, upstream_model: str, **config: str) -> Any:
    row = {"modelId": "paced", "provider": "paced", "upstreamModelId": upstream_model}
    full = {"GATEWAY_PROVIDER_PACED_BASE_URL": mock_upstream.base_url, **config}
    return _catalog_gateway(row, [("paced", SandboxWireProvider("paced"))], full)


def test_keepalive_comment_while_upstream_is_quiet(mock_upstream: MockUpstream) -> None:
    with _paced_gateway(mock_upstream, "mock/text?chunks=2&pace_ms=400", GATEWAY_SSE_KEEPALIVE="0.1") as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "paced", "stream": True, "messages": [{"content": "x"}]},
            timeout=30,
        )
    assert ": keep-alive\n\n" in response.text
    assert response.text.endswith("data: [DONE]\n\n")


def test_stream_idle_timeout_becomes_error_frame(mock_upstream: MockUpstream) -> None:
    with _paced_gateway(mock_upstream, "mock/text?chunks=3&pace_ms=1500", GATEWAY_STREAM_IDLE_TIMEOUT="0.3") as server:
        started = time.monotonic()
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "paced", "stream": True, "messages": [{"content": "x"}]},
            timeout=30,
        )
    assert time.monotonic() - started < 1.4
    frames = read_sse(response)
    assert frames[-1] == (None, "[DONE]")
    assert frames[-2][0] == "compose.error" and frames[-2][1]["code"] == "upstream_timeout"


def test_non_stream_deadline_is_504(mock_upstream: MockUpstream) -> None:
    with _paced_gateway(mock_upstream, "mock/text?first_ms=2000", GATEWAY_UPSTREAM_TIMEOUT="0.3") as server:
        started = time.monotonic()
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "paced", "messages": [{"content": "x"}]},
        )
    assert time.monotonic() - started < 1.5
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert response.json()["error"]["message"] == "upstream_timeout: provider did not return within 300ms"


def test_slow_first_event_is_bounded_by_the_upstream_timeout_not_the_idle_timeout(mock_upstream: MockUpstream) -> None:
    config = {"GATEWAY_STREAM_IDLE_TIMEOUT": "0.3", "GATEWAY_UPSTREAM_TIMEOUT": "5"}
    with _paced_gateway(mock_upstream, "mock/text?first_ms=700&chunks=2", **config) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "paced", "stream": True, "messages": [{"content": "x"}]},
            timeout=30,
        )
    assert response.status_code == 200
    assert read_sse(response)[-1] == (None, "[DONE]")
    assert "compose.error" not in response.text


class ConfusedProvider(SandboxWireProvider):
    """Its translation chokes on every upstream answer (a plugin bug or an upstream change)."""

    def __init__(self) -> None:
        super().__init__("confused")

    @hookimpl
    def gateway_parse_response(
        self, call: ProviderCall, provider: ProviderContext, response: UpstreamResponse
    ) -> Output:
        raise KeyError("choices")

    @hookimpl
    def gateway_stream_decoder(
        self, call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder:
        class Choking(wire.SandboxDecoder):
            def feed(self, frame: Any) -> Any:
                raise ValueError("unexpected frame")

        return Choking()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_untranslatable_upstream_answer_is_502(mock_upstream: MockUpstream, stream: bool) -> None:
    row = {"modelId": "confused", "provider": "confused", "upstreamModelId": "mock/text"}
    config = {"GATEWAY_PROVIDER_CONFUSED_BASE_URL": mock_upstream.base_url}
    with _catalog_gateway(row, [("confused", ConfusedProvider())], config) as server:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            headers=server.auth,
            json={"model": "confused", "stream": stream, "messages": [{"content": "x"}]},
        )
    assert response.status_code == 502
    assert response.json()["error"] == {
        "message": "Provider answer could not be translated",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_error",
    }

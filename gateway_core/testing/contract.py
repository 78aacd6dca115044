"""The provider contract suite: the behaviour every provider plugin must show, end to end.

A plugin's tests subclass :class:`ProviderContractSuite`, name the provider and point it at the
mock upstream (which must speak the provider's wire format); every test then runs a real
gateway on loopback against the real mock upstream process::

    from gateway_core.testing.contract import ProviderContractSuite

    class TestAcmeContract(ProviderContractSuite):
        provider_name = "acme"

        def provider_config(self, upstream):
            return {"GATEWAY_PROVIDER_ACME_BASE_URL": upstream.base_url, "GATEWAY_PROVIDER_ACME_API_KEY": "test"}

The suite writes its own catalog: one row per scenario, whose ``upstreamModelId`` selects the
mock upstream's scenario (grammar: :mod:`gateway_core.testing.mock_upstream.scenarios`). The
Responses API tests (:mod:`gateway_core.testing.contract_responses`) are part of the suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from gateway_core.testing.contract_responses import ResponsesContractTests
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer, run_gateway

__all__ = ["CONTRACT_SCENARIOS", "ProviderContractSuite", "read_sse"]

#: public model id -> mock upstream model (scenario). Rows are generated from this table.
CONTRACT_SCENARIOS: Mapping[str, str] = {
    "contract-text": "mock/text",
    "contract-text-nousage": "mock/text?usage=0",
    "contract-length": "mock/text?finish=length",
    "contract-content-filter": "mock/text?finish=content_filter",
    "contract-tool": "mock/tool",
    "contract-tools-parallel": "mock/tools_parallel",
    "contract-midstream-error": "mock/midstream_error",
    "contract-flaky": "mock/text?fail_first=2&status=503",
    "contract-hang": "mock/hang?pace_ms=50",
    "contract-reset": "mock/reset",
    **{
        f"contract-error-{status}": f"mock/error?status={status}" for status in (400, 401, 403, 404, 408, 429, 500, 503)
    },
}

_PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1.0, "output": 2.0}}]}
_MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]

# (upstream failure, gateway status, gateway code, attempts the gateway makes)
ERROR_TABLE = [
    pytest.param("contract-error-400", 400, "invalid_request", 1, id="400"),
    pytest.param("contract-error-401", 502, "upstream_error", 1, id="401"),
    pytest.param("contract-error-403", 502, "upstream_error", 1, id="403"),
    pytest.param("contract-error-404", 404, "model_not_found", 1, id="404"),
    pytest.param("contract-error-408", 504, "upstream_timeout", 3, id="408"),
    pytest.param("contract-error-429", 429, "rate_limit_exceeded", 3, id="429"),
    pytest.param("contract-error-500", 502, "upstream_error", 3, id="500"),
    pytest.param("contract-error-503", 502, "upstream_error", 3, id="503"),
    pytest.param("contract-reset", 502, "upstream_error", 3, id="connection-reset"),
]


def read_sse(response: httpx.Response) -> list[tuple[str | None, Any]]:
    """Parse a gateway SSE body into ``(event, data)`` pairs (``data`` JSON-decoded unless
    it is ``[DONE]``)."""
    frames: list[tuple[str | None, Any]] = []
    for block in response.text.split("\n\n"):
        event, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            frames.append((event, data if data == "[DONE]" else json.loads(data)))
    return frames


class ProviderContractSuite(ResponsesContractTests):
    """Subclass, set :attr:`provider_name`, implement :meth:`provider_config`.

    Chat behaviour is tested here, ``/v1/responses`` by :class:`ResponsesContractTests`.
    """

    #: The provider instance under test (what catalog rows name in ``provider``).
    provider_name: ClassVar[str]
    #: Extra fields for every generated catalog row (for example ``maxOutputTokens``).
    row_fields: ClassVar[Mapping[str, Any]] = {}

    def provider_config(self, upstream: MockUpstream) -> dict[str, str]:
        """``GATEWAY_*`` settings that point the provider at ``upstream.base_url``."""
        raise NotImplementedError

    def extra_plugins(self) -> list[tuple[str, object]]:
        """Plugins to register directly (when the plugin under test is not installed)."""
        return []

    # -- fixtures -----------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def contract_gateway(
        cls, mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[GatewayServer]:
        self = cls()
        rows = [
            {
                "modelId": model,
                "provider": self.provider_name,
                "upstreamModelId": upstream,
                "type": "chat",
                "input": ["text"],
                "output": ["text"],
                "pricing": _PRICING,
                **self.row_fields,
            }
            for model, upstream in CONTRACT_SCENARIOS.items()
        ]
        catalog = tmp_path_factory.mktemp("contract") / "catalog.yaml"
        catalog.write_text(yaml.safe_dump({"models": rows}), encoding="utf-8")
        # A short heartbeat so background runs show progress and notice cancels quickly.
        config = {
            "GATEWAY_CATALOG": str(catalog),
            "GATEWAY_BACKGROUND_HEARTBEAT": "0.05",
            **self.provider_config(mock_upstream),
        }
        with run_gateway(config, extra_plugins=self.extra_plugins()) as server:
            yield server

    @pytest.fixture
    def client(self, contract_gateway: GatewayServer) -> Iterator[httpx.Client]:
        # Calls are paid like any client's: with the test server's funded Compose Key.
        with httpx.Client(base_url=contract_gateway.base_url, headers=contract_gateway.auth, timeout=30) as client:
            yield client

    @staticmethod
    def chat(client: httpx.Client, model: str, **fields: Any) -> httpx.Response:
        return client.post("/v1/chat/completions", json={"model": model, "messages": _MESSAGES, **fields})

    # -- non-stream ---------------------------------------------------------------------------

    def test_text_non_stream(self, client: httpx.Client) -> None:
        response = self.chat(client, "contract-text")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "chat.completion"
        assert body["id"].startswith("resp_")
        assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello from the mock upstream."}
        assert body["choices"][0]["finish_reason"] == "stop"
        usage = body["usage"]
        assert usage["usage_source"] == "provider"
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        assert response.headers["x-routing-attempts"] == "1"

    def test_tool_call_non_stream(self, client: httpx.Client) -> None:
        body = self.chat(client, "contract-tool", tools=_TOOLS).json()
        choice = body["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        (call,) = choice["message"]["tool_calls"]
        assert call["type"] == "function" and call["id"]
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}

    def test_parallel_tool_calls_non_stream(self, client: httpx.Client) -> None:
        body = self.chat(client, "contract-tools-parallel", tools=_TOOLS).json()
        calls = body["choices"][0]["message"]["tool_calls"]
        assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
        assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"tz": "Europe/Paris"}]
        assert len({c["id"] for c in calls}) == 2

    @pytest.mark.parametrize(
        ("model", "expected"),
        [
            pytest.param("contract-text", "stop", id="stop"),
            pytest.param("contract-length", "length", id="length"),
            pytest.param("contract-content-filter", "content_filter", id="content_filter"),
            pytest.param("contract-tool", "tool_calls", id="tool_calls"),
        ],
    )
    @pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
    def test_finish_reasons(self, client: httpx.Client, model: str, expected: str, stream: bool) -> None:
        response = self.chat(client, model, stream=stream, tools=_TOOLS)
        assert response.status_code == 200, response.text
        if stream:
            chunks = [data for _, data in read_sse(response) if data != "[DONE]" and data.get("choices")]
            assert chunks[-1]["choices"][0]["finish_reason"] == expected
        else:
            assert response.json()["choices"][0]["finish_reason"] == expected

    # -- stream -------------------------------------------------------------------------------

    def test_text_stream(self, client: httpx.Client) -> None:
        response = self.chat(client, "contract-text", stream=True)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = read_sse(response)
        assert frames[-1] == (None, "[DONE]")
        event, receipt = frames[-2]
        assert event == "compose.receipt", "a paid stream ends with its receipt, then [DONE]"
        assert receipt["type"] == "compose.receipt" and int(receipt["finalAmountWei"]) > 0
        chunks = [data for event, data in frames[:-1] if event is None]
        assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
        content_chunks = [c for c in chunks if c["choices"]]
        assert content_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("role" not in c["choices"][0]["delta"] for c in content_chunks[1:])
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in content_chunks)
        assert text == "Hello from the mock upstream."
        assert len(content_chunks) > 2, "the text must arrive in several chunks"
        final, usage = content_chunks[-1], chunks[-1]
        assert final["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
        assert usage["choices"] == [] and usage["usage"]["usage_source"] == "provider"

    def test_usage_estimated_when_provider_sends_none(self, client: httpx.Client) -> None:
        frames = read_sse(self.chat(client, "contract-text-nousage", stream=True))
        usage = next(data for event, data in frames if event is None and data != "[DONE]" and "usage" in data)["usage"]
        assert usage["usage_source"] == "estimated"
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0

    def test_parallel_tool_calls_stream_interleaved(self, client: httpx.Client) -> None:
        frames = read_sse(self.chat(client, "contract-tools-parallel", stream=True, tools=_TOOLS))
        deltas = [
            tc
            for _, data in frames
            if data != "[DONE]" and data["choices"]
            for tc in data["choices"][0]["delta"].get("tool_calls", ())
        ]
        order = [d["index"] for d in deltas if d["function"].get("arguments")]
        assert order.count(0) > 1 and order.count(1) > 1
        assert order != sorted(order), "argument deltas of the two calls must interleave"
        calls: dict[int, dict[str, Any]] = {}
        for delta in deltas:
            call = calls.setdefault(delta["index"], {"ids": set(), "name": "", "arguments": ""})
            if "id" in delta:
                call["ids"].add(delta["id"])
            call["name"] += delta["function"].get("name", "")
            call["arguments"] += delta["function"].get("arguments", "")
        assert sorted(calls) == [0, 1]
        assert all(len(c["ids"]) == 1 for c in calls.values()), "one stable id per call"
        assert calls[0]["ids"] != calls[1]["ids"]
        assert (calls[0]["name"], json.loads(calls[0]["arguments"])) == ("get_weather", {"city": "Paris"})
        assert (calls[1]["name"], json.loads(calls[1]["arguments"])) == ("get_time", {"tz": "Europe/Paris"})
        assert [data for _, data in frames if data != "[DONE]" and data["choices"]][-1]["choices"][0][
            "finish_reason"
        ] == "tool_calls"

    def test_midstream_error_becomes_error_frame(self, client: httpx.Client) -> None:
        frames = read_sse(self.chat(client, "contract-midstream-error", stream=True))
        assert frames[-1] == (None, "[DONE]")
        event, data = frames[-2]
        assert event == "compose.error"
        assert data["error"]["code"] == data["code"] and data["message"]
        assert not any(isinstance(d, dict) and "usage" in d for _, d in frames), "no usage after a failure"

    # -- errors and retries -------------------------------------------------------------------

    @pytest.mark.parametrize(("model", "status", "code", "attempts"), ERROR_TABLE)
    @pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
    def test_error_mapping(
        self,
        client: httpx.Client,
        mock_upstream: MockUpstream,
        model: str,
        status: int,
        code: str,
        attempts: int,
        stream: bool,
    ) -> None:
        mock_upstream.reset()
        response = self.chat(client, model, stream=stream)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
        if status in (401, 403):
            assert error["message"] == "Provider authentication failed"
        seen = [r for r in mock_upstream.requests() if r["model"] == CONTRACT_SCENARIOS[model]]
        assert len(seen) == attempts

    def test_retry_then_success(self, client: httpx.Client, mock_upstream: MockUpstream) -> None:
        mock_upstream.reset()
        response = self.chat(client, "contract-flaky", stream=True)
        assert response.status_code == 200
        assert response.headers["x-routing-attempts"] == "3"
        assert read_sse(response)[-1] == (None, "[DONE]")

    def test_client_disconnect_cancels_upstream(self, client: httpx.Client, mock_upstream: MockUpstream) -> None:
        mock_upstream.reset()
        with client.stream(
            "POST", "/v1/chat/completions", json={"model": "contract-hang", "messages": _MESSAGES, "stream": True}
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
        entry = mock_upstream.wait_for(
            lambda r: r["model"] == CONTRACT_SCENARIOS["contract-hang"] and r["outcome"] != "in_progress", timeout=5
        )
        assert entry["outcome"] == "client_disconnected"

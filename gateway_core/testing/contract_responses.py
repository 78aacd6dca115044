"""The Responses API part of the provider contract: ``/v1/responses`` through every provider.

:class:`ResponsesContractTests` is mixed into
:class:`~gateway_core.testing.contract.ProviderContractSuite`, so every plugin runs it: a
provider that declares the native ``responses`` operation is called on its own Responses
endpoint, any other through ``chat``; the client sees the same thing either way. The client is
the official ``openai`` SDK (``responses.create``, ``responses.stream``, ``responses.retrieve``,
``responses.input_items.list``, ``responses.cancel`` of a background run) paying with the test
gateway's Compose Key, and the upstream is the mock upstream process, whose request log shows
what the provider was sent.

A suite may set :attr:`ResponsesContractTests.responses_upstream_path` to the path its
Responses calls must reach (``/v1/responses`` for a native provider, ``/v1/messages`` for
one that translates through chat to Anthropic's wire, …).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import openai
import pytest
from openai.types.responses import Response

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer
from gateway_core.testing.waiting import eventually
from gateway_core.usage import estimate_output_tokens

__all__ = ["ResponsesContractTests"]


_QUESTION = "What is the weather in Paris?"
#: A tool result with no JSON quoting, so it can be found verbatim in any upstream body.
_RESULT = "21 degrees and sunny in Paris"
_TEXT = "Hello from the mock upstream."
_TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}},
]


class ResponsesContractTests:
    """``/v1/responses`` behaviour every provider must show (run by ``ProviderContractSuite``)."""

    #: The mock upstream path a Responses call must reach; ``None`` skips the check.
    responses_upstream_path: ClassVar[str | None] = None

    # -- fixtures and helpers -------------------------------------------------------------------

    @pytest.fixture
    def sdk(self, contract_gateway: GatewayServer) -> Iterator[openai.OpenAI]:
        client = openai.OpenAI(
            base_url=contract_gateway.base_url + "/v1", api_key=contract_gateway.api_key, max_retries=0, timeout=30
        )
        with client:
            yield client

    def upstream_request(self, mock_upstream: MockUpstream, model: str) -> dict[str, Any]:
        """The one request the mock upstream got for scenario ``model`` since its last reset,
        checked against :attr:`responses_upstream_path`."""
        entries = [entry for entry in mock_upstream.requests() if entry["model"] == model]
        assert len(entries) == 1, f"expected one upstream request for {model}, got {entries!r}"
        if self.responses_upstream_path is not None:
            assert entries[0]["path"] == self.responses_upstream_path
        return entries[0]

    # -- create, stream -------------------------------------------------------------------------

    def test_responses_create_text(self, sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
        mock_upstream.reset()
        response = sdk.responses.create(model="contract-text", input=_QUESTION, instructions="Answer briefly.")
        assert response.id.startswith("resp_")
        assert (response.object, response.status, response.model) == ("response", "completed", "contract-text")
        assert response.output_text == _TEXT
        assert response.incomplete_details is None
        usage = response.usage
        assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
        assert (usage.model_extra or {}).get("usage_source") == "provider"
        assert "receipt" in (response.model_extra or {}), "a paid call carries its receipt"
        sent = json.dumps(self.upstream_request(mock_upstream, "mock/text")["body"])
        assert _QUESTION in sent and "Answer briefly." in sent

    def test_responses_stream_text(self, sdk: openai.OpenAI) -> None:
        with sdk.responses.stream(model="contract-text", input=_QUESTION) as stream:
            deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
            final = stream.get_final_response()
        assert len(deltas) > 1, "the text must arrive in several deltas"
        assert "".join(deltas) == _TEXT
        assert final.status == "completed" and final.output_text == _TEXT
        assert final.usage is not None and final.usage.total_tokens > 0

    @pytest.mark.parametrize(
        ("model", "reason"),
        [
            pytest.param("contract-text", None, id="stop"),
            pytest.param("contract-length", "max_output_tokens", id="length"),
            pytest.param("contract-content-filter", "content_filter", id="content_filter"),
        ],
    )
    @pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
    def test_responses_incomplete_details(
        self, sdk: openai.OpenAI, model: str, reason: str | None, stream: bool
    ) -> None:
        response: Response
        if stream:
            with sdk.responses.stream(model=model, input=_QUESTION) as events:
                response = events.get_final_response()
        else:
            response = sdk.responses.create(model=model, input=_QUESTION)
        # A truncated answer is still ``completed`` (spec/responses.md §2, gateway choice).
        assert response.status == "completed"
        details = response.incomplete_details
        assert (details.reason if details is not None else None) == reason

    # -- records --------------------------------------------------------------------------------

    def test_responses_retrieve_and_input_items(self, sdk: openai.OpenAI) -> None:
        created = sdk.responses.create(model="contract-text", input=_QUESTION, instructions="Answer briefly.")
        fetched = sdk.responses.retrieve(created.id)
        assert (fetched.id, fetched.status, fetched.output_text) == (created.id, "completed", _TEXT)
        assert fetched.instructions == "Answer briefly."
        assert fetched.usage is not None and created.usage is not None
        assert fetched.usage.total_tokens == created.usage.total_tokens
        page = sdk.responses.input_items.list(created.id)
        # This request's input only: no instructions, no output.
        assert [(getattr(item, "role", None), getattr(item, "content", None)) for item in page.data] == [
            ("user", _QUESTION)
        ]

    # -- tools ----------------------------------------------------------------------------------

    def test_responses_tool_round_trip(self, sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
        mock_upstream.reset()
        first = sdk.responses.create(model="contract-tool", input=_QUESTION, tools=_TOOLS)
        (call,) = [item for item in first.output if item.type == "function_call"]
        assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
        assert call.call_id and call.id and call.id.startswith("fc_")
        self.upstream_request(mock_upstream, "mock/tool")

        second = sdk.responses.create(
            model="contract-text",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": _RESULT}],
            tools=_TOOLS,
        )
        assert second.previous_response_id == first.id
        assert second.status == "completed" and second.output_text == _TEXT
        # The gateway rebuilt the conversation: the provider got the question, the model's
        # call (with the id the client answered) and the result.
        sent = json.dumps(self.upstream_request(mock_upstream, "mock/text")["body"])
        for needle in (_QUESTION, call.call_id, "get_weather", "Paris", _RESULT):
            assert needle in sent, f"{needle!r} missing from the upstream request: {sent}"
        assert sent.index(_QUESTION) < sent.index(call.call_id) < sent.index(_RESULT)

    def test_responses_parallel_tool_calls_stream(self, sdk: openai.OpenAI) -> None:
        with sdk.responses.stream(model="contract-tools-parallel", input=_QUESTION, tools=_TOOLS) as stream:
            for _ in stream:
                pass
            final = stream.get_final_response()
        calls = [item for item in final.output if item.type == "function_call"]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"tz": "Europe/Paris"}),
        ]
        assert len({c.call_id for c in calls}) == 2

    # -- failures -------------------------------------------------------------------------------

    def test_responses_midstream_error_is_response_failed(self, sdk: openai.OpenAI) -> None:
        seen: list[str] = []
        # The SDK raises on the gateway's ``compose.error`` frame, after ``response.failed``.
        with (
            pytest.raises(openai.APIError),
            sdk.responses.stream(model="contract-midstream-error", input=_QUESTION) as stream,
        ):
            seen.extend(event.type for event in stream)
        assert "response.output_text.delta" in seen, "the text before the failure is sent"
        assert seen[-1] == "response.failed"

    @pytest.mark.parametrize(
        ("model", "error", "status"),
        [
            pytest.param("contract-error-400", openai.BadRequestError, 400, id="400"),
            pytest.param("contract-error-429", openai.RateLimitError, 429, id="429"),
            pytest.param("contract-error-503", openai.InternalServerError, 502, id="503"),
        ],
    )
    def test_responses_upstream_errors(
        self, sdk: openai.OpenAI, model: str, error: type[openai.APIStatusError], status: int
    ) -> None:
        with pytest.raises(error) as caught:
            sdk.responses.create(model=model, input=_QUESTION)
        assert caught.value.status_code == status

    def test_responses_retry_then_success(self, sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
        mock_upstream.reset()
        with sdk.responses.stream(model="contract-flaky", input=_QUESTION) as stream:
            final = stream.get_final_response()
        assert final.output_text == _TEXT
        assert len([r for r in mock_upstream.requests() if r["model"] == "mock/text?fail_first=2&status=503"]) == 3

    # -- background runs ------------------------------------------------------------------------

    def test_responses_background_completes(self, sdk: openai.OpenAI) -> None:
        queued = sdk.responses.create(model="contract-text", input=_QUESTION, background=True)
        assert (queued.status, queued.background) == ("queued", True)
        done = eventually(lambda: _settled(sdk.responses.retrieve(queued.id)))
        assert done.status == "completed" and done.output_text == _TEXT
        assert done.usage is not None and "receipt" in (done.model_extra or {})

    def test_responses_cancel_background_mid_generation(self, sdk: openai.OpenAI, mock_upstream: MockUpstream) -> None:
        """Cancelled while the provider streams: ``cancelled`` at once, the upstream connection
        closed, and the bill covers what the record shows was delivered."""
        mock_upstream.reset()
        queued = sdk.responses.create(model="contract-hang", input=_QUESTION, background=True)
        eventually(lambda: True if sdk.responses.retrieve(queued.id).output_text else None)
        assert sdk.responses.cancel(queued.id).status == "cancelled"
        upstream = mock_upstream.wait_for(
            lambda r: r["model"] == "mock/hang?pace_ms=50" and r["outcome"] != "in_progress"
        )
        assert upstream["outcome"] == "client_disconnected"
        if self.responses_upstream_path is not None:
            assert upstream["path"] == self.responses_upstream_path
        final = eventually(lambda: (lambda r: r if r.usage is not None else None)(sdk.responses.retrieve(queued.id)))
        assert final.status == "cancelled" and final.output_text
        assert final.usage is not None
        assert 0 < final.usage.output_tokens <= estimate_output_tokens(final.output_text, None, ())
        assert int((final.model_extra or {})["receipt"]["final_amount_wei"]) > 0


def _settled(response: Response) -> Response | None:
    return None if response.status in ("queued", "in_progress") else response

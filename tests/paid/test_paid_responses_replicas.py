"""Responses across two gateway processes sharing one PostgreSQL store (issue: Responses API).

A conversation continued by ``previous_response_id`` alone, on a replica that served none of
its earlier turns, and a background run stopped by a cancel that another replica received.
One replica runs in this process, the other is a separate ``gateway serve`` process. Skipped,
with the reason, when PostgreSQL is not reachable (``paid_support.postgres_database``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest
from openai.types.responses import Response
from paid_support import postgres_database, write_catalog

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.process import serve_process
from gateway_core.testing.server import GatewayServer, run_gateway
from gateway_core.testing.waiting import eventually

_ROWS = {"conv-echo": "mock/echo", "conv-tool": "mock/tool", "conv-hang": "mock/hang?pace_ms=20"}
_TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.fixture(scope="module")
def replicas(mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(in-process base URL, other process base URL, a Compose Key valid on both)."""
    catalog = write_catalog(tmp_path_factory.mktemp("responses-pg") / "catalog.yaml", _ROWS)
    with postgres_database() as store_url, ExitStack() as stack:
        config = {
            "GATEWAY_STORE_URL": store_url,
            "GATEWAY_KEY_SECRET": secrets.token_hex(32),
            "GATEWAY_CATALOG": str(catalog),
            "GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url,
            "GATEWAY_BACKGROUND_HEARTBEAT": "0.1",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | config
        first: GatewayServer = stack.enter_context(run_gateway(config))
        other = stack.enter_context(serve_process(env, cwd=tmp_path_factory.mktemp("responses-replica")))
        yield first.base_url, other.base_url, first.compose_key()


def _sdk(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_three_turns_by_previous_response_id_on_another_process(
    replicas: tuple[str, str, str], mock_upstream: MockUpstream
) -> None:
    first_url, other_url, key = replicas
    here, there = _sdk(first_url, key), _sdk(other_url, key)
    mock_upstream.reset()
    one = here.responses.create(model="conv-echo", input="I am in Paris.", instructions="Be brief.")
    assert one.output_text == "echo: I am in Paris."
    two = here.responses.create(
        model="conv-tool", input="What is the weather here?", tools=_TOOLS, previous_response_id=one.id
    )
    call = next(item for item in two.output if item.type == "function_call")
    assert (call.name, call.arguments) == ("get_weather", '{"city":"Paris"}')
    # At once, on the other process, with nothing but the id and the tool's result.
    three = there.responses.create(
        model="conv-echo",
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp":21}'}],
        previous_response_id=two.id,
    )
    assert three.status == "completed" and three.previous_response_id == two.id
    upstream = mock_upstream.requests()[-1]["body"]["messages"]
    # The earlier turns' instructions are not carried over (as OpenAI's previous_response_id).
    assert [m["role"] for m in upstream] == ["user", "assistant", "user", "assistant", "tool"]
    assert upstream[0]["content"] == "I am in Paris." and upstream[1]["content"] == "echo: I am in Paris."
    assert upstream[3]["tool_calls"][0]["id"] == call.call_id
    assert upstream[4]["tool_call_id"] == call.call_id and upstream[4]["content"] == '{"temp":21}'
    # Both replicas read the whole chain.
    assert here.responses.retrieve(three.id).output_text == there.responses.retrieve(three.id).output_text


def test_cancel_received_by_another_replica_stops_the_run(
    replicas: tuple[str, str, str], mock_upstream: MockUpstream
) -> None:
    first_url, other_url, key = replicas
    here, there = _sdk(first_url, key), _sdk(other_url, key)
    mock_upstream.reset()
    queued = there.responses.create(model="conv-hang", input="go on", background=True)
    assert queued.status == "queued"
    eventually(lambda: True if len(here.responses.retrieve(queued.id).output_text) >= 10 else None)
    assert here.responses.cancel(queued.id).status == "cancelled"
    # The running replica notices at its next heartbeat: it hangs up on the upstream …
    entry = mock_upstream.wait_for(lambda r: r["model"] == _ROWS["conv-hang"] and r["outcome"] != "in_progress")
    assert entry["outcome"] == "client_disconnected"

    # … and records, still cancelled, what it delivered and what that cost.
    def billed() -> Response | None:
        response = here.responses.retrieve(queued.id)
        return response if response.usage is not None else None

    final = eventually(billed)
    assert final.status == "cancelled" and final.output_text
    assert int((final.model_extra or {})["receipt"]["final_amount_wei"]) > 0

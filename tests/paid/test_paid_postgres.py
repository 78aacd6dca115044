"""Two gateways sharing one PostgreSQL store behave like one (spec/payments.md §2.3 invariant
"across replicas", §3.1, §6.6).

One replica runs in this process, the other is a separate ``gateway serve`` process: two
operating-system processes with their own engines and connection pools, on a fresh database
created for the module (``GATEWAY_STORE_URL`` has no schema setting) and
dropped afterwards (``paid_support.postgres_database``). Skipped, with the reason, when
PostgreSQL is not reachable (``GATEWAY_TEST_POSTGRES_URL``, default the local CI server).
PostgreSQL only: the spec lets replicas share a PostgreSQL store, not a SQLite file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
from paid_support import (
    CHAT,
    budget_race,
    chat_body,
    encode,
    funded_wallet,
    key_record,
    now,
    postgres_database,
    replay_concurrently,
    requirement,
    write_catalog,
)

from gateway_core.payments.sandbox import sign_exact, sign_upto
from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.process import serve_process
from gateway_core.testing.server import GatewayServer, run_gateway


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    """The replicas' shared store: a fresh database, dropped at the end."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def replicas(
    store_url: str, mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[GatewayServer]]:
    catalog = write_catalog(tmp_path_factory.mktemp("paid-pg") / "catalog.yaml")
    config = {
        "GATEWAY_STORE_URL": store_url,
        "GATEWAY_KEY_SECRET": secrets.token_hex(32),
        "GATEWAY_CATALOG": str(catalog),
        "GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | config
    with ExitStack() as stack:
        in_process = stack.enter_context(run_gateway(config))
        other = stack.enter_context(serve_process(env, cwd=tmp_path_factory.mktemp("replica")))
        # The helpers only need the other replica's address; store reads go through the first.
        yield [in_process, cast(GatewayServer, SimpleNamespace(base_url=other.base_url))]


def test_replicas_share_merchant_and_keys(replicas: list[GatewayServer]) -> None:
    """The generated merchant address and facilitator signer live in the store, and a key
    minted by one replica pays on the other."""
    first, second = replicas
    challenges = [httpx.post(server.base_url + CHAT, json=chat_body("paid-text"), timeout=30) for server in replicas]
    upto = [requirement(challenge, "upto") for challenge in challenges]
    assert upto[0].pay_to == upto[1].pay_to
    assert (upto[0].extra or {})["facilitatorAddress"] == (upto[1].extra or {})["facilitatorAddress"]
    token = first.compose_key(budget=1_000_000)
    response = httpx.post(
        second.base_url + CHAT, json=chat_body("paid-text"), headers={"authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert key_record(first, token).budget_used == int(response.headers["x-key-final-amount-wei"])


@pytest.mark.parametrize("scheme", [pytest.param("exact", id="exact"), pytest.param("upto", id="upto")])
def test_one_payment_replayed_across_replicas(scheme: str, replicas: list[GatewayServer]) -> None:
    body = chat_body("paid-slow")
    challenge = httpx.post(replicas[0].base_url + CHAT, json=body, timeout=30)
    wallet = funded_wallet(replicas[0])
    signer = sign_exact if scheme == "exact" else sign_upto
    header = encode(signer(requirement(challenge, scheme), wallet, now=now()))
    replay_concurrently(replicas, header, body, copies=5)


def test_fifty_calls_on_one_key_across_replicas(replicas: list[GatewayServer]) -> None:
    body = chat_body("paid-twenty", max_tokens=10)
    full, smallest = (
        int(requirement(httpx.post(replicas[0].base_url + CHAT, json=quoted, timeout=30), "exact").amount)
        for quoted in (body, {**body, "max_tokens": 1})
    )
    budget = 10 * full + smallest + 2
    token = replicas[0].compose_key(budget=budget)
    responses = budget_race(replicas, token, body, calls=50)
    # Every call overruns its hold and is charged all of it: ten full holds and one partial
    # hold use the budget up, whichever replica served them.
    charges = sorted(int(r.json()["receipt"]["final_amount_wei"]) for r in responses if r.status_code == 200)
    assert charges == [smallest + 2] + [full] * 10
    assert key_record(replicas[0], token).budget_used == budget
    # So each replica (25 calls) refused at least 14 calls on the shared key.
    for parity in (0, 1):
        assert sum(1 for r in responses[parity::2] if r.status_code == 402) >= 14

"""Shared pieces of the end-to-end payment tests (imported as a plain module: the test
directories have no ``__init__.py``).

Everything here reads the gateway's answers with the standard library (base64, json) rather
than with the gateway's own codecs, so a codec bug cannot hide itself.

Every gateway these tests start runs once per store backend (:data:`STORE_BACKENDS`): on the
temporary SQLite file ``run_gateway`` makes, and on a fresh PostgreSQL database of its own
(:func:`postgres_database`, on ``GATEWAY_TEST_POSTGRES_URL``, default the local CI server).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements

from gateway_core.payments.sandbox import Wallet
from gateway_core.store import KeyRecord
from gateway_core.testing.server import GatewayServer, run_gateway

NETWORK = "eip155:31337"
CHAIN_ID = 31337
ASSET = "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
CHAT = "/v1/chat/completions"
#: 1 USD per 1M tokens = 1 atomic USDC per token: every quote is easy to reason about.
TOKEN_PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}, "default": True}]}
#: Every mock row has the same pricing and output cap, so a request's quote M does not
#: depend on which of them it names (a payment signed for one row pays for another).
MAX_OUTPUT = 100

#: model id -> mock upstream scenario.
MOCK_ROWS = {
    "paid-text": "mock/text?chunks=5",
    "paid-slow": "mock/text?chunks=5&pace_ms=100",
    "paid-twenty": "mock/text?chunks=20&pace_ms=15",
    "paid-echo": "mock/echo",
    "paid-broken": "mock/error?status=500",
    "paid-midstream": "mock/midstream_error?chunks=5&pace_ms=20",
}


# -- store backends ---------------------------------------------------------------------------

#: The stores every paid gateway runs on (also the test ids: ``[sqlite]``, ``[postgresql]``).
STORE_BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: Why PostgreSQL was found unreachable (set once, so later fixtures skip without waiting).
_postgres_unreachable: list[str] = []


async def _admin(sql: str) -> None:
    dsn = str(make_url(POSTGRES_URL).set(drivername="postgresql"))
    connection = await asyncpg.connect(dsn, timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database ``gw_paid_<hex>`` on the test server (its SQLAlchemy URL), dropped on
    exit. Skips the caller, with the reason, when PostgreSQL is not reachable."""
    if _postgres_unreachable:
        pytest.skip(_postgres_unreachable[0])
    name = "gw_paid_" + secrets.token_hex(6)
    url = make_url(POSTGRES_URL)
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        _postgres_unreachable.append(
            f"PostgreSQL at {where} (GATEWAY_TEST_POSTGRES_URL) not reachable or refused CREATE DATABASE: "
            f"{type(exc).__name__}: {exc}"
        )
        pytest.skip(_postgres_unreachable[0])
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def paid_gateway(backend: str, config: Mapping[str, str] | None = None, **options: Any) -> Iterator[GatewayServer]:
    """``run_gateway(config, **options)`` on ``backend``: ``sqlite`` is run_gateway's own
    temporary file, ``postgresql`` a fresh database of its own (:func:`postgres_database`)."""
    if backend == "sqlite":
        with run_gateway(config, **options) as server:
            yield server
        return
    assert backend == "postgresql", backend
    with postgres_database() as url, run_gateway({**(config or {}), "GATEWAY_STORE_URL": url}, **options) as server:
        yield server


# -- catalog and requests ---------------------------------------------------------------------


def write_catalog(path: Path, rows: Mapping[str, str] = MOCK_ROWS) -> Path:
    """A catalog of sandbox-provider rows played by the mock upstream."""
    catalog = [
        {
            "modelId": model,
            "provider": "sandbox",
            "upstreamModelId": scenario,
            "type": "chat",
            "maxOutputTokens": MAX_OUTPUT,
            "pricing": TOKEN_PRICING,
        }
        for model, scenario in rows.items()
    ]
    path.write_text(yaml.safe_dump(catalog), encoding="utf-8")
    return path


def chat_body(model: str, content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


# -- reading answers --------------------------------------------------------------------------


def b64json(value: str) -> Any:
    """A base64 (standard or URL-safe, padded or not) JSON header value."""
    text = value.strip().replace("-", "+").replace("_", "/")
    return json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))


def challenge_of(response: httpx.Response) -> PaymentRequired:
    """The ``PaymentRequired`` of a 402 (from its ``PAYMENT-REQUIRED`` header)."""
    assert response.status_code == 402, response.text
    return PaymentRequired.model_validate(b64json(response.headers["payment-required"]))


def requirement(response: httpx.Response, scheme: str) -> PaymentRequirements:
    return next(item for item in challenge_of(response).accepts if item.scheme == scheme)


def x402_error(response: httpx.Response) -> str:
    """The ``error`` of a refusal challenge: ``"<code>: <message>"``."""
    assert response.status_code == 402, response.text
    body = response.json()
    assert body["x402Version"] == 2 and isinstance(body.get("error"), str), body
    assert body == b64json(response.headers["payment-required"]), "body and header differ"
    return str(body["error"])


def openai_error(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` member of an OpenAI error envelope."""
    error: dict[str, Any] = response.json()["error"]
    return error


def sse_frames(lines: Iterable[str]) -> list[tuple[str | None, Any]]:
    """``(event, data)`` pairs of an SSE body given line by line (``data`` JSON unless ``[DONE]``)."""
    frames: list[tuple[str | None, Any]] = []
    event: str | None = None
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
            frames.append((event, data if data == "[DONE]" else json.loads(data)))
            event = None
    return frames


# -- paying -----------------------------------------------------------------------------------


def encode(payload: PaymentPayload | Mapping[str, Any]) -> str:
    """Standard base64 of the compact JSON, as an x402 client sends it."""
    data = payload.model_dump(by_alias=True, exclude_none=True) if isinstance(payload, PaymentPayload) else payload
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def now() -> int:
    return int(time.time())


def funded_wallet(server: GatewayServer, amount: int = 10_000_000) -> Wallet:
    """A new wallet on the sandbox ledger with ``amount`` and unlimited approvals."""
    wallet = Wallet.create()
    server.call(server.runtime.store.ledger_fund(NETWORK, ASSET, wallet.address, amount, True, True))
    return wallet


def balance(server: GatewayServer, address: str) -> int:
    account = server.call(server.runtime.store.ledger_account(NETWORK, ASSET, address.lower()))
    return int(account.balance)


def merchant(server: GatewayServer) -> str:
    payments = server.runtime.payments
    assert payments is not None
    return str(payments.pay_to)


def key_id_of(token: str) -> str:
    """The ``keyId`` claim of a ``compose-<jwt>`` token (read, not verified)."""
    payload = token.removeprefix("compose-").split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["keyId"])


def key_record(server: GatewayServer, token: str) -> KeyRecord:
    record: KeyRecord | None = server.call(server.runtime.store.get_key(key_id_of(token)))
    assert record is not None
    return record


def payer_of(header: str) -> str:
    """The ``from`` of a v2 payment header (exact or upto)."""
    inner = b64json(header)["payload"]
    return str((inner.get("authorization") or inner["permit2Authorization"])["from"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# -- concurrency scenarios (run against one gateway or split across several) ------------------


async def _post_all(targets: list[tuple[GatewayServer, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as http:
        return list(
            await asyncio.gather(
                *(http.post(server.base_url + CHAT, json=body, headers=headers) for server, body, headers in targets)
            )
        )


def post_concurrently(
    targets: list[tuple[GatewayServer, dict[str, Any], dict[str, str]]],
) -> list[httpx.Response]:
    """Send every ``(server, body, headers)`` at once; answers in the same order."""
    return asyncio.run(_post_all(targets))


def replay_concurrently(servers: list[GatewayServer], header: str, body: dict[str, Any], copies: int = 5) -> None:
    """One signed payment sent ``copies`` times at once (round-robin over ``servers``):
    exactly one call is served and the payer is charged once (spec/payments.md §6.6)."""
    first = servers[0]
    payer = payer_of(header)
    before, merchant_before = balance(first, payer), balance(first, merchant(first))
    targets = [(servers[n % len(servers)], body, {"payment-signature": header}) for n in range(copies)]
    responses = post_concurrently(targets)
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(served) == 1, [(r.status_code, r.text[:200]) for r in responses]
    # A copy that reaches the reservation while the first runs is `in_use`, after it `already_used`
    # (§6.6); a copy verified after the first settled is already refused by the facilitator's
    # verify (§6.5 step 10 comes before the reservation): the nonce is spent on the ledger.
    spent = ("invalid_exact_evm_nonce_already_used: ", "permit2_invalid_nonce: ")
    for response in refused:
        error = x402_error(response)
        assert error.startswith(("authorization_in_use: ", "authorization_already_used: ", *spent)), error
    charged = int(served[0].json()["receipt"]["final_amount_wei"])
    assert charged > 0
    assert before - balance(first, payer) == charged
    assert balance(first, merchant(first)) - merchant_before == charged


def budget_race(
    servers: list[GatewayServer], token: str, body: dict[str, Any], calls: int = 50
) -> list[httpx.Response]:
    """``calls`` concurrent calls on one Compose Key (round-robin over ``servers``), then the
    invariants of spec/payments.md §3.1: the budget is never exceeded, no hold is left, and
    what the key records as used is what the receipts say and what the sandbox ledger moved."""
    first = servers[0]
    before = key_record(first, token)
    budget = before.budget_limit
    payer = before.user_address
    payer_before, merchant_before = balance(first, payer), balance(first, merchant(first))
    responses = post_concurrently([(servers[n % len(servers)], body, bearer(token)) for n in range(calls)])

    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert served and refused, [r.status_code for r in responses]
    for response in served:
        headers = response.headers
        assert headers["x-payment-intent-id"].startswith("hold_")
        assert headers["x-key-budget-limit"] == str(budget)
        for name in ("x-key-budget-used", "x-key-budget-reserved", "x-key-budget-remaining"):
            assert headers[name].isdigit(), name
        receipt = response.json()["receipt"]
        assert receipt["payment_intent_id"] == headers["x-payment-intent-id"]
        assert headers["x-key-final-amount-wei"] == receipt["final_amount_wei"]
        assert headers["x-settlement"] == "settled"
    for response in refused:
        assert response.status_code == 402, response.text
        assert openai_error(response)["code"] == "budget_exhausted"
        assert response.headers["x-session-invalid"] == "budget_exhausted"
        assert response.headers["x-key-budget-limit"] == str(budget)

    after = key_record(first, token)
    charged = sum(int(r.json()["receipt"]["final_amount_wei"]) for r in served)
    assert after.budget_used <= budget
    assert after.budget_reserved == 0
    assert after.budget_used == charged
    stored, totals = first.call(first.runtime.store.list_receipts(payer, NETWORK, 200, 0))
    assert len(stored) == len(served)
    assert totals.total_amount == sum(row.final_amount for row in stored) == charged
    assert payer_before - balance(first, payer) == charged
    assert balance(first, merchant(first)) - merchant_before == charged
    return responses

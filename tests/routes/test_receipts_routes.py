"""Stored receipts through the real app (spec/payments.md §8.4): the owner rule of one
receipt, and the key's listing with paging and running totals."""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway_core.app import create_app
from gateway_core.payments import NoPayment
from gateway_core.payments.keys import new_key_id
from gateway_core.payments.sandbox import Wallet
from gateway_core.routes import receipts as receipt_routes
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.store import KeyRecord, ReceiptRow

NETWORK = "eip155:31337"
KEY_REQUIRED = "ComposeKey authorization is required. Use Authorization: Bearer compose-..."


class Gateway:
    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    @property
    def payments(self) -> Any:
        assert self.runtime.payments is not None
        return self.runtime.payments

    def run(self, function: Any, *args: Any) -> Any:
        return self.client.portal.call(functools.partial(function, *args))

    def key(self, wallet: str, chain_id: int = 31337, **fields: Any) -> str:
        """A key stored directly (any chain), and its bearer header value."""
        now = int(time.time() * 1000)
        values: dict[str, Any] = {
            "key_id": new_key_id(),
            "user_address": wallet,
            "purpose": "api",
            "budget_limit": 1000,
            "budget_used": 0,
            "budget_reserved": 0,
            "created_at": now,
            "expires_at": now + 86_400_000,
            "chain_id": chain_id,
        }
        values.update(fields)
        record = KeyRecord(**values)
        self.run(self.payments.store.create_key, record)
        return f"Bearer {self.payments.compose_keys.mint(record)}"

    def receipt(
        self, payer: str, *, method: str = "compose_key", network: str = NETWORK, amount: int = 23, at: int = 0
    ) -> dict[str, Any]:
        """Store a receipt; returns its §8.1 body without ``cumulative``, as it is stored."""
        receipt_id = f"rct_{secrets.token_hex(16)}"
        body = {
            "id": receipt_id,
            "service": "inference",
            "action": "POST /v1/chat/completions",
            "resource": "http://testserver/v1/chat/completions",
            "user_address": payer,
            "payment_method": method,
            "subject": "sandbox:sandbox-echo",
            "line_items": [],
            "bills": [],
            "provider_amount_wei": str(amount - 1),
            "platform_fee_wei": "1",
            "final_amount_wei": str(amount),
            "usage_source": "provider",
            "network": network,
            "settlement_status": "settled",
            "settled_at": at or int(time.time() * 1000),
        }
        row = ReceiptRow(
            receipt_id=receipt_id,
            payer=payer,
            network=network,
            payment_method=method,
            key_id=None,
            final_amount=amount,
            provider_amount=amount - 1,
            platform_fee=1,
            body_json=orjson.dumps(body).decode(),
            created_at=body["settled_at"],
        )
        self.run(self.payments.store.insert_receipt, row)
        return body


@contextlib.contextmanager
def open_gateway(tmp_path: Path, payments: Any = None) -> Iterator[Gateway]:
    settings = GatewaySettings.from_config({"GATEWAY_STORE_URL": f"sqlite:///{tmp_path}/gw.db"})
    runtime = build_runtime(settings, payments=payments)
    app = create_app(runtime=runtime)
    if not any(getattr(route, "path", None) == "/api/receipts" for route in app.routes):
        app.include_router(receipt_routes.router)  # until app.py registers it
    with TestClient(app) as client:
        yield Gateway(client, runtime)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with open_gateway(tmp_path_factory.mktemp("receipts")) as gateway:
        yield gateway


def totals(total: int, provider: int, fee: int, count: int) -> dict[str, Any]:
    return {
        "total_amount_wei": str(total),
        "provider_amount_wei": str(provider),
        "platform_fee_wei": str(fee),
        "receipt_count": count,
    }


def assert_error(response: Any, status: int, code: str, message: str | None = None, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    if message is not None:
        assert error["message"] == message


# -- GET /api/receipts/{id} -------------------------------------------------------------------


def test_x402_receipt_is_readable_by_id_with_its_stored_totals(gw: Gateway) -> None:
    payer = Wallet.create().address
    first = gw.receipt(payer, method="x402", amount=23)
    second = gw.receipt(payer, method="x402", amount=10)
    response = gw.client.get(f"/api/receipts/{first['id']}")
    assert response.status_code == 200
    assert response.json() == {"receipt": {**first, "cumulative": totals(23, 22, 1, 1)}}
    later = gw.client.get(f"/api/receipts/{second['id']}").json()["receipt"]
    assert later["cumulative"] == totals(33, 31, 2, 2)
    assert list(later)[-1] == "cumulative"


def test_key_paid_receipt_needs_a_key_of_the_same_wallet(gw: Gateway) -> None:
    payer, stranger = Wallet.create().address, Wallet.create().address
    receipt = gw.receipt(payer)
    path = f"/api/receipts/{receipt['id']}"
    not_found = f"Receipt '{receipt['id']}' not found"
    assert_error(gw.client.get(path), 404, "receipt_not_found", not_found)
    assert_error(gw.client.get(path, headers={"authorization": gw.key(stranger)}), 404, "receipt_not_found", not_found)
    # Any valid key of the payer's wallet, on any chain.
    for header in (gw.key(payer), gw.key(payer, chain_id=43113)):
        response = gw.client.get(path, headers={"authorization": header})
        assert response.status_code == 200, response.text
        assert response.json()["receipt"]["id"] == receipt["id"]


def test_invalid_or_revoked_key_is_401(gw: Gateway) -> None:
    payer = Wallet.create().address
    receipt = gw.receipt(payer, method="x402")
    path = f"/api/receipts/{receipt['id']}"
    assert_error(gw.client.get(path, headers={"authorization": "Bearer compose-x.y.z"}), 401, "invalid_compose_key")
    revoked = gw.key(payer, revoked_at=1)
    assert_error(
        gw.client.get(path, headers={"authorization": revoked}), 401, "invalid_compose_key", "Key has been revoked"
    )


def test_unknown_receipt_is_404(gw: Gateway) -> None:
    assert_error(
        gw.client.get("/api/receipts/rct_missing"), 404, "receipt_not_found", "Receipt 'rct_missing' not found"
    )


# -- GET /api/receipts ------------------------------------------------------------------------


def test_listing_needs_a_compose_key(gw: Gateway) -> None:
    assert_error(gw.client.get("/api/receipts"), 401, "compose_key_required", KEY_REQUIRED)
    assert_error(
        gw.client.get("/api/receipts", headers={"authorization": "Bearer sk-other"}), 401, "compose_key_required"
    )
    assert_error(gw.client.get("/api/receipts", headers={"authorization": "compose-bad"}), 401, "invalid_compose_key")


def test_listing_pages_the_keys_wallet_on_the_keys_chain_newest_first(gw: Gateway) -> None:
    payer, other = Wallet.create().address, Wallet.create().address
    start = int(time.time() * 1000)
    mine = [gw.receipt(payer, amount=10 + index, at=start + index) for index in range(5)]
    gw.receipt(payer, network="eip155:43113", amount=1000)
    gw.receipt(other, amount=1000)
    gw.receipt(payer, method="x402", amount=7, at=start + 5)  # x402 receipts of the wallet count too
    header = {"authorization": gw.key(payer)}
    expected_totals = totals(sum(range(10, 15)) + 7, sum(range(9, 14)) + 6, 6, 6)

    page = gw.client.get("/api/receipts?limit=2", headers=header).json()
    assert page["object"] == "list"
    assert [item["final_amount_wei"] for item in page["data"]] == ["7", "14"]
    assert page["data"][0]["cumulative"]["receipt_count"] == 6
    assert (page["next_cursor"], page["cumulative"]) == ("2", expected_totals)

    page = gw.client.get("/api/receipts", params={"limit": "2", "cursor": page["next_cursor"]}, headers=header).json()
    assert [item["id"] for item in page["data"]] == [mine[3]["id"], mine[2]["id"]]
    assert page["next_cursor"] == "4"

    page = gw.client.get("/api/receipts?limit=2&cursor=4", headers=header).json()
    assert [item["id"] for item in page["data"]] == [mine[1]["id"], mine[0]["id"]]
    assert page["next_cursor"] is None
    assert page["data"][-1] == {**mine[0], "cumulative": totals(10, 9, 1, 1)}

    everything = gw.client.get("/api/receipts", headers=header).json()
    assert (len(everything["data"]), everything["next_cursor"]) == (6, None)
    beyond = gw.client.get("/api/receipts?cursor=100", headers=header).json()
    assert (beyond["data"], beyond["next_cursor"], beyond["cumulative"]) == ([], None, expected_totals)

    other_chain = gw.client.get("/api/receipts", headers={"authorization": gw.key(payer, chain_id=43113)}).json()
    assert [item["final_amount_wei"] for item in other_chain["data"]] == ["1000"]
    assert other_chain["cumulative"] == totals(1000, 999, 1, 1)


def test_listing_of_a_wallet_without_receipts(gw: Gateway) -> None:
    header = {"authorization": gw.key(Wallet.create().address)}
    body = gw.client.get("/api/receipts", headers=header).json()
    assert body == {"object": "list", "data": [], "next_cursor": None, "cumulative": totals(0, 0, 0, 0)}


def test_default_limit_is_50(gw: Gateway) -> None:
    payer = Wallet.create().address
    for index in range(51):
        gw.receipt(payer, amount=1 + index)
    body = gw.client.get("/api/receipts", headers={"authorization": gw.key(payer)}).json()
    assert (len(body["data"]), body["next_cursor"]) == (50, "50")
    limited = gw.client.get("/api/receipts?limit=200", headers={"authorization": gw.key(payer)}).json()
    assert (len(limited["data"]), limited["next_cursor"]) == (51, None)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        pytest.param("limit=0", "limit", id="limit-zero"),
        pytest.param("limit=201", "limit", id="limit-too-large"),
        pytest.param("limit=ten", "limit", id="limit-text"),
        pytest.param("limit=-1", "limit", id="limit-negative"),
        pytest.param("cursor=-1", "cursor", id="cursor-negative"),
        pytest.param("cursor=abc", "cursor", id="cursor-text"),
        pytest.param(f"cursor={2**70}", "cursor", id="cursor-huge"),
    ],
)
def test_listing_query_validation(gw: Gateway, query: str, param: str) -> None:
    response = gw.client.get(f"/api/receipts?{query}", headers={"authorization": gw.key(Wallet.create().address)})
    assert_error(response, 400, "invalid_request", param=param)


def test_routes_are_unknown_without_payments(tmp_path: Path) -> None:
    with open_gateway(tmp_path, payments=NoPayment()) as gateway:
        assert_error(gateway.client.get("/api/receipts"), 404, "not_found", "No route for GET /api/receipts")
        assert_error(gateway.client.get("/api/receipts/rct_x"), 404, "not_found")

"""The sandbox facilitator routes through the real app (spec/payments.md §9.3-§9.6): real
signed payments, strict bodies, the faucet policies and the account view."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from x402.schemas import PaymentPayload, PaymentRequirements

from gateway_core.app import create_app
from gateway_core.payments import NoPayment
from gateway_core.payments.sandbox import Wallet, sign_exact, sign_upto
from gateway_core.payments.x402 import exact_requirement, sandbox_chain, upto_requirement
from gateway_core.routes import facilitator as facilitator_routes
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings

ADMIN = "admin-token-for-the-faucet-tests"
BASE = "/api/x402/facilitator"
UNLIMITED = str(2**256 - 1)
ASSET = "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")
PROOF_REQUIRED = "A wallet proof is required: admin token, Compose Key of the wallet, or x-wallet-signature"


@contextlib.contextmanager
def open_gateway(tmp_path: Path, payments: Any = None, **config: str) -> Iterator[tuple[TestClient, Runtime]]:
    settings = GatewaySettings.from_config(
        {"GATEWAY_STORE_URL": f"sqlite:///{tmp_path}/gw.db", "GATEWAY_ADMIN_TOKEN": ADMIN, **config}
    )
    runtime = build_runtime(settings, payments=payments)
    app = create_app(runtime=runtime)
    if not any(getattr(route, "path", None) == f"{BASE}/supported" for route in app.routes):
        app.include_router(facilitator_routes.router)  # until app.py registers it
    with TestClient(app) as client:
        yield client, runtime


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime]]:
    with open_gateway(tmp_path_factory.mktemp("facilitator")) as opened:
        yield opened


@pytest.fixture
def client(gateway: tuple[TestClient, Runtime]) -> TestClient:
    return gateway[0]


@pytest.fixture
def signer(gateway: tuple[TestClient, Runtime]) -> str:
    payments = gateway[1].payments
    assert payments is not None and payments.sandbox is not None
    return payments.sandbox.facilitator.signer_address


@pytest.fixture
def pay_to(gateway: tuple[TestClient, Runtime]) -> str:
    payments = gateway[1].payments
    assert payments is not None
    return payments.pay_to


def _row() -> Any:
    return sandbox_chain()


def assert_error(response: Any, status: int, code: str, param: str | None = None, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    if message is not None:
        assert error["message"] == message


def funded_wallet(client: TestClient, amount: int = 5_000_000) -> Wallet:
    wallet = Wallet.create()
    response = client.post(f"{BASE}/sandbox/fund", json={"address": wallet.address, "amount": str(amount)})
    assert response.status_code == 200, response.text
    return wallet


def request_body(payload: PaymentPayload, requirement: PaymentRequirements) -> dict[str, Any]:
    return {
        "x402Version": 2,
        "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
        "paymentRequirements": requirement.model_dump(by_alias=True, exclude_none=True, mode="json"),
    }


# -- documents --------------------------------------------------------------------------------


def test_supported(client: TestClient, signer: str) -> None:
    response = client.get(f"{BASE}/supported")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "kinds": [
            {"x402Version": 2, "scheme": "exact", "network": "eip155:31337"},
            {"x402Version": 2, "scheme": "upto", "network": "eip155:31337", "extra": {"facilitatorAddress": signer}},
        ],
        "extensions": [],
        "signers": {"eip155:*": [signer]},
    }


def test_chains(client: TestClient) -> None:
    response = client.get(f"{BASE}/chains")
    assert response.status_code == 200
    assert response.json() == {
        "chains": [
            {
                "chainId": 31337,
                "name": "Gateway Sandbox",
                "network": "eip155:31337",
                "shortName": "Sandbox",
                "isTestnet": True,
                "explorer": "",
                "usdcAddress": ASSET,
                "x402UptoPermit2Proxy": "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002",
                "schemes": ["exact", "upto"],
                "asset": "USDC",
                "decimals": 6,
            }
        ],
        "defaultChainId": 31337,
    }


# -- verify / settle --------------------------------------------------------------------------


def test_exact_payment_verifies_settles_once_and_moves_funds(client: TestClient, pay_to: str) -> None:
    payer = funded_wallet(client)
    requirement = exact_requirement(_row(), pay_to=pay_to, amount=6208, max_timeout_seconds=600)
    body = request_body(sign_exact(requirement, payer, now=int(time.time())), requirement)
    merchant_before = int(client.get(f"{BASE}/sandbox/accounts/{pay_to}").json()["balance"])

    verified = client.post(f"{BASE}/verify", json=body)
    assert (verified.status_code, verified.json()) == (200, {"isValid": True, "payer": payer.address})

    settled = client.post(f"{BASE}/settle", json=body)
    assert settled.status_code == 200
    result = settled.json()
    assert TX_HASH.match(result.pop("transaction"))
    assert result == {"success": True, "network": "eip155:31337", "payer": payer.address, "amount": "6208"}

    account = client.get(f"{BASE}/sandbox/accounts/{payer.address}").json()
    assert account["balance"] == str(5_000_000 - 6208)
    assert account["transfers"][0]["to"] == pay_to and account["transfers"][0]["amount"] == "6208"
    merchant = client.get(f"{BASE}/sandbox/accounts/{pay_to}").json()
    assert int(merchant["balance"]) == merchant_before + 6208

    replay = client.post(f"{BASE}/settle", json=body).json()
    assert (replay["success"], replay["errorReason"], replay["transaction"]) == (
        False,
        "invalid_exact_evm_nonce_already_used",
        "",
    )
    again = client.post(f"{BASE}/verify", json=body).json()
    assert (again["isValid"], again["invalidReason"]) == (False, "invalid_exact_evm_nonce_already_used")


def test_upto_payment_settles_the_charge(client: TestClient, pay_to: str, signer: str) -> None:
    payer = funded_wallet(client)
    envelope = upto_requirement(
        _row(), pay_to=pay_to, amount=1_000_000, max_timeout_seconds=600, facilitator_address=signer
    )
    payload = sign_upto(envelope, payer, now=int(time.time()))
    assert client.post(f"{BASE}/verify", json=request_body(payload, envelope)).json() == {
        "isValid": True,
        "payer": payer.address,
    }
    charge = envelope.model_copy(update={"amount": "23"})
    result = client.post(f"{BASE}/settle", json=request_body(payload, charge)).json()
    assert (result["success"], result["amount"]) == (True, "23")
    account = client.get(f"{BASE}/sandbox/accounts/{payer.address}").json()
    # An unlimited (2^256-1) approval is never decremented, like an ERC-20's.
    assert (account["balance"], account["permit2Allowance"]) == (str(5_000_000 - 23), UNLIMITED)


def test_unfunded_payer_is_a_200_with_the_reason(client: TestClient, pay_to: str) -> None:
    payer = Wallet.create()
    requirement = exact_requirement(_row(), pay_to=pay_to, amount=100, max_timeout_seconds=600)
    body = request_body(sign_exact(requirement, payer, now=int(time.time())), requirement)
    verified = client.post(f"{BASE}/verify", json=body)
    assert verified.status_code == 200
    assert (verified.json()["isValid"], verified.json()["invalidReason"]) == (False, "insufficient_funds")
    settled = client.post(f"{BASE}/settle", json=body)
    assert settled.status_code == 200
    result = settled.json()
    assert (result["success"], result["errorReason"], result["transaction"], result["network"]) == (
        False,
        "insufficient_funds",
        "",
        "eip155:31337",
    )


def _valid_body(pay_to: str) -> dict[str, Any]:
    requirement = exact_requirement(_row(), pay_to=pay_to, amount=1, max_timeout_seconds=600)
    return request_body(sign_exact(requirement, Wallet.create(), now=int(time.time())), requirement)


@pytest.mark.parametrize("route", [pytest.param("verify", id="verify"), pytest.param("settle", id="settle")])
@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda body: {**body, "extra": 1}, id="unknown-top-level-key"),
        pytest.param(lambda body: {k: v for k, v in body.items() if k != "paymentRequirements"}, id="missing-key"),
        pytest.param(lambda body: {**body, "x402Version": 1}, id="version-1"),
        pytest.param(lambda body: {**body, "paymentPayload": "nope"}, id="payload-not-object"),
        pytest.param(lambda body: {**body, "paymentRequirements": {"scheme": "exact"}}, id="requirements-schema"),
        pytest.param(lambda body: {}, id="empty-object"),
    ],
)
def test_malformed_requests_are_invalid_request(client: TestClient, pay_to: str, route: str, mutate: Any) -> None:
    response = client.post(f"{BASE}/{route}", json=mutate(_valid_body(pay_to)))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("route", [pytest.param("verify", id="verify"), pytest.param("settle", id="settle")])
@pytest.mark.parametrize(
    "content", [pytest.param(b"{nope", id="syntax"), pytest.param(b"[1]", id="array"), pytest.param(b"", id="empty")]
)
def test_unparsable_bodies_are_invalid_request(client: TestClient, route: str, content: bytes) -> None:
    response = client.post(f"{BASE}/{route}", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


# -- faucet and accounts ----------------------------------------------------------------------


def test_fund_adds_to_the_balance_and_approves_by_default(client: TestClient) -> None:
    address = Wallet.create().address
    first = client.post(f"{BASE}/sandbox/fund", json={"address": address.upper().replace("0X", "0x"), "amount": 5})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "address": address,
        "network": "eip155:31337",
        "balance": "5",
        "permit2Allowance": UNLIMITED,
        "spenderAllowance": UNLIMITED,
        "transfers": [],
    }
    second = client.post(f"{BASE}/sandbox/fund", json={"address": address, "amount": "1000000000000"})
    assert second.json()["balance"] == str(10**12 + 5)
    assert client.get(f"{BASE}/sandbox/accounts/{address}").json() == second.json()


def test_fund_without_approvals(client: TestClient) -> None:
    address = Wallet.create().address
    body = {"address": address, "amount": "7", "approvePermit2": False, "approveSpender": False}
    account = client.post(f"{BASE}/sandbox/fund", json=body).json()
    assert (account["balance"], account["permit2Allowance"], account["spenderAllowance"]) == ("7", "0", "0")
    account = client.post(f"{BASE}/sandbox/fund", json={**body, "approveSpender": True, "approvePermit2": None}).json()
    assert (account["balance"], account["permit2Allowance"], account["spenderAllowance"]) == (
        "14",
        UNLIMITED,
        UNLIMITED,
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param({"amount": "5"}, "address", id="address-missing"),
        pytest.param({"address": "0x12", "amount": "5"}, "address", id="address-short"),
        pytest.param({"address": "1" * 42, "amount": "5"}, "address", id="address-no-prefix"),
        pytest.param({"address": 5, "amount": "5"}, "address", id="address-number"),
        pytest.param({"address": "0x" + "2" * 40}, "amount", id="amount-missing"),
        pytest.param({"address": "0x" + "2" * 40, "amount": 0}, "amount", id="amount-zero"),
        pytest.param({"address": "0x" + "2" * 40, "amount": 10**12 + 1}, "amount", id="amount-too-large"),
        pytest.param({"address": "0x" + "2" * 40, "amount": "1e3"}, "amount", id="amount-exponent"),
        pytest.param({"address": "0x" + "2" * 40, "amount": 1.5}, "amount", id="amount-float"),
        pytest.param({"address": "0x" + "2" * 40, "amount": True}, "amount", id="amount-bool"),
        pytest.param({"address": "0x" + "2" * 40, "amount": 1, "approvePermit2": "yes"}, "approvePermit2", id="flag"),
        pytest.param({"address": "0x" + "2" * 40, "amount": 1, "approveSpender": 1}, "approveSpender", id="flag-int"),
    ],
)
def test_fund_validation(client: TestClient, body: dict[str, Any], param: str) -> None:
    assert_error(client.post(f"{BASE}/sandbox/fund", json=body), 400, "invalid_request", param)


def test_account_of_a_new_address_is_empty_and_a_bad_address_is_400(client: TestClient) -> None:
    address = Wallet.create().address
    assert client.get(f"{BASE}/sandbox/accounts/{address}").json() == {
        "address": address,
        "network": "eip155:31337",
        "balance": "0",
        "permit2Allowance": "0",
        "spenderAllowance": "0",
        "transfers": [],
    }
    assert_error(client.get(f"{BASE}/sandbox/accounts/0xnothex"), 400, "invalid_request", "address")


def test_admin_faucet_needs_the_admin_token(tmp_path: Path) -> None:
    address = "0x" + "2" * 40
    with open_gateway(tmp_path, GATEWAY_SANDBOX_FAUCET="admin") as (client, _):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {ADMIN}"}):
            response = client.post(f"{BASE}/sandbox/fund", json={"address": address, "amount": 1}, headers=headers)
            assert_error(response, 401, "wallet_proof_required", message=PROOF_REQUIRED)
        response = client.post(
            f"{BASE}/sandbox/fund", json={"address": address, "amount": 1}, headers={"authorization": f"Bearer {ADMIN}"}
        )
        assert (response.status_code, response.json()["balance"]) == (200, "1")


def test_admin_faucet_without_an_admin_token_is_closed(tmp_path: Path) -> None:
    with open_gateway(tmp_path, GATEWAY_SANDBOX_FAUCET="admin", GATEWAY_ADMIN_TOKEN="") as (client, _):
        response = client.post(
            f"{BASE}/sandbox/fund", json={"address": "0x" + "2" * 40, "amount": 1}, headers={"authorization": "Bearer "}
        )
        assert_error(response, 401, "wallet_proof_required")


def test_faucet_off_is_404_and_accounts_stay_public(tmp_path: Path) -> None:
    with open_gateway(tmp_path, GATEWAY_SANDBOX_FAUCET="off") as (client, _):
        response = client.post(f"{BASE}/sandbox/fund", json={"address": "0x" + "2" * 40, "amount": 1})
        assert_error(response, 404, "not_found", message=f"No route for POST {BASE}/sandbox/fund")
        assert client.get(f"{BASE}/sandbox/accounts/{'0x' + '2' * 40}").status_code == 200


ROUTES = [
    ("GET", f"{BASE}/supported"),
    ("GET", f"{BASE}/chains"),
    ("POST", f"{BASE}/verify"),
    ("POST", f"{BASE}/settle"),
    ("POST", f"{BASE}/sandbox/fund"),
    ("GET", f"{BASE}/sandbox/accounts/0x2222222222222222222222222222222222222222"),
]


def test_outside_sandbox_mode_every_route_is_404(tmp_path: Path) -> None:
    config = {
        "GATEWAY_SANDBOX": "false",
        "GATEWAY_X402_FACILITATOR_URL": "http://127.0.0.1:9",
        "GATEWAY_KEY_SECRET": "k" * 40,
        "GATEWAY_PAY_TO": "0x" + "1" * 40,
    }
    with open_gateway(tmp_path, **config) as (client, runtime):
        assert runtime.payments is not None and runtime.payments.sandbox is None
        for method, path in ROUTES:
            assert_error(
                client.request(method, path, json={}), 404, "not_found", message=f"No route for {method} {path}"
            )


def test_without_payments_every_route_is_404(tmp_path: Path) -> None:
    with open_gateway(tmp_path, payments=NoPayment()) as (client, _):
        for method, path in ROUTES:
            assert_error(client.request(method, path, json={}), 404, "not_found")

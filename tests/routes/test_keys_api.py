"""The key API through the real app (spec/payments.md §4): proofs, validation, funding check,
listing, show and revoke."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from gateway_core.app import create_app
from gateway_core.errors import GatewayError
from gateway_core.payments import NoPayment
from gateway_core.payments.keys import new_key_id
from gateway_core.payments.proofs import create_signature_text, list_signature_text
from gateway_core.payments.sandbox import Wallet
from gateway_core.routes import keys as keys_routes
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.store import KeyRecord, StoreUnavailable

ADMIN = "admin-token-for-the-key-api-tests"
CHAIN = 31337
BUDGET = 5_000_000
UNLIMITED = 2**256 - 1
PROOF_REQUIRED = "A wallet proof is required: admin token, Compose Key of the wallet, or x-wallet-signature"
KEY_REQUIRED = "Authorization: Bearer compose-<jwt> of a key belonging to the same wallet is required"
FORBIDDEN = "Authorization token does not belong to the owner of this key"
BAD_SIGNATURE = "Wallet signature is invalid or expired"


class Gateway:
    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime

    @property
    def payments(self) -> Any:
        assert self.runtime.payments is not None
        return self.runtime.payments

    def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on the app's loop (the store's connections live there)."""
        return self.client.portal.call(functools.partial(function, *args, **kwargs))

    def fund(self, address: str, amount: int, *, approve_spender: bool = True) -> None:
        row = self.payments.chains[CHAIN]
        self.run(self.payments.store.ledger_fund, row.network, row.usdc_address, address, amount, True, approve_spender)

    def create(self, wallet: str, **body: Any) -> dict[str, Any]:
        response = self.client.post(
            "/api/keys", json=key_body(**body), headers={"authorization": f"Bearer {ADMIN}", **wallet_header(wallet)}
        )
        assert response.status_code == 201, response.text
        return response.json()


@contextlib.contextmanager
def open_gateway(tmp_path: Path, payments: Any = None, **config: str) -> Iterator[Gateway]:
    settings = GatewaySettings.from_config(
        {"GATEWAY_STORE_URL": f"sqlite:///{tmp_path}/gw.db", "GATEWAY_ADMIN_TOKEN": ADMIN, **config}
    )
    runtime = build_runtime(settings, payments=payments)
    app = create_app(runtime=runtime)
    if not any(getattr(route, "path", None) == "/api/keys" for route in app.routes):
        app.include_router(keys_routes.router)  # until app.py registers it
    with TestClient(app) as client:
        yield Gateway(client, runtime)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Sandbox mode (trusted wallet header on by default), sandbox key settlement."""
    with open_gateway(tmp_path_factory.mktemp("keys")) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Sandbox mode with the trusted header off: only admin, keys and signatures count."""
    with open_gateway(tmp_path_factory.mktemp("strict"), GATEWAY_KEYS_TRUST_WALLET_HEADER="false") as gateway:
        yield gateway


def future_ms(days: int = 30) -> int:
    return int(time.time() * 1000) + days * 86_400_000


def key_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"budgetLimit": BUDGET, "expiresAt": future_ms(), "chainId": CHAIN, "purpose": "api"}
    body.update(fields)
    return body


def wallet_header(address: str) -> dict[str, str]:
    return {"x-session-user-address": address}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def funded(gw: Gateway, amount: int = 10 * BUDGET) -> Wallet:
    wallet = Wallet.create()
    gw.fund(wallet.address, amount)
    return wallet


def sign(wallet: Wallet, text: str) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=text), wallet.private_key).signature).hex()


def signature_headers(wallet: Wallet, text: str, issued_at: int, signer: Wallet | None = None) -> dict[str, str]:
    return {
        "x-session-user-address": wallet.address,
        "x-wallet-signature": sign(signer or wallet, text),
        "x-wallet-signature-issued-at": str(issued_at),
    }


def create_text(wallet: Wallet, body: dict[str, Any], issued_at: int) -> str:
    return create_signature_text(
        wallet.address,
        chain_id=int(body["chainId"]),
        budget_limit=int(body["budgetLimit"]),
        expires_at=int(body["expiresAt"]),
        purpose=body["purpose"],
        issued_at=issued_at,
    )


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def assert_error(response: Any, status: int, code: str, message: str | None = None, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    assert error["param"] == param
    if message is not None:
        assert error["message"] == message


# -- POST /api/keys: the 201 body ------------------------------------------------------------


def test_create_returns_the_token_once_with_amounts_as_strings(gw: Gateway) -> None:
    wallet = funded(gw)
    expires = future_ms()
    response = gw.client.post(
        "/api/keys",
        json=key_body(expiresAt=expires, name="OpenCode"),
        headers=wallet_header("0x" + wallet.address[2:].upper()),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "keyId",
        "token",
        "purpose",
        "budgetLimit",
        "budgetUsed",
        "budgetRemaining",
        "createdAt",
        "expiresAt",
        "chainId",
        "name",
    }
    assert body["token"].startswith("compose-")
    assert (body["budgetLimit"], body["budgetUsed"], body["budgetRemaining"]) == ("5000000", "0", "5000000")
    assert (body["purpose"], body["expiresAt"], body["chainId"], body["name"]) == ("api", expires, CHAIN, "OpenCode")
    record = gw.run(gw.payments.compose_keys.validate, body["token"].removeprefix("compose-"))
    assert (record.key_id, record.user_address, record.created_at) == (body["keyId"], wallet.address, body["createdAt"])


def test_create_accepts_digit_strings_and_treats_null_as_absent(gw: Gateway) -> None:
    wallet = funded(gw)
    body = key_body(budgetLimit="1000", expiresAt=str(future_ms()), chainId=str(CHAIN), purpose="session", name=None)
    response = gw.client.post("/api/keys", json=body, headers={**wallet_header(wallet.address), "x-chain-id": "31337"})
    assert response.status_code == 201, response.text
    assert "name" not in response.json()
    assert (response.json()["budgetLimit"], response.json()["purpose"]) == ("1000", "session")


# -- POST /api/keys: the validation table of §4.1 ---------------------------------------------

BUDGET_MESSAGE = "budgetLimit must be a positive integer"
EXPIRES_MESSAGE = "expiresAt must be a positive integer"
PURPOSE_MESSAGE = "purpose must be either session or api"
NAME_MESSAGE = "name must be a string of at most 128 characters"


@pytest.mark.parametrize(
    ("fields", "code", "param", "message"),
    [
        pytest.param({"budgetLimit": None}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-missing"),
        pytest.param({"budgetLimit": 0}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-zero"),
        pytest.param({"budgetLimit": -5}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-negative"),
        pytest.param({"budgetLimit": 1.5}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-float"),
        pytest.param({"budgetLimit": True}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-bool"),
        pytest.param({"budgetLimit": "12a"}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-text"),
        pytest.param({"budgetLimit": "-5"}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-signed"),
        pytest.param({"budgetLimit": 2**63}, "invalid_request", "budgetLimit", BUDGET_MESSAGE, id="budget-over-int64"),
        pytest.param({"expiresAt": None}, "invalid_request", "expiresAt", EXPIRES_MESSAGE, id="expires-missing"),
        pytest.param({"expiresAt": "soon"}, "invalid_request", "expiresAt", EXPIRES_MESSAGE, id="expires-text"),
        pytest.param({"expiresAt": 0}, "invalid_request", "expiresAt", EXPIRES_MESSAGE, id="expires-zero"),
        pytest.param(
            {"expiresAt": 1_000}, "invalid_request", "expiresAt", "expiresAt must be in the future", id="expires-past"
        ),
        pytest.param(
            {"chainId": None}, "invalid_request", "chainId", "chainId must be a positive integer", id="chain-missing"
        ),
        pytest.param({"chainId": 0}, "invalid_request", "chainId", "chainId must be a positive integer", id="chain-0"),
        pytest.param({"chainId": 1}, "chain_not_supported", "chainId", "Chain 1 is not supported", id="chain-disabled"),
        pytest.param({"purpose": None}, "invalid_request", "purpose", PURPOSE_MESSAGE, id="purpose-missing"),
        pytest.param({"purpose": "admin"}, "invalid_request", "purpose", PURPOSE_MESSAGE, id="purpose-other"),
        pytest.param({"purpose": "API"}, "invalid_request", "purpose", PURPOSE_MESSAGE, id="purpose-case"),
        pytest.param({"name": "x" * 129}, "invalid_request", "name", NAME_MESSAGE, id="name-too-long"),
        pytest.param({"name": 5}, "invalid_request", "name", NAME_MESSAGE, id="name-not-string"),
    ],
)
def test_create_validation(gw: Gateway, fields: dict[str, Any], code: str, param: str, message: str) -> None:
    body = key_body()
    body.update(fields)
    body = {name: value for name, value in body.items() if value is not None}
    response = gw.client.post("/api/keys", json=body, headers=wallet_header(funded(gw).address))
    assert_error(response, 400, code, message, param)


def test_name_of_exactly_128_characters_is_accepted(gw: Gateway) -> None:
    response = gw.client.post("/api/keys", json=key_body(name="n" * 128), headers=wallet_header(funded(gw).address))
    assert response.status_code == 201 and response.json()["name"] == "n" * 128


@pytest.mark.parametrize(
    ("header", "param", "message"),
    [
        pytest.param("1", "chainId", "x-chain-id must equal chainId", id="differs-from-body"),
        pytest.param("abc", "x-chain-id", "x-chain-id must be a positive integer", id="malformed"),
        pytest.param("0", "x-chain-id", "x-chain-id must be a positive integer", id="zero"),
    ],
)
def test_create_chain_header_must_match_the_body(gw: Gateway, header: str, param: str, message: str) -> None:
    headers = {**wallet_header(funded(gw).address), "x-chain-id": header}
    assert_error(gw.client.post("/api/keys", json=key_body(), headers=headers), 400, "invalid_request", message, param)


def test_create_needs_the_wallet_header_unless_a_key_proves_the_wallet(gw: Gateway) -> None:
    response = gw.client.post("/api/keys", json=key_body(), headers=bearer(ADMIN))
    assert_error(response, 400, "invalid_request", param="x-session-user-address")
    response = gw.client.post("/api/keys", json=key_body(), headers={**bearer(ADMIN), **wallet_header("0x1234")})
    assert_error(response, 400, "invalid_request", param="x-session-user-address")


def test_malformed_json_body_is_rejected(gw: Gateway) -> None:
    response = gw.client.post(
        "/api/keys",
        content=b"{not json",
        headers={**wallet_header(funded(gw).address), "content-type": "application/json"},
    )
    assert_error(response, 400, "invalid_request_body")


# -- the funding check (sandbox settlement) ---------------------------------------------------


def test_unfunded_wallet_gets_insufficient_balance_with_details(gw: Gateway) -> None:
    wallet = Wallet.create()
    gw.fund(wallet.address, 1_000_000)
    response = gw.client.post("/api/keys", json=key_body(), headers=wallet_header(wallet.address))
    assert response.status_code == 402
    assert response.json() == {
        "error": {
            "message": "Insufficient USDC balance for requested Compose key budget",
            "type": "payment_error",
            "param": None,
            "code": "insufficient_balance",
            "details": {
                "requiredWei": "5000000",
                "balanceWei": "1000000",
                "allowanceWei": str(UNLIMITED),
                "spender": gw.payments.sandbox.facilitator.signer_address,
                "hint": "Fund the wallet with at least the selected budget, then retry key creation.",
            },
        }
    }


def test_unapproved_spender_gets_insufficient_allowance_with_details(gw: Gateway) -> None:
    wallet = Wallet.create()
    gw.fund(wallet.address, 9_000_000, approve_spender=False)
    response = gw.client.post("/api/keys", json=key_body(), headers=wallet_header(wallet.address))
    assert response.status_code == 402
    assert response.json() == {
        "error": {
            "message": "Insufficient USDC allowance for requested Compose key budget",
            "type": "payment_error",
            "param": None,
            "code": "insufficient_allowance",
            "details": {
                "requiredWei": "5000000",
                "balanceWei": "9000000",
                "allowanceWei": "0",
                "spender": gw.payments.sandbox.facilitator.signer_address,
                "hint": "Approve the spender for at least the selected budget, then retry key creation.",
            },
        }
    }


def test_a_budget_equal_to_balance_and_allowance_passes(gw: Gateway) -> None:
    wallet = funded(gw, BUDGET)
    response = gw.client.post("/api/keys", json=key_body(), headers=wallet_header(wallet.address))
    assert response.status_code == 201, response.text


def test_ledger_settlement_skips_the_funding_check(tmp_path: Path) -> None:
    with open_gateway(tmp_path, GATEWAY_KEY_SETTLEMENT="ledger") as gateway:
        wallet = Wallet.create()  # never funded
        response = gateway.client.post("/api/keys", json=key_body(), headers=wallet_header(wallet.address))
        assert response.status_code == 201, response.text


# -- proofs (§4.0) ----------------------------------------------------------------------------


def test_no_proof_is_wallet_proof_required(strict: Gateway, gw: Gateway) -> None:
    wallet = funded(strict)
    for client, headers in (
        (strict.client, wallet_header(wallet.address)),  # trusted header off
        (strict.client, {}),
        (strict.client, bearer("not-the-admin-token")),
        (gw.client, {}),  # trusted header on, but no header
    ):
        assert_error(
            client.post("/api/keys", json=key_body(), headers=headers), 401, "wallet_proof_required", PROOF_REQUIRED
        )
        assert_error(client.get("/api/keys", headers=headers), 401, "wallet_proof_required", PROOF_REQUIRED)


def test_admin_token_issues_for_any_wallet(strict: Gateway) -> None:
    wallet = funded(strict)
    response = strict.client.post(
        "/api/keys", json=key_body(), headers={"authorization": f"bearer {ADMIN}", **wallet_header(wallet.address)}
    )
    assert response.status_code == 201, response.text


def test_admin_auth_is_off_without_an_admin_token(tmp_path: Path) -> None:
    with open_gateway(tmp_path, GATEWAY_ADMIN_TOKEN="", GATEWAY_KEYS_TRUST_WALLET_HEADER="false") as gateway:
        response = gateway.client.post(
            "/api/keys", json=key_body(), headers={**bearer(""), **wallet_header("0x" + "2" * 40)}
        )
        assert_error(response, 401, "wallet_proof_required")


def test_same_wallet_key_issues_for_its_own_wallet(strict: Gateway) -> None:
    wallet = funded(strict)
    first = strict.create(wallet.address)
    response = strict.client.post("/api/keys", json=key_body(name="second"), headers=bearer(first["token"]))
    assert response.status_code == 201, response.text
    record = strict.run(strict.payments.store.get_key, response.json()["keyId"])
    assert record.user_address == wallet.address
    # Bare "compose-…" is a Compose Key too (§2.2).
    response = strict.client.post("/api/keys", json=key_body(), headers={"authorization": first["token"]})
    assert response.status_code == 201, response.text


def test_key_of_another_wallet_is_forbidden(strict: Gateway) -> None:
    owner, other = funded(strict), funded(strict)
    token = strict.create(owner.address)["token"]
    headers = {**bearer(token), **wallet_header(other.address)}
    assert_error(strict.client.post("/api/keys", json=key_body(), headers=headers), 403, "forbidden", FORBIDDEN)
    assert_error(strict.client.get("/api/keys", headers=headers), 403, "forbidden", FORBIDDEN)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("compose-not.a.jwt", "Invalid or expired token", id="garbage"),
        pytest.param("compose-", "Invalid or expired token", id="empty"),
    ],
)
def test_invalid_compose_key_is_401(strict: Gateway, token: str, message: str) -> None:
    response = strict.client.post("/api/keys", json=key_body(), headers=bearer(token))
    assert_error(response, 401, "invalid_compose_key", message)


def test_revoked_key_is_no_proof(strict: Gateway) -> None:
    wallet = funded(strict)
    created = strict.create(wallet.address)
    assert strict.client.delete(f"/api/keys/{created['keyId']}", headers=bearer(ADMIN)).status_code == 200
    response = strict.client.get("/api/keys", headers=bearer(created["token"]))
    assert_error(response, 401, "invalid_compose_key", "Key has been revoked")


def test_wallet_signature_creates_a_key_once(strict: Gateway) -> None:
    wallet = funded(strict)
    body = key_body()
    issued_at = int(time.time())
    headers = signature_headers(wallet, create_text(wallet, body, issued_at), issued_at)
    first = strict.client.post("/api/keys", json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = strict.client.post("/api/keys", json=body, headers=headers)
    assert_error(replay, 401, "invalid_wallet_signature", BAD_SIGNATURE)


def test_wallet_signature_with_v_as_0_or_1_is_accepted(strict: Gateway) -> None:
    wallet = funded(strict)
    body = key_body()
    issued_at = int(time.time())
    headers = signature_headers(wallet, create_text(wallet, body, issued_at), issued_at)
    raw = bytes.fromhex(headers["x-wallet-signature"][2:])
    headers["x-wallet-signature"] = "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()
    assert strict.client.post("/api/keys", json=body, headers=headers).status_code == 201


def test_a_reencoded_signature_is_still_a_replay(strict: Gateway) -> None:
    wallet = funded(strict)
    body = key_body()
    issued_at = int(time.time())
    headers = signature_headers(wallet, create_text(wallet, body, issued_at), issued_at)
    assert strict.client.post("/api/keys", json=body, headers=headers).status_code == 201
    raw = bytes.fromhex(headers["x-wallet-signature"][2:])
    headers["x-wallet-signature"] = "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()
    assert_error(strict.client.post("/api/keys", json=body, headers=headers), 401, "invalid_wallet_signature")


def _tamper(wallet: Wallet, body: dict[str, Any], issued_at: int) -> dict[str, str]:
    return signature_headers(wallet, create_text(wallet, {**body, "budgetLimit": 1}, issued_at), issued_at)


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(
            lambda w, b, now: signature_headers(w, create_text(w, b, now - 330), now - 330), id="issued-too-early"
        ),
        pytest.param(
            lambda w, b, now: signature_headers(w, create_text(w, b, now + 330), now + 330), id="issued-in-the-future"
        ),
        pytest.param(
            lambda w, b, now: signature_headers(w, create_text(w, b, now), now, signer=Wallet.create()),
            id="other-signer",
        ),
        pytest.param(_tamper, id="other-values-signed"),
        pytest.param(
            lambda w, b, now: {**signature_headers(w, create_text(w, b, now), now), "x-wallet-signature-issued-at": ""},
            id="issued-at-missing",
        ),
        pytest.param(
            lambda w, b, now: {**signature_headers(w, create_text(w, b, now), now), "x-wallet-signature": "0x1234"},
            id="short-signature",
        ),
        pytest.param(
            lambda w, b, now: {
                **signature_headers(w, create_text(w, b, now), now),
                "x-wallet-signature": "0x" + "zz" * 65,
            },
            id="not-hex",
        ),
        pytest.param(
            lambda w, b, now: {
                **signature_headers(w, create_text(w, b, now), now),
                "x-wallet-signature": signature_headers(w, create_text(w, b, now), now)["x-wallet-signature"][:-2]
                + "25",
            },
            id="eip155-v",
        ),
    ],
)
def test_bad_wallet_signature_is_401(strict: Gateway, make_headers: Any) -> None:
    wallet = funded(strict)
    body = key_body()
    headers = make_headers(wallet, body, int(time.time()))
    response = strict.client.post("/api/keys", json=body, headers=headers)
    assert_error(response, 401, "invalid_wallet_signature", BAD_SIGNATURE)


def test_signature_within_the_300_second_window_is_accepted(strict: Gateway) -> None:
    wallet = funded(strict)
    body = key_body()
    issued_at = int(time.time()) - 290
    headers = signature_headers(wallet, create_text(wallet, body, issued_at), issued_at)
    assert strict.client.post("/api/keys", json=body, headers=headers).status_code == 201


def test_signature_without_the_wallet_header_is_a_bad_request(strict: Gateway) -> None:
    wallet = funded(strict)
    issued_at = int(time.time())
    headers = signature_headers(wallet, create_text(wallet, key_body(), issued_at), issued_at)
    del headers["x-session-user-address"]
    response = strict.client.post("/api/keys", json=key_body(), headers=headers)
    assert_error(response, 400, "invalid_request", param="x-session-user-address")


def test_trusted_header_outside_sandbox_is_off_by_default(tmp_path: Path) -> None:
    config = {
        "GATEWAY_SANDBOX": "false",
        "GATEWAY_X402_FACILITATOR_URL": "http://127.0.0.1:9",
        "GATEWAY_KEY_SECRET": "k" * 40,
        "GATEWAY_PAY_TO": "0x" + "1" * 40,
    }
    wallet = "0x" + "2" * 40
    with open_gateway(tmp_path, **config) as gateway:
        body = key_body(chainId=43113)
        response = gateway.client.post("/api/keys", json=body, headers=wallet_header(wallet))
        assert_error(response, 401, "wallet_proof_required")
        # Ledger settlement (the default outside sandbox): no funding check for the admin.
        response = gateway.client.post("/api/keys", json=body, headers={**bearer(ADMIN), **wallet_header(wallet)})
        assert response.status_code == 201, response.text
    with open_gateway(tmp_path, GATEWAY_KEYS_TRUST_WALLET_HEADER="true", **config) as gateway:
        response = gateway.client.post("/api/keys", json=key_body(chainId=43113), headers=wallet_header(wallet))
        assert response.status_code == 201, response.text


# -- GET /api/keys (§4.2) ---------------------------------------------------------------------


def _insert(gw: Gateway, wallet: str, created_at: int, **fields: Any) -> KeyRecord:
    values: dict[str, Any] = {
        "key_id": new_key_id(),
        "user_address": wallet,
        "purpose": "api",
        "budget_limit": 100,
        "budget_used": 0,
        "budget_reserved": 0,
        "created_at": created_at,
        "expires_at": future_ms(),
        "chain_id": CHAIN,
    }
    values.update(fields)
    record = KeyRecord(**values)
    gw.run(gw.payments.store.create_key, record)
    return record


def test_listing_is_newest_first_with_every_status_and_no_token(gw: Gateway) -> None:
    wallet, other = Wallet.create().address, Wallet.create().address
    now = int(time.time() * 1000)
    active = _insert(gw, wallet, now - 5000, name="active", last_used_at=now - 10)
    exhausted = _insert(gw, wallet, now - 4000, budget_used=60, budget_reserved=40)
    expired = _insert(gw, wallet, now - 3000, expires_at=now - 1)
    revoked = _insert(gw, wallet, now - 2000, revoked_at=now - 100)
    elsewhere = _insert(gw, wallet, now - 1000, chain_id=43113)
    _insert(gw, other, now)

    listed = gw.client.get("/api/keys", headers=wallet_header(wallet)).json()["keys"]
    assert [key["keyId"] for key in listed] == [
        elsewhere.key_id,
        revoked.key_id,
        expired.key_id,
        exhausted.key_id,
        active.key_id,
    ]
    assert [key["status"] for key in listed] == ["active", "revoked", "expired", "exhausted", "active"]
    assert all("token" not in key for key in listed)
    assert listed[-1] == {
        "keyId": active.key_id,
        "userAddress": wallet,
        "purpose": "api",
        "budgetLimit": "100",
        "budgetUsed": "0",
        "budgetReserved": "0",
        "budgetRemaining": "100",
        "createdAt": now - 5000,
        "expiresAt": active.expires_at,
        "lastUsedAt": now - 10,
        "name": "active",
        "chainId": CHAIN,
        "status": "active",
    }
    assert listed[1]["revokedAt"] == now - 100
    assert (listed[3]["budgetReserved"], listed[3]["budgetRemaining"]) == ("40", "0")

    filtered = gw.client.get("/api/keys", headers={**wallet_header(wallet), "x-chain-id": "43113"}).json()["keys"]
    assert [key["keyId"] for key in filtered] == [elsewhere.key_id]


def test_admin_lists_one_wallet_or_all(gw: Gateway) -> None:
    first, second = Wallet.create().address, Wallet.create().address
    now = int(time.time() * 1000)
    mine = _insert(gw, first, now)
    theirs = _insert(gw, second, now + 1)
    listed = gw.client.get("/api/keys", headers={**bearer(ADMIN), **wallet_header(first)}).json()["keys"]
    assert [key["keyId"] for key in listed] == [mine.key_id]
    everything = gw.client.get("/api/keys", headers=bearer(ADMIN)).json()["keys"]
    ids = [key["keyId"] for key in everything]
    assert {mine.key_id, theirs.key_id} <= set(ids)
    assert ids.index(theirs.key_id) < ids.index(mine.key_id)
    assert len({key["userAddress"] for key in everything}) > 1


def test_key_proof_lists_its_own_wallet(strict: Gateway) -> None:
    wallet = funded(strict)
    token = strict.create(wallet.address)["token"]
    strict.create(funded(strict).address)
    listed = strict.client.get("/api/keys", headers=bearer(token)).json()["keys"]
    assert {key["userAddress"] for key in listed} == {wallet.address}
    same = strict.client.get("/api/keys", headers={**bearer(token), **wallet_header("0x" + wallet.address[2:].upper())})
    assert same.status_code == 200


def test_signed_listing_is_accepted_once(strict: Gateway) -> None:
    wallet = funded(strict)
    created = strict.create(wallet.address)
    issued_at = int(time.time())
    headers = signature_headers(wallet, list_signature_text(wallet.address, issued_at=issued_at), issued_at)
    response = strict.client.get("/api/keys", headers=headers)
    assert response.status_code == 200, response.text
    assert [key["keyId"] for key in response.json()["keys"]] == [created["keyId"]]
    assert_error(strict.client.get("/api/keys", headers=headers), 401, "invalid_wallet_signature", BAD_SIGNATURE)
    # A create-signature is not a list-signature.
    wrong = signature_headers(wallet, create_text(wallet, key_body(), issued_at), issued_at)
    assert_error(strict.client.get("/api/keys", headers=wrong), 401, "invalid_wallet_signature")


def test_listing_rejects_a_malformed_chain_filter(gw: Gateway) -> None:
    response = gw.client.get("/api/keys", headers={**wallet_header(Wallet.create().address), "x-chain-id": "x"})
    assert_error(response, 400, "invalid_request", param="x-chain-id")


# -- GET / DELETE /api/keys/{keyId} (§4.3, §4.4) ----------------------------------------------


def test_show_with_the_key_itself_a_sibling_key_or_admin(strict: Gateway) -> None:
    wallet = funded(strict)
    target = strict.create(wallet.address, name="target")
    sibling = strict.create(wallet.address)
    for headers in (bearer(target["token"]), bearer(sibling["token"]), bearer(ADMIN)):
        response = strict.client.get(f"/api/keys/{target['keyId']}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["keyId"], body["userAddress"], body["status"], body["name"]) == (
            target["keyId"],
            wallet.address,
            "active",
            "target",
        )
        assert "token" not in body


@pytest.mark.parametrize("method", [pytest.param("GET", id="show"), pytest.param("DELETE", id="revoke")])
def test_show_and_revoke_errors(strict: Gateway, method: str) -> None:
    wallet, other = funded(strict), funded(strict)
    target = strict.create(wallet.address)
    foreign = strict.create(other.address)
    path = f"/api/keys/{target['keyId']}"

    def call(path: str, headers: dict[str, str]) -> Any:
        return strict.client.request(method, path, headers=headers)

    assert_error(call(path, {}), 401, "compose_key_required", KEY_REQUIRED)
    assert_error(call(path, wallet_header(wallet.address)), 401, "compose_key_required", KEY_REQUIRED)
    assert_error(call(path, bearer("sk-something")), 401, "compose_key_required", KEY_REQUIRED)
    assert_error(call(path, bearer("compose-a.b.c")), 401, "invalid_compose_key", "Invalid or expired token")
    assert_error(call(path, bearer(foreign["token"])), 403, "forbidden", FORBIDDEN)
    missing = "/api/keys/00000000-0000-4000-8000-000000000000"
    assert_error(call(missing, bearer(ADMIN)), 404, "key_not_found", "Key not found")
    assert_error(call(missing, bearer(target["token"])), 404, "key_not_found", "Key not found")
    # Nothing was revoked by the refused calls.
    assert strict.run(strict.payments.store.get_key, target["keyId"]).revoked_at is None


def test_revoke_is_idempotent_and_the_key_stops_working(strict: Gateway) -> None:
    wallet = funded(strict)
    target = strict.create(wallet.address)
    sibling = strict.create(wallet.address)
    path = f"/api/keys/{target['keyId']}"
    first = strict.client.delete(path, headers=bearer(target["token"]))
    assert (first.status_code, first.json()) == (200, {"success": True, "keyId": target["keyId"]})
    revoked_at = strict.run(strict.payments.store.get_key, target["keyId"]).revoked_at
    assert revoked_at is not None

    with pytest.raises(GatewayError) as raised:
        strict.run(strict.payments.compose_keys.validate, target["token"].removeprefix("compose-"))
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        401,
        "invalid_compose_key",
        "Key has been revoked",
    )
    # The revoked key is no proof any more, but admin and a sibling may revoke again.
    assert_error(strict.client.delete(path, headers=bearer(target["token"])), 401, "invalid_compose_key")
    for headers in (bearer(sibling["token"]), bearer(ADMIN)):
        again = strict.client.delete(path, headers=headers)
        assert (again.status_code, again.json()) == (200, {"success": True, "keyId": target["keyId"]})
    assert strict.run(strict.payments.store.get_key, target["keyId"]).revoked_at == revoked_at
    shown = strict.client.get(path, headers=bearer(ADMIN)).json()
    assert (shown["status"], shown["revokedAt"]) == ("revoked", revoked_at)


# -- without payments, and with the store down ----------------------------------------------


def test_routes_are_unknown_without_payments(tmp_path: Path) -> None:
    with open_gateway(tmp_path, payments=NoPayment()) as gateway:
        assert gateway.runtime.payments is None
        for method, path in (
            ("POST", "/api/keys"),
            ("GET", "/api/keys"),
            ("GET", "/api/keys/x"),
            ("DELETE", "/api/keys/x"),
        ):
            response = gateway.client.request(method, path, headers=bearer(ADMIN))
            assert_error(response, 404, "not_found", f"No route for {method} {path}")


def test_store_unavailable_is_503(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("database is gone")

    monkeypatch.setattr(gw.payments.store, "list_keys", down)
    response = gw.client.get("/api/keys", headers=bearer(ADMIN))
    assert_error(response, 503, "store_unavailable", "Store is unavailable")

"""The sandbox facilitator's HTTP routes (spec/payments.md §9.3-§9.6).

Served only in sandbox mode; otherwise (and when the gateway runs without payments) they
answer 404 ``not_found`` like unknown routes. ``verify`` and ``settle`` answer 200 with the
x402 object whatever the outcome: a refused payment is a result, not an error. Only a body
that is not a facilitator request is a 400.

:func:`parse_fund_request`, :func:`fund_account` and :func:`account_body` are shared with
``gateway sandbox fund|account|wallet`` (:mod:`gateway_core.cli_payments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.payments.proofs import is_admin_token
from gateway_core.payments.sandbox import (
    load_account_document,
    parse_facilitator_request,
    settle_response_body,
    supported_response_body,
    verify_response_body,
)
from gateway_core.payments.sandbox.constants import MAX_FUND_AMOUNT
from gateway_core.payments.service import Payments, SandboxParts
from gateway_core.payments.x402.networks import is_address
from gateway_core.routes._body import read_json_body
from gateway_core.routes._json import JSON_MEDIA_TYPE, json_response
from gateway_core.routes.keys import payments_of, store_errors
from gateway_core.settings import GatewaySettings
from gateway_core.store import Store

__all__ = ["FundRequest", "account_body", "fund_account", "parse_address", "parse_fund_request", "router"]

router = APIRouter(prefix="/api/x402/facilitator")

_PROOF_REQUIRED = "A wallet proof is required: admin token, Compose Key of the wallet, or x-wallet-signature"


def _not_found(request: Request) -> GatewayError:
    return GatewayError(404, "not_found", f"No route for {request.method} {request.url.path}")


def _sandbox(request: Request) -> tuple[Payments, SandboxParts]:
    payments = payments_of(request)
    if payments.sandbox is None:
        raise _not_found(request)
    return payments, payments.sandbox


def _raw_json(body: bytes) -> Response:
    # Same headers as json_response; the body is already serialized by the x402 models.
    return Response(body, media_type=JSON_MEDIA_TYPE, headers={"cache-control": "no-store"})


def _bad(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message, param=param)


def parse_address(value: Any) -> str:
    """A wallet address, lowercase; 400 ``invalid_request`` (``param: "address"``) otherwise."""
    if not is_address(value):
        raise _bad("address must be a 0x-prefixed 20-byte hex address", "address")
    return str(value).lower()


def _flag(body: Mapping[str, Any], field: str) -> bool:
    value = body.get(field)
    if value is None:  # absent or null: approvals default to true (§9.6)
        return True
    if not isinstance(value, bool):
        raise _bad(f"{field} must be a boolean", field)
    return value


@dataclass(frozen=True)
class FundRequest:
    """A validated faucet request."""

    address: str
    amount: int
    approve_permit2: bool = True
    approve_spender: bool = True


def parse_fund_request(body: Mapping[str, Any]) -> FundRequest:
    """``{address, amount (1…10^12, integer or digit string), approvePermit2?, approveSpender?}``.

    :raises GatewayError: 400 ``invalid_request`` naming the field.
    """
    address = parse_address(body.get("address"))
    raw = body.get("amount")
    amount: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        amount = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit():
        amount = int(raw)
    if amount is None or not 1 <= amount <= MAX_FUND_AMOUNT:
        raise _bad(f"amount must be an integer between 1 and {MAX_FUND_AMOUNT}", "amount")
    return FundRequest(address, amount, _flag(body, "approvePermit2"), _flag(body, "approveSpender"))


async def account_body(sandbox: SandboxParts, store: Store, address: str) -> dict[str, Any]:
    """The §9.6 account object of ``address`` on the sandbox network and asset."""
    row = sandbox.facilitator.row
    with store_errors():
        return await load_account_document(store, row.network, row.usdc_address.lower(), address)


async def fund_account(sandbox: SandboxParts, store: Store, fund: FundRequest) -> dict[str, Any]:
    """Add to the balance (and set the requested approvals to unlimited); the account after."""
    row = sandbox.facilitator.row
    with store_errors():
        await store.ledger_fund(
            row.network, row.usdc_address.lower(), fund.address, fund.amount, fund.approve_permit2, fund.approve_spender
        )
    return await account_body(sandbox, store, fund.address)


async def _facilitator_body(request: Request, limit: int) -> dict[str, Any]:
    try:
        return await read_json_body(request, limit)
    except GatewayError as exc:
        # §9.5 names one code for every malformed facilitator body, JSON syntax included.
        if exc.code != "invalid_request_body":
            raise
        raise GatewayError(400, "invalid_request", exc.message) from exc


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.runtime.settings
    return settings


@router.get("/supported")
async def supported(request: Request) -> Response:
    """§9.3."""
    _, sandbox = _sandbox(request)
    return _raw_json(supported_response_body(await sandbox.facilitator.supported()))


@router.get("/chains")
async def chains(request: Request) -> Response:
    """§9.4."""
    _, sandbox = _sandbox(request)
    return json_response(sandbox.facilitator.chains())


@router.post("/verify")
async def verify(request: Request) -> Response:
    """§9.5: 200 ``VerifyResponse``; 400 ``invalid_request`` only for a malformed body."""
    _, sandbox = _sandbox(request)
    payload, requirements = parse_facilitator_request(await _facilitator_body(request, _settings(request).body_limit))
    with store_errors():
        result = await sandbox.facilitator.verify(payload, requirements)
    return _raw_json(verify_response_body(result))


@router.post("/settle")
async def settle(request: Request) -> Response:
    """§9.5: 200 ``SettleResponse`` (``transaction`` is ``""`` on failure)."""
    _, sandbox = _sandbox(request)
    payload, requirements = parse_facilitator_request(await _facilitator_body(request, _settings(request).body_limit))
    with store_errors():
        result = await sandbox.facilitator.settle(payload, requirements)
    return _raw_json(settle_response_body(result))


@router.post("/sandbox/fund")
async def fund(request: Request) -> Response:
    """§9.6 faucet under ``GATEWAY_SANDBOX_FAUCET``: ``open``, ``admin`` or ``off`` (404)."""
    payments, sandbox = _sandbox(request)
    policy = payments.settings.sandbox_faucet
    if policy == "off":
        raise _not_found(request)
    settings = _settings(request)
    if policy == "admin" and not is_admin_token(
        request.headers.get("authorization"), settings.config.get("GATEWAY_ADMIN_TOKEN")
    ):
        raise GatewayError(401, "wallet_proof_required", _PROOF_REQUIRED)
    body = await read_json_body(request, settings.body_limit)
    return json_response(await fund_account(sandbox, payments.store, parse_fund_request(body)))


@router.get("/sandbox/accounts/{address}")
async def account(request: Request) -> Response:
    """§9.6: balance, allowances and the last 20 transfers."""
    address: str = request.path_params["address"]
    payments, sandbox = _sandbox(request)
    return json_response(await account_body(sandbox, payments.store, parse_address(address)))

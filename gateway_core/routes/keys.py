"""The key API (spec/payments.md §4): issue, list, show and revoke Compose Keys.

Proofs are resolved by :mod:`gateway_core.payments.proofs`; this module validates bodies,
runs the funding check and talks to the store. :func:`parse_key_request`,
:func:`check_funding` and :func:`issue_key` are shared with ``gateway keys create``
(:mod:`gateway_core.cli_payments`), so the CLI prints exactly what the route answers.

These routes exist only when the gateway runs with payments; otherwise they answer 404
``not_found`` like unknown routes (:func:`payments_of`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.payments.keys import key_record_body, new_key_id
from gateway_core.payments.proofs import (
    ADDRESS_HEADER,
    KeyApiProofs,
    create_signature_text,
    forbidden,
    list_signature_text,
    trust_wallet_header,
)
from gateway_core.payments.service import Payments, requested_chain
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.routes._body import read_json_body
from gateway_core.routes._json import json_response
from gateway_core.settings import GatewaySettings
from gateway_core.store import KeyRecord, StoreUnavailable

__all__ = [
    "MAX_NAME_LENGTH",
    "KeyRequest",
    "check_funding",
    "issue_key",
    "parse_key_request",
    "payments_of",
    "router",
    "store_errors",
]

router = APIRouter()

MAX_NAME_LENGTH = 128
# The store keeps amounts, times and chain ids of keys in signed 64-bit columns; a larger
# value is as invalid as a negative one, and must not surface as a database error.
_INT64_MAX = 2**63 - 1
_PURPOSES = ("api", "session")
_HINTS = {
    "insufficient_balance": "Fund the wallet with at least the selected budget, then retry key creation.",
    "insufficient_allowance": "Approve the spender for at least the selected budget, then retry key creation.",
}
_FUNDING_MESSAGES = {
    "insufficient_balance": "Insufficient USDC balance for requested Compose key budget",
    "insufficient_allowance": "Insufficient USDC allowance for requested Compose key budget",
}


def payments_of(request: Request) -> Payments:
    """The runtime's payments, or 404 ``not_found`` when the gateway runs without them."""
    payments: Payments | None = request.app.state.runtime.payments
    if payments is None:
        raise GatewayError(404, "not_found", f"No route for {request.method} {request.url.path}")
    return payments


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.runtime.settings
    return settings


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Turn :class:`StoreUnavailable` into 503 ``store_unavailable``."""
    try:
        yield
    except StoreUnavailable as exc:
        raise GatewayError(503, "store_unavailable", "Store is unavailable") from exc


def _proofs(payments: Payments, config: Mapping[str, str]) -> KeyApiProofs:
    return KeyApiProofs(
        payments.compose_keys,
        payments.store,
        admin_token=config.get("GATEWAY_ADMIN_TOKEN"),
        trust_header=trust_wallet_header(config, payments.settings.sandbox),
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _integer(value: Any) -> int | None:
    """A JSON integer or a digit string (README "Money"); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _positive(body: Mapping[str, Any], field: str) -> int:
    number = _integer(body.get(field))
    if number is None or not 0 < number <= _INT64_MAX:
        raise GatewayError(400, "invalid_request", f"{field} must be a positive integer", param=field)
    return number


@dataclass(frozen=True)
class KeyRequest:
    """A validated ``POST /api/keys`` body."""

    budget_limit: int
    expires_at: int
    chain_id: int
    purpose: str
    name: str | None = None


def parse_key_request(
    body: Mapping[str, Any], *, now_ms: int, chains: Mapping[int, ChainRow], header_chain: int | None = None
) -> KeyRequest:
    """Validate a key request by the table of §4.1, field by field in table order.

    :param header_chain: ``x-chain-id``; must equal ``chainId`` (checked before the chain
        is looked up, so a mismatch is reported as such even for an unknown chain).
    :raises GatewayError: 400 ``invalid_request`` (``param`` = the field) or
        400 ``chain_not_supported``.
    """
    budget_limit = _positive(body, "budgetLimit")
    expires_at = _positive(body, "expiresAt")
    if expires_at <= now_ms:
        raise GatewayError(400, "invalid_request", "expiresAt must be in the future", param="expiresAt")
    chain_id = _positive(body, "chainId")
    if header_chain is not None and header_chain != chain_id:
        raise GatewayError(400, "invalid_request", "x-chain-id must equal chainId", param="chainId")
    if chain_id not in chains:
        raise GatewayError(400, "chain_not_supported", f"Chain {chain_id} is not supported", param="chainId")
    purpose = body.get("purpose")
    if purpose not in _PURPOSES:
        raise GatewayError(400, "invalid_request", "purpose must be either session or api", param="purpose")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
        raise GatewayError(
            400, "invalid_request", f"name must be a string of at most {MAX_NAME_LENGTH} characters", param="name"
        )
    return KeyRequest(budget_limit, expires_at, chain_id, str(purpose), name)


def _funding_error(code: str, required: int, balance: int, allowance: int, spender: str) -> GatewayError:
    details = {
        "requiredWei": str(required),
        "balanceWei": str(balance),
        "allowanceWei": str(allowance),
        "spender": spender,
        "hint": _HINTS[code],
    }
    return GatewayError(402, code, _FUNDING_MESSAGES[code], details=details)


async def check_funding(payments: Payments, settlement: str, wallet: str, key: KeyRequest) -> None:
    """§4.1 funding check: balance and spender allowance ≥ ``budgetLimit`` (balance first).

    ``ledger`` settlement checks nothing. ``sandbox`` reads the sandbox ledger; the spender
    is the sandbox facilitator signer. Any other mode needs a chain RPC this gateway does
    not read, so it answers 503 ``chain_unavailable`` rather than issue an unchecked key.

    :raises GatewayError: 402 ``insufficient_balance`` / ``insufficient_allowance`` with
        ``details``, 503 ``chain_unavailable`` or ``store_unavailable``.
    """
    if settlement == "ledger":
        return
    if settlement != "sandbox" or payments.sandbox is None:
        raise GatewayError(503, "chain_unavailable", "Chain RPC is unavailable")
    row = payments.chains[key.chain_id]
    spender = payments.sandbox.facilitator.signer_address
    with store_errors():
        account = await payments.store.ledger_account(row.network, row.usdc_address.lower(), wallet)
    required = key.budget_limit
    if account.balance < required:
        raise _funding_error("insufficient_balance", required, account.balance, account.spender_allowance, spender)
    if account.spender_allowance < required:
        raise _funding_error("insufficient_allowance", required, account.balance, account.spender_allowance, spender)


async def issue_key(payments: Payments, wallet: str, key: KeyRequest, now_ms: int) -> dict[str, Any]:
    """Store a new key and return the 201 body of §4.1 (the only time the token is shown)."""
    record = KeyRecord(
        key_id=new_key_id(),
        user_address=wallet.lower(),
        purpose=key.purpose,
        budget_limit=key.budget_limit,
        budget_used=0,
        budget_reserved=0,
        created_at=now_ms,
        expires_at=key.expires_at,
        chain_id=key.chain_id,
        name=key.name,
    )
    with store_errors():
        await payments.store.create_key(record)
    body: dict[str, Any] = {
        "keyId": record.key_id,
        "token": payments.compose_keys.mint(record),
        "purpose": record.purpose,
        "budgetLimit": str(record.budget_limit),
        "budgetUsed": "0",
        "budgetRemaining": str(record.remaining),
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "chainId": record.chain_id,
    }
    if record.name is not None:
        body["name"] = record.name
    return body


@router.post("/api/keys")
async def create_key(request: Request) -> Response:
    """§4.1. Proof, then body, then the signature over the validated values, then funding."""
    payments = payments_of(request)
    settings = _settings(request)
    proofs = _proofs(payments, settings.config)
    proof = await proofs.wallet_proof(request.headers)
    if proof.wallet is None:  # an admin must say whose key it issues
        raise GatewayError(400, "invalid_request", f"{ADDRESS_HEADER} is required", param=ADDRESS_HEADER)
    header_chain = requested_chain(request.headers)
    body = await read_json_body(request, settings.body_limit)
    now_ms = _now_ms()
    key = parse_key_request(body, now_ms=now_ms, chains=payments.chains, header_chain=header_chain)
    if proof.signature is not None:
        text = create_signature_text(
            proof.wallet,
            chain_id=key.chain_id,
            budget_limit=key.budget_limit,
            expires_at=key.expires_at,
            purpose=key.purpose,
            issued_at=proof.signature.issued_at,
        )
        await proofs.accept_signature(proof, text)
    await check_funding(payments, payments.key_settlement, proof.wallet, key)
    return json_response(await issue_key(payments, proof.wallet, key, now_ms), status=201)


@router.get("/api/keys")
async def list_keys(request: Request) -> Response:
    """§4.2: newest first, revoked and expired keys included, optionally one chain."""
    payments = payments_of(request)
    proofs = _proofs(payments, _settings(request).config)
    proof = await proofs.wallet_proof(request.headers)
    chain_id = requested_chain(request.headers)
    if proof.signature is not None and proof.wallet is not None:
        await proofs.accept_signature(proof, list_signature_text(proof.wallet, issued_at=proof.signature.issued_at))
    with store_errors():
        records = await payments.store.list_keys(proof.wallet, chain_id)
    now_ms = _now_ms()
    return json_response({"keys": [key_record_body(record, now_ms) for record in records]})


async def _target(request: Request, payments: Payments, key_id: str) -> KeyRecord:
    """§4.3/§4.4 proof, then the record: 401 before 404 before 403."""
    proof = await _proofs(payments, _settings(request).config).key_proof(request.headers)
    with store_errors():
        record = await payments.store.get_key(key_id)
    if record is None:
        raise GatewayError(404, "key_not_found", "Key not found")
    if not proof.is_admin and record.user_address != proof.wallet:
        raise forbidden()
    return record


@router.get("/api/keys/{key_id}")
async def show_key(request: Request) -> Response:
    """§4.3: one KeyRecord in the §4.2 shape."""
    key_id: str = request.path_params["key_id"]
    payments = payments_of(request)
    record = await _target(request, payments, key_id)
    return json_response(key_record_body(record, _now_ms()))


@router.delete("/api/keys/{key_id}")
async def revoke_key(request: Request) -> Response:
    """§4.4: sets ``revokedAt`` unless already set; idempotent."""
    key_id: str = request.path_params["key_id"]
    payments = payments_of(request)
    await _target(request, payments, key_id)
    with store_errors():
        revoked = await payments.store.revoke_key(key_id, _now_ms())
    if revoked is None:  # deleted by the operator between the two reads
        raise GatewayError(404, "key_not_found", "Key not found")
    return json_response({"success": True, "keyId": key_id})

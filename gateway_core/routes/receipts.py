"""Stored receipts (spec/payments.md §8.4, gateway choice).

``GET /api/receipts/{id}`` follows the owner rule of spec/responses.md §6.2: a receipt paid
with a Compose Key is shown to a valid key of the same wallet, one paid with raw x402 to
anyone who knows its id (128 random bits). A missing or wrong-wallet key answers 404 exactly
like a missing receipt, so ids of other wallets cannot be probed; a malformed or invalid key
is a 401. ``GET /api/receipts`` lists the key's wallet on the key's chain.

Receipts are stored without their running totals; each read adds the ``cumulative`` snapshot
the store took when the receipt was inserted.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.payments.keys import compose_token_of
from gateway_core.payments.service import Payments
from gateway_core.payments.x402.networks import network_id
from gateway_core.routes._json import json_response
from gateway_core.routes.keys import payments_of, store_errors
from gateway_core.store import Cumulative, KeyRecord, ReceiptRow

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "cumulative_body", "receipt_body", "router"]

router = APIRouter()

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Keeps OFFSET + LIMIT inside the databases' signed 64-bit range.
_MAX_CURSOR = 2**62
_KEY_REQUIRED = "ComposeKey authorization is required. Use Authorization: Bearer compose-..."


def cumulative_body(totals: Cumulative | None) -> dict[str, Any]:
    """The §8.1 ``cumulative`` object: amounts as digit strings, the count as a number."""
    totals = totals or Cumulative()
    return {
        "total_amount_wei": str(totals.total_amount),
        "provider_amount_wei": str(totals.provider_amount),
        "platform_fee_wei": str(totals.platform_fee),
        "receipt_count": totals.receipt_count,
    }


def receipt_body(row: ReceiptRow) -> dict[str, Any]:
    """The §8.1 body of a stored receipt with the totals as of its insertion."""
    body: dict[str, Any] = orjson.loads(row.body_json)
    body["cumulative"] = cumulative_body(row.cumulative)
    return body


async def _caller_key(request: Request, payments: Payments) -> KeyRecord | None:
    token = compose_token_of(request.headers.get("authorization"))
    return None if token is None else await payments.compose_keys.validate(token)


def _int_param(request: Request, name: str, default: int, low: int, high: int, message: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise GatewayError(400, "invalid_request", message, param=name)
    return int(text)


@router.get("/api/receipts/{receipt_id}")
async def get_receipt(request: Request) -> Response:
    """200 ``{"receipt": {…}}``; 404 ``receipt_not_found`` (also for a refused owner check)."""
    receipt_id: str = request.path_params["receipt_id"]
    payments = payments_of(request)
    key = await _caller_key(request, payments)
    with store_errors():
        row = await payments.store.get_receipt(receipt_id)
    visible = row is not None and (
        row.payment_method != "compose_key" or (key is not None and key.user_address == row.payer)
    )
    if row is None or not visible:
        raise GatewayError(404, "receipt_not_found", f"Receipt '{receipt_id}' not found")
    return json_response({"receipt": receipt_body(row)})


@router.get("/api/receipts")
async def list_receipts(request: Request) -> Response:
    """The key's wallet on the key's chain, newest first; ``cursor`` is a decimal offset."""
    payments = payments_of(request)
    key = await _caller_key(request, payments)
    if key is None:
        raise GatewayError(401, "compose_key_required", _KEY_REQUIRED)
    limit = _int_param(
        request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, f"limit must be an integer between 1 and {MAX_LIMIT}"
    )
    offset = _int_param(request, "cursor", 0, 0, _MAX_CURSOR, "cursor must be a non-negative integer offset")
    with store_errors():
        # One row more than asked says whether a next page exists; the totals cannot, since
        # pruned receipts still count in them.
        rows, totals = await payments.store.list_receipts(key.user_address, network_id(key.chain_id), limit + 1, offset)
    page = rows[:limit]
    return json_response(
        {
            "object": "list",
            "data": [receipt_body(row) for row in page],
            "next_cursor": str(offset + limit) if len(rows) > limit else None,
            "cumulative": cumulative_body(totals),
        }
    )

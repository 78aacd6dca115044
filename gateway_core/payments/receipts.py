"""Receipt shapes (spec/payments.md §8): the snake_case body, the header, the SSE frame.

:func:`build_receipt` makes the §8.1 body; the other shapes derive from it, so the three can
never disagree: :func:`receipt_header` (§8.2) and :func:`receipt_frame` (§8.3) only rename keys
to camelCase and drop or add what their section says.

Amounts are digit strings (atomic USDC can exceed what JSON clients hold exactly in a double);
``quantity`` and ``unit_price_usd`` are JSON numbers, as in the §8.1 example. They are
converted from ``Decimal`` to ``int`` or ``float`` only for display: a float built from the
decimal's text prints back as that text.
"""

from __future__ import annotations

import base64
import functools
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from gateway_core.payments.pricing import LineItem, Metered

__all__ = [
    "HEADER_LIMIT",
    "build_receipt",
    "new_receipt_id",
    "receipt_frame",
    "receipt_header",
    "with_cumulative",
]

# §8.2: above this many characters of encoded value, the header drops the itemization.
HEADER_LIMIT = 8 * 1024

_FRAME_TYPE = "compose.receipt"
_CUMULATIVE_AMOUNTS = ("total_amount_wei", "provider_amount_wei", "platform_fee_wei")


def new_receipt_id() -> str:
    """``rct_`` + 32 lowercase hex digits from the OS CSPRNG."""
    return f"rct_{secrets.token_hex(16)}"


def build_receipt(
    *,
    receipt_id: str,
    action: str,
    resource: str,
    user_address: str,
    payment_method: str,
    metered: Metered,
    charged: int,
    usage_source: str,
    network: str,
    settlement_status: str,
    tx_hash: str | None,
    payment_intent_id: str | None,
    settled_at_ms: int,
    cumulative: Mapping[str, int],
) -> dict[str, Any]:
    """The §8.1 body field ``receipt``, keys in the order of the §8.1 table.

    :param charged: what was collected; ``final_amount_wei``. Below ``metered.final_amount``
        when a hold or authorization capped it, the rest shows as ``uncollected_amount_wei``.
    :param cumulative: ``total_amount_wei``, ``provider_amount_wei``, ``platform_fee_wei``
        and ``receipt_count`` over the payer's receipts on ``network``, this one included.
    :param tx_hash: omitted when ``None`` (no transaction).
    :param payment_intent_id: the hold id of Compose Key payments; omitted when ``None``.
    :raises ValueError: ``charged`` is negative or above the metered final amount.
    """
    if not 0 <= charged <= metered.final_amount:
        raise ValueError(f"charged {charged} is outside [0, {metered.final_amount}]")
    line_items = [_line_item(item) for item in metered.items]
    receipt: dict[str, Any] = {
        "id": receipt_id,
        "service": "inference",
        "action": action,
        "resource": resource,
        "user_address": user_address.lower(),
        "payment_method": payment_method,
        "subject": metered.subject,
        "line_items": line_items,
        "bills": [
            {
                "kind": "model",
                "source": "inference",
                "action": action,
                "subject": metered.subject,
                "amount_wei": str(metered.provider_amount),
                "line_items": [dict(item) for item in line_items],
            }
        ],
        "provider_amount_wei": str(metered.provider_amount),
        "platform_fee_wei": str(metered.platform_fee),
        "final_amount_wei": str(charged),
    }
    if charged < metered.final_amount:
        receipt["uncollected_amount_wei"] = str(metered.final_amount - charged)
    receipt["usage_source"] = usage_source
    receipt["network"] = network
    receipt["settlement_status"] = settlement_status
    if tx_hash is not None:
        receipt["tx_hash"] = tx_hash
    if payment_intent_id is not None:
        receipt["payment_intent_id"] = payment_intent_id
    receipt["settled_at"] = settled_at_ms
    return with_cumulative(receipt, cumulative)


def with_cumulative(receipt: Mapping[str, Any], cumulative: Mapping[str, int]) -> dict[str, Any]:
    """``receipt`` (a §8.1 body without ``cumulative``) with the payer's running totals, the
    last field: amounts as digit strings, ``receipt_count`` a number."""
    totals: dict[str, Any] = {name: str(cumulative[name]) for name in _CUMULATIVE_AMOUNTS}
    totals["receipt_count"] = cumulative["receipt_count"]
    return {**receipt, "cumulative": totals}


def _line_item(item: LineItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "unit": item.unit,
        "quantity": _number(item.quantity),
        "unit_price_usd": _number(item.unit_price_usd),
        "amount_wei": str(item.amount_wei),
    }


def _number(value: int | Decimal) -> int | float:
    if isinstance(value, int):
        return value
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def receipt_header(receipt: Mapping[str, Any]) -> str:
    """The ``X-Compose-Receipt`` / ``X-Receipt`` value (§8.2): base64url without padding of
    the compact camelCase JSON; ``bills`` and ``lineItems`` are left out when the value would
    exceed :data:`HEADER_LIMIT` characters.

    :param receipt: a §8.1 body (camelCase keys are accepted as they are).
    """
    camel = _camel(receipt)
    value = _encode(camel)
    if len(value) > HEADER_LIMIT:
        value = _encode({key: item for key, item in camel.items() if key not in ("bills", "lineItems")})
    return value


def _encode(data: Mapping[str, Any]) -> str:
    # orjson writes compact UTF-8 (non-ASCII as is), keys in insertion order.
    return base64.urlsafe_b64encode(orjson.dumps(data, default=_json_default)).rstrip(b"=").decode("ascii")


def _json_default(value: Any) -> Any:
    # Receipts built by hand may still carry line-item decimals.
    if isinstance(value, Decimal):
        return _number(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def receipt_frame(receipt: Mapping[str, Any], *, chat: bool) -> dict[str, Any]:
    """The ``data`` of the ``compose.receipt`` SSE frame (§8.3).

    ``type`` and ``object`` first, then ``"choices": []`` on chat-completion streams (so
    clients that skip choice-less chunks skip it), then the §8.2 fields with ``subject``
    renamed ``meterSubject``. Nothing is dropped: the 8 KiB rule is for headers only.
    """
    frame: dict[str, Any] = {"type": _FRAME_TYPE, "object": _FRAME_TYPE}
    if chat:
        frame["choices"] = []
    for key, value in _camel(receipt).items():
        frame["meterSubject" if key == "subject" else key] = value
    return frame


def _camel(value: Any) -> Any:
    kind = type(value)
    # Exact types first: receipts are plain dicts, lists and scalars, and the ABC check on
    # every leaf was a third of rendering the header.
    if kind is str or kind is int or kind is float or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {_camel_key(key): _camel(item) for key, item in value.items()}
    if kind is list or isinstance(value, list | tuple):
        return [_camel(item) for item in value]
    return value


@functools.lru_cache(maxsize=1024)  # receipt field names: a handful, converted once each
def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)

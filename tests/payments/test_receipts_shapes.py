"""Receipt body, header and SSE frame (spec/payments.md §8)."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from gateway_core.payments.pricing import LineItem, Metered
from gateway_core.payments.receipts import (
    HEADER_LIMIT,
    build_receipt,
    new_receipt_id,
    receipt_frame,
    receipt_header,
)

TOKENS = "usd_per_1m_tokens"
EXAMPLE_A = Metered(
    subject="sandbox:sandbox-echo",
    items=(
        LineItem("input_tokens", TOKENS, 29, Decimal("0.25"), 8),
        LineItem("output_tokens", TOKENS, 9, Decimal("1.5"), 14),
    ),
    provider_amount=22,
    platform_fee=1,
    final_amount=23,
)
TX = "0x7cd3b8f0e1a2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b8d12"
ITEMS = [
    {"key": "input_tokens", "unit": TOKENS, "quantity": 29, "unit_price_usd": 0.25, "amount_wei": "8"},
    {"key": "output_tokens", "unit": TOKENS, "quantity": 9, "unit_price_usd": 1.5, "amount_wei": "14"},
]


def receipt(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "receipt_id": "rct_6f1d2c3b4a5e46f7a8b9c0d1e2f3a4b5",
        "action": "POST /v1/chat/completions",
        "resource": "http://127.0.0.1:3000/v1/chat/completions",
        "user_address": "0x2222222222222222222222222222222222222222",
        "payment_method": "x402",
        "metered": EXAMPLE_A,
        "charged": 23,
        "usage_source": "provider",
        "network": "eip155:31337",
        "settlement_status": "settled",
        "tx_hash": TX,
        "payment_intent_id": None,
        "settled_at_ms": 1767225600123,
        "cumulative": {"total_amount_wei": 23, "provider_amount_wei": 22, "platform_fee_wei": 1, "receipt_count": 1},
    }
    return build_receipt(**{**arguments, **overrides})


def decode_bytes(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def decode(value: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(decode_bytes(value))
    return decoded


# --- §8.1 body ----------------------------------------------------------------------------------


def test_body_matches_spec_example() -> None:
    assert receipt() == {
        "id": "rct_6f1d2c3b4a5e46f7a8b9c0d1e2f3a4b5",
        "service": "inference",
        "action": "POST /v1/chat/completions",
        "resource": "http://127.0.0.1:3000/v1/chat/completions",
        "user_address": "0x2222222222222222222222222222222222222222",
        "payment_method": "x402",
        "subject": "sandbox:sandbox-echo",
        "line_items": ITEMS,
        "bills": [
            {
                "kind": "model",
                "source": "inference",
                "action": "POST /v1/chat/completions",
                "subject": "sandbox:sandbox-echo",
                "amount_wei": "22",
                "line_items": ITEMS,
            }
        ],
        "provider_amount_wei": "22",
        "platform_fee_wei": "1",
        "final_amount_wei": "23",
        "usage_source": "provider",
        "network": "eip155:31337",
        "settlement_status": "settled",
        "tx_hash": TX,
        "settled_at": 1767225600123,
        "cumulative": {
            "total_amount_wei": "23",
            "provider_amount_wei": "22",
            "platform_fee_wei": "1",
            "receipt_count": 1,
        },
    }


def test_body_key_order_follows_the_table() -> None:
    body = receipt(charged=20, payment_intent_id="hold_1")
    assert list(body) == [
        "id",
        "service",
        "action",
        "resource",
        "user_address",
        "payment_method",
        "subject",
        "line_items",
        "bills",
        "provider_amount_wei",
        "platform_fee_wei",
        "final_amount_wei",
        "uncollected_amount_wei",
        "usage_source",
        "network",
        "settlement_status",
        "tx_hash",
        "payment_intent_id",
        "settled_at",
        "cumulative",
    ]


@pytest.mark.parametrize(
    ("charged", "final", "uncollected"),
    [
        pytest.param(23, "23", None, id="full"),
        pytest.param(20, "20", "3", id="capped"),
        pytest.param(0, "0", "23", id="nothing-collected"),
    ],
)
def test_uncollected_only_when_positive(charged: int, final: str, uncollected: str | None) -> None:
    body = receipt(charged=charged)
    assert body["final_amount_wei"] == final
    assert body.get("uncollected_amount_wei") == uncollected
    assert (body["provider_amount_wei"], body["platform_fee_wei"]) == ("22", "1")


@pytest.mark.parametrize("charged", [pytest.param(24, id="above-final"), pytest.param(-1, id="negative")])
def test_charged_out_of_range(charged: int) -> None:
    with pytest.raises(ValueError, match="charged"):
        receipt(charged=charged)


def test_optional_fields_omitted_and_address_lowercased() -> None:
    body = receipt(tx_hash=None, payment_intent_id=None, user_address="0xABCDEFabcdef")
    assert "tx_hash" not in body and "payment_intent_id" not in body
    assert body["user_address"] == "0xabcdefabcdef"
    assert receipt(payment_intent_id="hold_9")["payment_intent_id"] == "hold_9"


def test_zero_amount_receipt() -> None:
    body = receipt(metered=Metered("p:m", (), 0, 0, 0), charged=0)
    assert body["line_items"] == [] and body["bills"][0]["line_items"] == []
    assert (body["provider_amount_wei"], body["platform_fee_wei"], body["final_amount_wei"]) == ("0", "0", "0")


def test_fractional_quantities_are_json_numbers() -> None:
    item = LineItem("minute", "usd_per_minute", Decimal("3.2") / 60, Decimal("0.006"), 320)
    body = receipt(metered=Metered("p:m", (item,), 320, 4, 324), charged=324)
    text = json.dumps(body["line_items"])
    assert '"quantity": 0.05333333333333334' in text and '"unit_price_usd": 0.006' in text


def test_bills_line_items_are_copies() -> None:
    body = receipt()
    body["line_items"][0]["key"] = "changed"
    assert body["bills"][0]["line_items"][0]["key"] == "input_tokens"


# --- §8.2 header --------------------------------------------------------------------------------


def test_header_minimal_example_byte_for_byte() -> None:
    minimal = {
        "id": "rct_6f1d2c3b4a5e46f7a8b9c0d1e2f3a4b5",
        "final_amount_wei": "23",
        "network": "eip155:31337",
        "settled_at": 1767225600123,
    }
    assert receipt_header(minimal) == (
        "eyJpZCI6InJjdF82ZjFkMmMzYjRhNWU0NmY3YThiOWMwZDFlMmYzYTRiNSIsImZpbmFsQW1vdW50V2VpIjoiMjMiLCJuZXR3b3JrIjoiZWlwMTU1Oj"
        "MxMzM3Iiwic2V0dGxlZEF0IjoxNzY3MjI1NjAwMTIzfQ"
    )


def test_header_full_receipt_is_camel_case() -> None:
    value = receipt_header(receipt(charged=20, payment_intent_id="hold_1"))
    assert "=" not in value and re.fullmatch(r"[A-Za-z0-9_-]+", value)
    decoded = decode(value)
    assert list(decoded) == [
        "id",
        "service",
        "action",
        "resource",
        "userAddress",
        "paymentMethod",
        "subject",
        "lineItems",
        "bills",
        "providerAmountWei",
        "platformFeeWei",
        "finalAmountWei",
        "uncollectedAmountWei",
        "usageSource",
        "network",
        "settlementStatus",
        "txHash",
        "paymentIntentId",
        "settledAt",
        "cumulative",
    ]
    assert decoded["lineItems"][0] == {
        "key": "input_tokens",
        "unit": TOKENS,
        "quantity": 29,
        "unitPriceUsd": 0.25,
        "amountWei": "8",
    }
    assert list(decoded["bills"][0]) == ["kind", "source", "action", "subject", "amountWei", "lineItems"]
    assert decoded["cumulative"] == {
        "totalAmountWei": "23",
        "providerAmountWei": "22",
        "platformFeeWei": "1",
        "receiptCount": 1,
    }


def test_header_is_compact_json() -> None:
    text = decode_bytes(receipt_header(receipt())).decode()
    assert ": " not in text and ", " not in text


def many_items(count: int) -> Metered:
    items = tuple(LineItem(f"item_{i}_tokens", TOKENS, i + 1, Decimal("0.25"), 1) for i in range(count))
    return Metered("p:m", items, count, 1, count + 1)


def test_header_drops_itemization_above_8_kib() -> None:
    body = receipt(metered=many_items(100), charged=101)
    value = receipt_header(body)
    assert len(value) <= HEADER_LIMIT
    decoded = decode(value)
    assert "bills" not in decoded and "lineItems" not in decoded
    assert decoded["finalAmountWei"] == "101" and decoded["subject"] == "p:m"


def padded_to(encoded_length: int) -> dict[str, Any]:
    """A receipt whose full header value has exactly ``encoded_length`` (a multiple of 4)
    characters: unpadded base64 of 3k bytes has 4k characters."""
    body = receipt(metered=many_items(2), charged=3, resource="")
    json_bytes = len(decode_bytes(receipt_header(body)))
    return {**body, "resource": "x" * (encoded_length * 3 // 4 - json_bytes)}


@pytest.mark.parametrize(
    ("length", "itemized"),
    [
        pytest.param(HEADER_LIMIT, True, id="exactly-8-kib-kept"),
        pytest.param(HEADER_LIMIT + 4, False, id="over-dropped"),
    ],
)
def test_header_limit_boundary(length: int, itemized: bool) -> None:
    body = padded_to(length)
    value = receipt_header(body)
    assert ("lineItems" in decode(value)) is itemized
    if itemized:
        assert len(value) == length


# --- §8.3 frame ---------------------------------------------------------------------------------


def test_frame_on_chat_streams() -> None:
    frame = receipt_frame(receipt(), chat=True)
    assert list(frame)[:4] == ["type", "object", "choices", "id"]
    assert frame["type"] == frame["object"] == "compose.receipt"
    assert frame["choices"] == []
    assert frame["meterSubject"] == "sandbox:sandbox-echo" and "subject" not in frame
    assert frame["bills"][0]["subject"] == "sandbox:sandbox-echo"
    assert frame["lineItems"][1]["unitPriceUsd"] == 1.5
    assert (frame["finalAmountWei"], frame["txHash"], frame["settledAt"]) == ("23", TX, 1767225600123)


def test_frame_on_other_streams_has_no_choices() -> None:
    frame = receipt_frame(receipt(), chat=False)
    assert "choices" not in frame
    expected = {
        ("meterSubject" if key == "subject" else key): value for key, value in decode(receipt_header(receipt())).items()
    }
    assert {key: value for key, value in frame.items() if key not in ("type", "object")} == expected


def test_frame_keeps_itemization_of_large_receipts() -> None:
    frame = receipt_frame(receipt(metered=many_items(100), charged=101), chat=False)
    assert len(frame["lineItems"]) == 100 and len(frame["bills"][0]["lineItems"]) == 100


# --- ids ----------------------------------------------------------------------------------------


def test_new_receipt_id() -> None:
    ids = {new_receipt_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"rct_[0-9a-f]{32}", value) for value in ids)

"""Metering a finished call (spec/payments.md §7): line items, sections, rounding, fee."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway_core.catalog import Catalog
from gateway_core.payments.pricing import LineItem, Metered, PricingError, meter
from gateway_core.types.output import Usage

REPO = Path(__file__).resolve().parents[2]
TOKENS = "usd_per_1m_tokens"
ECHO_PRICES = {"input": 0.25, "cached_input": 0.025, "output": 1.5}


def row(*sections: dict[str, Any], model: str = "m") -> dict[str, Any]:
    return {"modelId": model, "provider": "p", "pricing": {"sections": list(sections)}}


def tokens(entries: dict[str, float], unit_key: str = TOKENS, **extra: Any) -> dict[str, Any]:
    return {"unitKey": unit_key, "entries": entries, **extra}


def shipped(model_id: str) -> dict[str, Any]:
    found = Catalog.load([REPO / "catalog.yaml"]).resolve(model_id)
    assert found is not None
    return found.data


def summary(metered: Metered) -> list[tuple[str, int | Decimal, int]]:
    return [(item.key, item.quantity, item.amount_wei) for item in metered.items]


# --- §7.5 worked examples ---------------------------------------------------------------------


def test_example_a_plain_tokens() -> None:
    metered = meter(shipped("sandbox-echo"), Usage(prompt_tokens=29, completion_tokens=9), fee_bps=100)
    assert metered == Metered(
        subject="sandbox:sandbox-echo",
        items=(
            LineItem("input_tokens", TOKENS, 29, Decimal("0.25"), 8),
            LineItem("output_tokens", TOKENS, 9, Decimal("1.5"), 14),
        ),
        provider_amount=22,
        platform_fee=1,
        final_amount=23,
    )


def test_example_b_cached_and_unpriced_reasoning() -> None:
    usage = Usage(prompt_tokens=10_000, cached_input_tokens=8_000, completion_tokens=500, reasoning_tokens=200)
    metered = meter(row(tokens(ECHO_PRICES)), usage, fee_bps=100)
    assert summary(metered) == [
        ("cached_input_tokens", 8000, 200),
        ("input_tokens", 2000, 500),
        ("output_tokens", 500, 750),
    ]
    assert (metered.provider_amount, metered.platform_fee, metered.final_amount) == (1450, 15, 1465)


def test_example_c_sandbox_image_size_entry() -> None:
    metrics = {"request": 1, "generation": 2, "image": 2, "size": "1536x1024", "width": 1536, "height": 1024}
    metered = meter(shipped("sandbox-image"), None, metrics=metrics, fee_bps=100, modality="image")
    assert metered.items == (LineItem("generation", "usd_per_image", 2, Decimal("0.06"), 120_000),)
    assert (metered.provider_amount, metered.platform_fee, metered.final_amount) == (120_000, 1200, 121_200)


# --- token items (§7.2 step 3) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "usage", "expected"),
    [
        pytest.param(
            {"input": 1, "output": 2, "reasoning": 4},
            Usage(prompt_tokens=10, completion_tokens=100, reasoning_tokens=30),
            [("input_tokens", 10, 10), ("output_tokens", 70, 140), ("reasoning_tokens", 30, 120)],
            id="reasoning-priced",
        ),
        pytest.param(
            {"input": 1, "output": 2, "reasoning": 4},
            Usage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=50),
            [("input_tokens", 10, 10), ("reasoning_tokens", 20, 80)],
            id="reasoning-clamped-to-completion",
        ),
        pytest.param(
            {"input": 1, "cached_input": 0.5, "output": 2},
            Usage(prompt_tokens=10, completion_tokens=0, cached_input_tokens=40),
            [("cached_input_tokens", 10, 5)],
            id="cached-clamped-to-prompt",
        ),
        pytest.param(
            {"input": 1, "output": 2},
            Usage(prompt_tokens=10, completion_tokens=5, cached_input_tokens=8),
            [("input_tokens", 10, 10), ("output_tokens", 5, 10)],
            id="cached-without-price-is-input",
        ),
        pytest.param(
            {"input": 0.02},
            Usage(prompt_tokens=3, completion_tokens=0),
            [("input_tokens", 3, 1)],
            id="embeddings-input-only",
        ),
        pytest.param(
            {"input": 1, "output": 2},
            Usage(prompt_tokens=7),
            [("input_tokens", 7, 7)],
            id="completion-missing",
        ),
        pytest.param({"cost": 3}, Usage(prompt_tokens=10, completion_tokens=5), [("tokens", 15, 45)], id="cost-only"),
        pytest.param(
            {"cost": 3, "cache_write": 9},
            Usage(prompt_tokens=10, completion_tokens=5),
            [("tokens", 15, 45)],
            id="cost-only-with-display-entry",
        ),
        pytest.param(
            {"input": 1, "output": 2, "cost": 100},
            Usage(prompt_tokens=10, completion_tokens=5),
            [("input_tokens", 10, 10), ("output_tokens", 5, 10)],
            id="cost-ignored-beside-input-output",
        ),
        pytest.param({"input": 1, "output": 2}, Usage(), [], id="no-counts"),
    ],
)
def test_token_items(entries: dict[str, float], usage: Usage, expected: list[tuple[str, int, int]]) -> None:
    assert summary(meter(row(tokens(entries)), usage, fee_bps=0)) == expected


def test_token_scale_from_unit_key() -> None:
    metered = meter(row(tokens({"input": 0.5}, "usd_per_1k_tokens")), Usage(prompt_tokens=3), fee_bps=0)
    assert metered.items == (LineItem("input_tokens", "usd_per_1k_tokens", 3, Decimal("0.5"), 1500),)


def test_no_usage_no_token_items() -> None:
    metered = meter(row(tokens(ECHO_PRICES)), None, fee_bps=100)
    assert metered == Metered("p:m", (), 0, 0, 0)


# --- tiers (§7.2 step 2) ----------------------------------------------------------------------

TIERED = row(
    tokens({"input": 1}, header="Short", maxPromptTokens=1000),
    tokens({"input": 2}, header="Long", minPromptTokens=1000),
    tokens({"input": 3}, header="Fallback", default=True),
)


@pytest.mark.parametrize(
    ("prompt", "price"),
    [
        pytest.param(1, Decimal(1), id="low-tier"),
        pytest.param(1000, Decimal(1), id="max-bound-inclusive"),
        pytest.param(1001, Decimal(2), id="min-bound-exclusive"),
        pytest.param(10**9, Decimal(2), id="unbounded-above"),
    ],
)
def test_tier_bounds(prompt: int, price: Decimal) -> None:
    (item,) = meter(TIERED, Usage(prompt_tokens=prompt), fee_bps=0).items
    assert item.unit_price_usd == price


@pytest.mark.parametrize(
    ("sections", "price"),
    [
        pytest.param(
            [tokens({"input": 1}, maxPromptTokens=10), tokens({"input": 2}, default=True)], Decimal(2), id="default"
        ),
        pytest.param([tokens({"input": 1}, maxPromptTokens=10), tokens({"input": 2})], Decimal(1), id="first"),
        pytest.param([tokens({"input": 1}), tokens({"input": 2}, minPromptTokens=50)], Decimal(2), id="bounded-wins"),
    ],
)
def test_tier_fallbacks(sections: list[dict[str, Any]], price: Decimal) -> None:
    (item,) = meter(row(*sections), Usage(prompt_tokens=100), fee_bps=0).items
    assert item.unit_price_usd == price


# --- categories (§7.2 step 1) -----------------------------------------------------------------

CATEGORIES = row(
    tokens({"input": 1, "cached_input": 0.5, "output": 4}, "usd_per_1m_text_tokens", default=True),
    tokens({"input": 10, "output": 20}, "usd_per_1m_audio_tokens"),
)


def test_category_sections_bill_their_metrics() -> None:
    metrics: dict[str, float | int | str] = {
        "input_text_tokens": 100,
        "cached_input_text_tokens": 40,
        "output_text_tokens": 10,
        "input_audio_tokens": 50,
    }
    usage = Usage(prompt_tokens=150, completion_tokens=10, billing_metrics=metrics)
    assert summary(meter(CATEGORIES, usage, fee_bps=0)) == [
        ("text_cached_input_tokens", 40, 20),
        ("text_input_tokens", 60, 60),
        ("text_output_tokens", 10, 40),
        ("audio_input_tokens", 50, 500),
    ]


def test_categories_without_metrics_bill_generic_usage_once() -> None:
    usage = Usage(prompt_tokens=100, completion_tokens=10, billing_metrics={"other": 1})
    assert summary(meter(CATEGORIES, usage, fee_bps=0)) == [("input_tokens", 100, 100), ("output_tokens", 10, 40)]


def test_header_category_when_several_token_sections() -> None:
    priced = row(
        tokens({"input": 1}, header="Text tokens", default=True),
        tokens({"input": 7}, header="Image tokens"),
    )
    usage = Usage(prompt_tokens=9, billing_metrics={"input_image_tokens": 3})
    assert summary(meter(priced, usage, fee_bps=0)) == [("image_input_tokens", 3, 21)]


def test_header_is_no_category_for_a_single_section() -> None:
    priced = row(tokens({"input": 1}, header="Text tokens"))
    usage = Usage(prompt_tokens=9, billing_metrics={"input_text_tokens": 3})
    assert summary(meter(priced, usage, fee_bps=0)) == [("input_tokens", 9, 9)]


def test_category_tiers_use_the_call_prompt() -> None:
    priced = row(
        tokens({"input": 1}, header="Text tokens", maxPromptTokens=100),
        tokens({"input": 2}, header="Text tokens", minPromptTokens=100),
    )
    usage = Usage(prompt_tokens=500, billing_metrics={"input_text_tokens": 10})
    assert summary(meter(priced, usage, fee_bps=0)) == [("text_input_tokens", 10, 20)]


# --- media sections (§7.3) --------------------------------------------------------------------


def media(unit_key: str, entries: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"unitKey": unit_key, "entries": entries, **extra}


IMAGE_ENTRIES = {"image": 0.04, "1536x1024": 0.06, "HD": 0.08, "720p": 0.09}


@pytest.mark.parametrize(
    ("entries", "metrics", "price"),
    [
        pytest.param(IMAGE_ENTRIES, {"image": 1, "size": "1536x1024"}, "0.06", id="size"),
        pytest.param(IMAGE_ENTRIES, {"image": 1, "size": "1536X1024"}, "0.06", id="size-case-insensitive"),
        pytest.param(IMAGE_ENTRIES, {"image": 1, "size": "auto", "quality": "hd"}, "0.08", id="quality"),
        pytest.param(IMAGE_ENTRIES, {"image": 1, "resolution": "720P"}, "0.09", id="resolution"),
        pytest.param(
            IMAGE_ENTRIES, {"image": 1, "size": "1536x1024", "quality": "hd"}, "0.06", id="size-before-quality"
        ),
        pytest.param(IMAGE_ENTRIES, {"image": 1, "size": "1024x1024"}, "0.04", id="key-alias-image"),
        pytest.param({"generation": 0.5, "output": 9}, {"image": 1}, "0.5", id="key-itself"),
        pytest.param({"VIDEO": 0.7, "output": 9}, {"generation": 1}, "0.7", id="alias-video"),
        pytest.param({"per_image": 0.3, "output": 9}, {"image": 1}, "0.3", id="per-key"),
        pytest.param({"output": 0.2, "cost": 9}, {"image": 1}, "0.2", id="output"),
        pytest.param({"cost": 0.2, "price": 9}, {"image": 1}, "0.2", id="cost"),
        pytest.param({"price": 0.2, "foo": 9}, {"image": 1}, "0.2", id="price"),
        pytest.param({"anything": 0.2}, {"image": 1}, "0.2", id="only-entry"),
        pytest.param({"a": 0.2, "b": 0.3}, {"image": 1}, None, id="no-match-skipped"),
    ],
)
def test_media_entry_matching(entries: dict[str, float], metrics: dict[str, Any], price: str | None) -> None:
    metered = meter(row(media("usd_per_image", entries)), None, metrics=metrics, fee_bps=0, modality="image")
    assert [item.unit_price_usd for item in metered.items] == ([] if price is None else [Decimal(price)])


def test_second_entry_alias_duration() -> None:
    priced = row(media("usd_per_second", {"duration": 0.1, "output": 9}))
    metered = meter(priced, None, metrics={"second": 4}, fee_bps=100, modality="video")
    assert summary(metered) == [("second", 4, 400_000)] and metered.final_amount == 404_000


@pytest.mark.parametrize(
    ("unit_key", "price", "metrics", "expected"),
    [
        pytest.param("usd_per_1k_characters", 0.015, {"character": 1234}, ("character", 1234, 18_510), id="characters"),
        pytest.param("usd_per_minute", 0.006, {"second": 3.2}, ("minute", Decimal("3.2") / 60, 320), id="minute-exact"),
        pytest.param("usd_per_hour", 0.36, {"second": 10}, ("hour", Decimal(1) / 360, 1000), id="hour-exact"),
        pytest.param("usd_per_5_seconds", 0.5, {"second": 7.5}, ("second", Decimal("7.5"), 750_000), id="n-seconds"),
        pytest.param(
            "usd_per_megapixel", 0.01, {"pixel": 1_572_864}, ("megapixel", Decimal("1.572864"), 15_729), id="mp"
        ),
        pytest.param("usd_per_request", 0.002, {}, ("request", 1, 2000), id="request-always-one"),
        pytest.param("usd_per_second", 0.0001, {"second": 0.001}, ("second", Decimal("0.001"), 1), id="tiny-to-1"),
        pytest.param("usd_per_1k_pages", 1, {"page": 3}, ("page", 3, 3000), id="scaled-word"),
    ],
)
def test_media_quantities(
    unit_key: str, price: float, metrics: dict[str, Any], expected: tuple[str, int | Decimal, int]
) -> None:
    metered = meter(row(media(unit_key, {"output": price})), None, metrics=metrics, fee_bps=0, modality="audio")
    (item,) = metered.items
    key, quantity, amount = expected
    assert (item.key, item.amount_wei) == (key, amount)
    assert abs(Decimal(item.quantity) - Decimal(quantity)) < Decimal("1e-20")


def test_minute_is_derived_exactly_from_second() -> None:
    # 3.2 s at $0.006/min is exactly 320 wei; the float 3.2/60 would round up to 321.
    priced = row(media("usd_per_minute", {"output": 0.006}))
    metered = meter(priced, None, metrics={"second": 3.2, "minute": 3.2 / 60}, fee_bps=0, modality="speech-to-text")
    assert metered.provider_amount == 320


@pytest.mark.parametrize(
    ("sections", "metrics", "keys"),
    [
        pytest.param(
            [media("usd_per_request", {"output": 1}), media("usd_per_second", {"output": 1})],
            {"second": 2},
            ["request"],
            id="first-known-when-none-flagged",
        ),
        pytest.param(
            [media("usd_per_minute", {"output": 1}), media("usd_per_request", {"output": 1})],
            {},
            ["request"],
            id="unknown-quantity-skipped",
        ),
        pytest.param(
            [
                media("usd_per_request", {"output": 1}),
                media("usd_per_second", {"output": 1}, default=True),
                media("usd_per_1k_characters", {"output": 1}, default=True),
            ],
            {"second": 2, "character": 10},
            ["second", "character"],
            id="every-known-default",
        ),
        pytest.param(
            [media("usd_per_second", {"output": 1}, default=True), media("usd_per_request", {"output": 1})],
            {},
            ["request"],
            id="unknown-default-falls-back-to-first-known",
        ),
    ],
)
def test_media_section_selection(sections: list[dict[str, Any]], metrics: dict[str, Any], keys: list[str]) -> None:
    metered = meter(row(*sections), None, metrics=metrics, fee_bps=0, modality="video")
    assert [item.key for item in metered.items] == keys


def test_media_sections_skip_text_calls_on_token_rows() -> None:
    priced = row(tokens({"input": 1}), media("usd_per_request", {"output": 1}))
    assert summary(meter(priced, Usage(prompt_tokens=5), fee_bps=0)) == [("input_tokens", 5, 5)]


def test_request_pricing_applies_to_text_calls_without_token_sections() -> None:
    priced = row(media("usd_per_request", {"price": 0.01}))
    assert summary(meter(priced, Usage(prompt_tokens=5, completion_tokens=1), fee_bps=0)) == [("request", 1, 10_000)]


def test_provider_token_usage_on_media_calls() -> None:
    priced = row(tokens({"input": 5, "output": 40}, "usd_per_1m_image_tokens"), media("usd_per_image", {"image": 0.01}))
    usage = Usage(billing_metrics={"input_image_tokens": 10, "output_image_tokens": 1000})
    metered = meter(priced, usage, metrics={"image": 1}, fee_bps=0, modality="image")
    assert summary(metered) == [
        ("image_input_tokens", 10, 50),
        ("image_output_tokens", 1000, 40_000),
        ("generation", 1, 10_000),
    ]


def test_provider_billing_metrics_fill_missing_media_quantities() -> None:
    priced = row(media("usd_per_step", {"output": 0.001}))
    usage = Usage(billing_metrics={"step": 30, "size": "ignored"})
    metered = meter(priced, usage, metrics={"request": 1}, fee_bps=0, modality="image")
    assert summary(metered) == [("step", 30, 30_000)]


# --- rounding and fee (§7.4) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit_key", "entries", "usage", "expected"),
    [
        pytest.param(
            TOKENS, {"input": 0.000001}, Usage(prompt_tokens=1), [("input_tokens", 1, 1)], id="tiny-rounds-to-1"
        ),
        pytest.param(TOKENS, {"input": 1}, Usage(prompt_tokens=1), [("input_tokens", 1, 1)], id="exact-1"),
        pytest.param(TOKENS, {"input": 1}, Usage(prompt_tokens=0, completion_tokens=0), [], id="zero-no-item"),
        pytest.param(TOKENS, {"input": 0.3}, Usage(prompt_tokens=10), [("input_tokens", 10, 3)], id="no-float-error"),
        pytest.param(TOKENS, {"input": 0.1}, Usage(prompt_tokens=30), [("input_tokens", 30, 3)], id="no-float-error-2"),
        pytest.param(TOKENS, {"input": 1.1}, Usage(prompt_tokens=3), [("input_tokens", 3, 4)], id="ceil"),
        pytest.param("usd_per_3k_tokens", {"input": 1}, Usage(prompt_tokens=1), [("input_tokens", 1, 334)], id="third"),
    ],
)
def test_rounding(unit_key: str, entries: dict[str, float], usage: Usage, expected: list[tuple[str, int, int]]) -> None:
    assert summary(meter(row(tokens(entries, unit_key)), usage, fee_bps=0)) == expected


def test_zero_media_quantity_is_free() -> None:
    metered = meter(
        row(media("usd_per_image", {"image": 0.04})), None, metrics={"image": 0}, fee_bps=100, modality="image"
    )
    assert metered == Metered("p:m", (), 0, 0, 0)


@pytest.mark.parametrize(
    ("provider_wei", "fee_bps", "fee"),
    [
        pytest.param(22, 100, 1, id="fraction-rounds-up"),
        pytest.param(1450, 100, 15, id="half-rounds-up"),
        pytest.param(10_000, 100, 100, id="exact"),
        pytest.param(10_001, 100, 101, id="just-over"),
        pytest.param(1, 1, 1, id="minimum-positive"),
        pytest.param(500, 0, 0, id="no-fee"),
        pytest.param(0, 100, 0, id="zero-provider"),
        pytest.param(333, 250, 9, id="other-bps"),
    ],
)
def test_platform_fee(provider_wei: int, fee_bps: int, fee: int) -> None:
    # usd_per_1m_tokens at $1: one wei per token.
    usage = Usage(prompt_tokens=provider_wei)
    metered = meter(row(tokens({"input": 1})), usage, fee_bps=fee_bps)
    assert (metered.provider_amount, metered.platform_fee, metered.final_amount) == (
        provider_wei,
        fee,
        provider_wei + fee,
    )


def test_negative_fee_rejected() -> None:
    with pytest.raises(ValueError, match="fee_bps"):
        meter(row(tokens({"input": 1})), Usage(prompt_tokens=1), fee_bps=-1)


# --- unusable pricing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pricing",
    [
        pytest.param(None, id="missing"),
        pytest.param({"sections": []}, id="no-sections"),
        pytest.param({"sections": [{"unitKey": TOKENS, "entries": {"input": 0}}]}, id="all-zero"),
        pytest.param({"sections": [{"unitKey": TOKENS, "entries": {"cache_write": 1}}]}, id="display-only"),
        pytest.param({"sections": [{"unitKey": "eur_per_token", "entries": {"input": 1}}]}, id="malformed"),
        pytest.param("free", id="not-an-object"),
    ],
)
def test_unusable_pricing(pricing: Any) -> None:
    with pytest.raises(PricingError, match="p:m"):
        meter({"modelId": "m", "provider": "p", "pricing": pricing}, Usage(prompt_tokens=1), fee_bps=100)


def test_priced_row_without_matching_item_charges_zero() -> None:
    metered = meter(row(tokens({"output": 1})), Usage(prompt_tokens=5), fee_bps=100)
    assert metered == Metered("p:m", (), 0, 0, 0)


def test_single_section_shape_accepted() -> None:
    priced = {"modelId": "m", "provider": "p", "pricing": {"unit": "per_1m_tokens_usd", "values": {"cache_read": 1}}}
    usage = Usage(prompt_tokens=5, cached_input_tokens=5)
    assert summary(meter(priced, usage, fee_bps=0)) == [("cached_input_tokens", 5, 5)]

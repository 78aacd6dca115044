"""Pricing normalization and unit keys (spec/models.md §1.3)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.catalog import (
    UnitKey,
    canonicalize_unit_key,
    normalize_pricing,
    parse_unit_key,
    pricing_units,
    unit_display_text,
)
from gateway_core.catalog.errors import FieldError


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        pytest.param("usd_per_1m_tokens", "usd_per_1m_tokens", id="canonical"),
        pytest.param("USD_PER_1M_Tokens", "usd_per_1m_tokens", id="lowercased"),
        pytest.param("per_1m_tokens_usd", "usd_per_1m_tokens", id="reversed-form"),
        pytest.param("per_image_usd", "usd_per_image", id="reversed-media"),
        pytest.param("PER_1K_CHARACTERS_USD", "usd_per_1k_characters", id="reversed-uppercase"),
        pytest.param(" usd_per_second ", "usd_per_second", id="trimmed"),
    ],
)
def test_canonicalize_unit_key(raw: str, canonical: str) -> None:
    assert canonicalize_unit_key(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("per_million_tokens", id="no-usd"),
        pytest.param("usd_per_tokens", id="tokens-without-scale"),
        pytest.param("usd_per_images", id="plural-without-scale"),
        pytest.param("usd_per_0k_tokens", id="zero-scale"),
        pytest.param("usd_per_1.5k_tokens", id="decimal-scale"),
        pytest.param("eur_per_image", id="other-currency"),
        pytest.param("usd_per_", id="empty-fragment"),
        pytest.param("usd_per_1g_tokens", id="unknown-multiplier"),
        pytest.param("usd_per_seconds", id="bare-seconds"),
    ],
)
def test_canonicalize_unit_key_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not a canonical unit key"):
        canonicalize_unit_key(raw)


@pytest.mark.parametrize(
    ("unit_key", "expected"),
    [
        pytest.param("usd_per_1m_tokens", UnitKey("token", 10**6, "tokens"), id="1m-tokens"),
        pytest.param("usd_per_1k_tokens", UnitKey("token", 10**3, "tokens"), id="1k-tokens"),
        pytest.param("usd_per_10m_tokens", UnitKey("token", 10**7, "tokens"), id="10m-tokens"),
        pytest.param("usd_per_1m_text_tokens", UnitKey("token", 10**6, "tokens", "text"), id="text-category"),
        pytest.param("usd_per_1m_audio_tokens", UnitKey("token", 10**6, "tokens", "audio"), id="audio-category"),
        pytest.param("usd_per_2k_image_tokens", UnitKey("token", 2000, "tokens", "image"), id="scaled-category"),
        pytest.param("usd_per_image", UnitKey("media", 1, "generation"), id="image"),
        pytest.param("usd_per_video", UnitKey("media", 1, "generation"), id="video"),
        pytest.param("usd_per_generation", UnitKey("media", 1, "generation"), id="generation"),
        pytest.param("usd_per_request", UnitKey("media", 1, "request"), id="request"),
        pytest.param("usd_per_run", UnitKey("media", 1, "request"), id="run"),
        pytest.param("usd_per_call", UnitKey("media", 1, "request"), id="call"),
        pytest.param("usd_per_second", UnitKey("media", 1, "second"), id="second"),
        pytest.param("usd_per_5_seconds", UnitKey("media", 5, "second"), id="n-seconds"),
        pytest.param("usd_per_minute", UnitKey("media", 1, "minute"), id="minute"),
        pytest.param("usd_per_hour", UnitKey("media", 1, "hour"), id="hour"),
        pytest.param("usd_per_megapixel", UnitKey("media", 1, "megapixel"), id="megapixel"),
        pytest.param("usd_per_pixel", UnitKey("media", 1, "pixel"), id="pixel"),
        pytest.param("usd_per_character", UnitKey("media", 1, "character"), id="character"),
        pytest.param("usd_per_1k_characters", UnitKey("media", 1000, "character"), id="1k-characters"),
        pytest.param("usd_per_step", UnitKey("media", 1, "step"), id="step"),
        pytest.param("usd_per_page", UnitKey("media", 1, "page"), id="page"),
        pytest.param("usd_per_search", UnitKey("media", 1, "search"), id="search"),
        pytest.param("usd_per_1k_searches", UnitKey("media", 1000, "search"), id="es-plural"),
        pytest.param("usd_per_1k_images", UnitKey("media", 1000, "generation"), id="scaled-known-word"),
        pytest.param("usd_per_2m_widgets", UnitKey("media", 2 * 10**6, "widget"), id="generic-m"),
        pytest.param("per_1m_tokens_usd", UnitKey("token", 10**6, "tokens"), id="canonicalized-first"),
    ],
)
def test_parse_unit_key(unit_key: str, expected: UnitKey) -> None:
    assert parse_unit_key(unit_key) == expected


@pytest.mark.parametrize(
    ("unit_key", "text"),
    [
        pytest.param("usd_per_1m_tokens", "Per 1M tokens", id="1m-tokens"),
        pytest.param("usd_per_1k_tokens", "Per 1K tokens", id="1k-tokens"),
        pytest.param("usd_per_1k_characters", "Per 1K characters", id="1k-characters"),
        pytest.param("usd_per_10k_text_tokens", "Per 10K text tokens", id="k-underscores"),
        pytest.param("usd_per_5_seconds", "Per 5 seconds", id="n-seconds"),
        pytest.param("usd_per_image", "Per image", id="image"),
        pytest.param("usd_per_minute", "Per minute", id="minute"),
        pytest.param("usd_per_1m_text_tokens", "Per 1m text tokens", id="m-category-otherwise-rule"),
    ],
)
def test_unit_display_text(unit_key: str, text: str) -> None:
    assert unit_display_text(unit_key) == text


def test_normalize_full_section_shape() -> None:
    pricing = {
        "sections": [
            {
                "header": "Text tokens",
                "unitKey": "per_1m_tokens_usd",
                "entries": {"input": 0.25, "cache_read": 0.025, "output": 1.5, "reasoning": 0},
                "default": True,
                "minPromptTokens": 0,
                "maxPromptTokens": 200000,
                "extra": "dropped",
            }
        ],
        "note": "dropped",
    }
    assert normalize_pricing(pricing) == {
        "sections": [
            {
                "header": "Text tokens",
                "unit": "Per 1M tokens",
                "unitKey": "usd_per_1m_tokens",
                "entries": {"input": 0.25, "cached_input": 0.025, "output": 1.5},
                "default": True,
                "minPromptTokens": 0,
                "maxPromptTokens": 200000,
            }
        ]
    }


def test_single_section_shape_is_converted() -> None:
    pricing = {"unit": "usd_per_image", "values": {"image": 0.04, "hd": 0.08}}
    assert normalize_pricing(pricing) == {
        "sections": [{"unit": "Per image", "unitKey": "usd_per_image", "entries": {"image": 0.04, "hd": 0.08}}]
    }


def test_explicit_unit_text_is_kept() -> None:
    pricing = normalize_pricing({"sections": [{"unitKey": "usd_per_image", "unit": "Each", "entries": {"image": 1}}]})
    assert pricing is not None
    assert pricing["sections"][0]["unit"] == "Each"


def test_cached_input_wins_over_cache_read() -> None:
    pricing = normalize_pricing(
        {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"cache_read": 9, "cached_input": 1, "input": 2}}]}
    )
    assert pricing is not None
    assert pricing["sections"][0]["entries"] == {"cached_input": 1, "input": 2}


def test_all_zero_section_keeps_empty_entries() -> None:
    pricing = normalize_pricing({"sections": [{"unitKey": "usd_per_request", "entries": {"request": 0}}]})
    assert pricing == {"sections": [{"unit": "Per request", "unitKey": "usd_per_request", "entries": {}}]}


@pytest.mark.parametrize("value", [pytest.param(None, id="absent"), pytest.param({"sections": []}, id="no-sections")])
def test_no_pricing(value: Any) -> None:
    assert normalize_pricing(value) is None


@pytest.mark.parametrize(
    ("pricing", "field", "reason"),
    [
        pytest.param("cheap", "pricing", "must be an object", id="not-object"),
        pytest.param({"unit": "usd_per_image"}, "pricing.sections", "must be an array", id="no-sections"),
        pytest.param({"sections": ["x"]}, "pricing.sections[0]", "must be an object", id="section-not-object"),
        pytest.param({"sections": [{"entries": {}}]}, "pricing.sections[0].unitKey", "is required", id="no-unit-key"),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_banana", "entries": {}}]},
            "pricing.sections[0].unitKey",
            "not a canonical unit key",
            id="non-canonical",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image"}]}, "pricing.sections[0].entries", "is required", id="no-entries"
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {"image": -1}}]},
            "pricing.sections[0].entries.image",
            "must be >= 0",
            id="negative",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {"image": "0.04"}}]},
            "pricing.sections[0].entries.image",
            "must be a number",
            id="string-number",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {"image": True}}]},
            "pricing.sections[0].entries.image",
            "must be a number",
            id="boolean",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {"image": float("nan")}}]},
            "pricing.sections[0].entries.image",
            "must be a number",
            id="nan",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {1024: 0.1}}]},
            "pricing.sections[0].entries",
            "must be a string",
            id="non-string-entry-name",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_image", "entries": {}, "default": "yes"}]},
            "pricing.sections[0].default",
            "must be a boolean",
            id="default-not-bool",
        ),
        pytest.param(
            {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {}, "maxPromptTokens": -5}]},
            "pricing.sections[0].maxPromptTokens",
            "non-negative integer",
            id="negative-tier-bound",
        ),
    ],
)
def test_invalid_pricing(pricing: Any, field: str, reason: str) -> None:
    with pytest.raises(FieldError) as caught:
        normalize_pricing(pricing)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_pricing_units_keep_entry_order() -> None:
    pricing = normalize_pricing(
        {
            "sections": [
                {"header": "Text tokens", "unitKey": "usd_per_1m_tokens", "entries": {"output": 2, "input": 1}},
                {"unitKey": "usd_per_image", "entries": {"image": 0.1}, "default": False},
            ]
        }
    )
    assert pricing_units(pricing) == [
        {
            "unitKey": "usd_per_1m_tokens",
            "unit": "Per 1M tokens",
            "header": "Text tokens",
            "entries": {"output": 2, "input": 1},
            "valueKeys": ["output", "input"],
        },
        {
            "unitKey": "usd_per_image",
            "unit": "Per image",
            "entries": {"image": 0.1},
            "valueKeys": ["image"],
            "default": False,
        },
    ]
    assert pricing_units(None) == []

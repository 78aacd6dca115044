"""Modality catalogs and families (spec/models.md §3.6, §3.7)."""

from __future__ import annotations

from typing import Any

from gateway_core.catalog import Catalog, family_counts, merge_pricing_units, modality_entries, modality_entry

TOKENS: dict[str, Any] = {"unitKey": "usd_per_1m_tokens", "unit": "Per 1M tokens", "header": "Text tokens"}


def test_merge_collapses_same_shape_and_sorts_keys() -> None:
    units = [
        {**TOKENS, "entries": {"output": 2, "input": 1}, "valueKeys": ["output", "input"], "default": True},
        {**TOKENS, "entries": {"input": 5, "output": 6}, "valueKeys": ["input", "output"], "default": True},
        {**TOKENS, "entries": {"input": 5}, "valueKeys": ["input"], "default": True},
        {**TOKENS, "entries": {"input": 5, "output": 6}, "valueKeys": ["input", "output"]},
    ]
    assert merge_pricing_units(units) == [
        {**TOKENS, "entries": {}, "valueKeys": ["input", "output"], "default": True},
        {**TOKENS, "entries": {}, "valueKeys": ["input"], "default": True},
        {**TOKENS, "entries": {}, "valueKeys": ["input", "output"]},
    ]


CATALOG = Catalog.from_rows(
    [
        {"modelId": "a", "provider": "p", "family": " GPT ", "type": "chat"},
        {"modelId": "b", "provider": "p", "family": "gpt", "type": ["chat", "completions"]},
        {"modelId": "c", "provider": "p", "family": "Gemini", "type": "text-generation"},
        {"modelId": "d", "provider": "p", "family": "  ", "type": "text-to-speech"},
    ],
    [{"modelId": "e", "provider": "q", "type": "chat"}, {"modelId": "a", "provider": "p", "family": "dup"}],
)


def test_modality_entry_counts_and_sorts() -> None:
    entry = modality_entry(CATALOG.all_rows(), "text")
    assert entry["modelCount"] == 4
    assert [(op["operation"], op["modelCount"], op["sourceTypes"]) for op in entry["operations"]] == [
        ("chat", 4, ["chat", "completions", "text-generation"]),
        ("completion", 1, ["chat", "completions"]),
    ]
    assert entry["pricingUnits"] == []


def test_all_six_modalities_in_order() -> None:
    entries = modality_entries(CATALOG.all_rows())
    assert [e["modality"] for e in entries] == ["text", "image", "audio", "video", "embedding", "realtime"]
    assert entries[-1] == {"modality": "realtime", "operations": [], "modelCount": 0, "pricingUnits": []}


def test_families_trimmed_lowercased_sorted() -> None:
    # The extended duplicate of "a" is shadowed by the curated row, so "dup" never appears.
    assert family_counts(CATALOG.all_rows()) == [
        {"family": "gemini", "modelCount": 1},
        {"family": "gpt", "modelCount": 2},
    ]

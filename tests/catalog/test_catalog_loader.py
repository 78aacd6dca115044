"""Catalog loading: files, plugin rows, aliases, lookups, validate_files (spec/models.md §1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_core.catalog import Catalog, CatalogError, validate_files
from gateway_core.catalog.aliases import alias_ids, find_collisions, provider_order

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps({"models": rows}), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(rows), encoding="utf-8")
    return path


def _ids(rows: Any) -> list[tuple[str, str, str]]:
    return [(row.model_id, row.provider, row.upstream_model_id) for row in rows]


# ---------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    ("providers", "priority", "order"),
    [
        pytest.param(["b", "a", "b", "c"], [], ["b", "a", "c"], id="first-appearance"),
        pytest.param(["b", "a", "c"], ["c", "a"], ["c", "a", "b"], id="priority-first"),
        pytest.param(["b", "a"], ["zzz", "a"], ["a", "b"], id="unused-priority-ignored"),
    ],
)
def test_provider_order(providers: list[str], priority: list[str], order: list[str]) -> None:
    assert provider_order(providers, priority) == order


def test_alias_ids_spec_example() -> None:
    rows = [("gpt-5.5", "openai"), ("gpt-5.5", "azure"), ("other", "openai")]
    assert alias_ids(rows, ["azure", "openai"]) == ["openai/gpt-5.5", "gpt-5.5", "other"]


def test_find_collisions() -> None:
    assert find_collisions(["a", "b", "a", "a"]) == [(0, 2), (0, 3)]


def test_alias_example_through_load() -> None:
    catalog = Catalog.from_rows(
        [{"modelId": "gpt-5.5", "provider": "openai"}, {"modelId": "gpt-5.5", "provider": "azure"}],
        provider_priority=["azure", "openai"],
    )
    assert _ids(catalog.curated) == [("openai/gpt-5.5", "openai", "gpt-5.5"), ("gpt-5.5", "azure", "gpt-5.5")]
    assert catalog.curated[0].data["upstreamModelId"] == "gpt-5.5"
    assert "upstreamModelId" not in catalog.curated[1].data
    assert catalog.resolve("openai/gpt-5.5") is catalog.curated[0]


def test_alias_without_priority_uses_first_appearance() -> None:
    catalog = Catalog.from_rows([{"modelId": "m", "provider": "b"}, {"modelId": "m", "provider": "a"}])
    assert [row.model_id for row in catalog.curated] == ["m", "a/m"]
    assert catalog.providers() == ["b", "a"]


def test_alias_keeps_explicit_upstream_id() -> None:
    catalog = Catalog.from_rows(
        [{"modelId": "m", "provider": "a"}, {"modelId": "m", "provider": "b", "upstreamModelId": "wire"}]
    )
    assert _ids(catalog.curated) == [("m", "a", "m"), ("b/m", "b", "wire")]


def test_alias_applies_across_curated_and_extended() -> None:
    catalog = Catalog.from_rows(
        [{"modelId": "m", "provider": "openai"}],
        [{"modelId": "m", "provider": "azure"}],
        provider_priority=["azure"],
    )
    assert _ids(catalog.curated) == [("openai/m", "openai", "m")]
    assert _ids(catalog.extended) == [("m", "azure", "m")]
    assert [row.model_id for row in catalog.all_rows()] == ["openai/m", "m"]


def test_remaining_collision_is_an_error() -> None:
    rows = [
        {"modelId": "m", "provider": "a"},
        {"modelId": "a/m", "provider": "a"},
        {"modelId": "m", "provider": "b"},
        {"modelId": "b/m", "provider": "b"},
    ]
    with pytest.raises(CatalogError) as caught:
        Catalog.from_rows(rows, source="cat.yaml")
    error = caught.value
    assert (error.index, error.model_id, error.field) == (3, "b/m", "modelId")
    assert str(error) == (
        "cat.yaml: row 3 (modelId 'b/m'): modelId: public id 'b/m' (provider 'b') collides with row 2 "
        "of cat.yaml (provider 'b')"
    )


def test_same_provider_duplicate_is_an_error() -> None:
    with pytest.raises(CatalogError, match="collides with row 0"):
        Catalog.from_rows([{"modelId": "m", "provider": "a"}, {"modelId": "m", "provider": "a"}])


def test_curated_may_shadow_extended() -> None:
    catalog = Catalog.from_rows(
        [{"modelId": "m", "provider": "a", "name": "curated"}],
        [{"modelId": "m", "provider": "a", "name": "extended"}, {"modelId": "x", "provider": "a"}],
    )
    resolved = catalog.resolve("m")
    assert resolved is not None
    assert resolved.data["name"] == "curated"
    assert [row.model_id for row in catalog.all_rows()] == ["m", "x"]
    assert catalog.resolve("x") is catalog.extended[1]
    assert catalog.resolve("M") is None


# ---------------------------------------------------------------- plugin rows


def test_plugin_rows_merge_file_fields_win(tmp_path: Path) -> None:
    pricing = {"unit": "usd_per_request", "values": {"request": 1}}
    path = _write(
        tmp_path / "cat.yaml",
        [
            {"modelId": "gpt-x", "provider": "openai", "name": "From file", "pricing": pricing},
            {"modelId": "local", "provider": "sandbox"},
        ],
    )
    plugin_rows = {
        "openai": [
            {"modelId": "gpt-x", "name": "From plugin", "description": "plugin text", "type": "chat"},
            {"modelId": "gpt-y", "provider": "someone-else", "type": "chat"},
        ]
    }
    catalog = Catalog.load([path], plugin_rows=plugin_rows)
    assert _ids(catalog.curated) == [
        ("gpt-x", "openai", "gpt-x"),
        ("local", "sandbox", "local"),
        ("gpt-y", "openai", "gpt-y"),
    ]
    merged = catalog.curated[0].data
    assert merged["name"] == "From file"
    assert merged["description"] == "plugin text"
    assert merged["operations"][0]["operation"] == "chat"
    assert merged["pricing"]["sections"][0]["unitKey"] == "usd_per_request"


def test_plugin_row_matching_extended_row_merges_there(tmp_path: Path) -> None:
    curated = _write(tmp_path / "cur.yaml", [{"modelId": "a", "provider": "p"}])
    extended = _write(tmp_path / "ext.json", [{"modelId": "b", "provider": "p", "name": "ext"}])
    catalog = Catalog.load([curated], [extended], plugin_rows={"p": [{"modelId": "b", "description": "d"}]})
    assert [row.model_id for row in catalog.curated] == ["a"]
    assert catalog.extended[0].data["description"] == "d"


def test_invalid_plugin_row_names_the_plugin() -> None:
    with pytest.raises(CatalogError, match=r"^plugin 'p': row 1: modelId: is required$"):
        Catalog.from_rows([], plugin_rows={"p": [{"modelId": "ok"}, {"name": "no id"}]})


def test_plugin_rows_take_part_in_aliasing() -> None:
    catalog = Catalog.from_rows(
        [{"modelId": "m", "provider": "a"}], plugin_rows={"b": [{"modelId": "m"}]}, provider_priority=["b"]
    )
    assert _ids(catalog.curated) == [("a/m", "a", "m"), ("m", "b", "m")]


# ---------------------------------------------------------------- files and formats


@pytest.mark.parametrize("suffix", [pytest.param(s, id=s) for s in (".yaml", ".yml", ".json", ".jsonl")])
def test_load_every_format(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"cat{suffix}", [{"modelId": "m", "provider": "p", "type": "chat"}])
    catalog = Catalog.load([path])
    assert [row.operation_names() for row in catalog.curated] == [["chat"]]


def test_several_curated_files_keep_order(tmp_path: Path) -> None:
    first = _write(tmp_path / "one.yaml", [{"modelId": "b", "provider": "p"}])
    second = _write(tmp_path / "two.jsonl", [{"modelId": "a", "provider": "q"}])
    catalog = Catalog.load([first, second])
    assert [row.model_id for row in catalog.curated] == ["b", "a"]
    assert catalog.providers() == ["p", "q"]
    assert len(catalog) == 2


def test_load_error_names_file_row_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "cat.yaml", [{"modelId": "ok", "provider": "p"}, {"modelId": "bad", "provider": "P"}])
    with pytest.raises(CatalogError) as caught:
        Catalog.load([path])
    assert str(caught.value).startswith(f"{path}: row 1 (modelId 'bad'): provider: ")


def test_validate_files_collects_every_problem(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.yaml", [{"modelId": "m", "provider": "a"}])
    bad = _write(
        tmp_path / "bad.json",
        [
            {"modelId": "all", "provider": "a"},
            {"modelId": "n", "provider": "a", "pricing": {"unit": "usd_per_image", "values": {"image": "free"}}},
            {"modelId": "m", "provider": "a"},
        ],
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("[", encoding="utf-8")
    errors = validate_files([good, bad, broken])
    assert len(errors) == 4
    assert errors[0].startswith(f"{broken}: cannot parse file")
    assert errors[1].startswith(f"{bad}: row 0 (modelId 'all'): modelId: ")
    assert errors[2].startswith(f"{bad}: row 1 (modelId 'n'): pricing.sections[0].entries.image: must be a number")
    assert errors[3].startswith(f"{bad}: row 2 (modelId 'm'): modelId: public id 'm'")
    assert validate_files([good]) == []


# ---------------------------------------------------------------- shipped catalog


def test_shipped_catalog_has_the_six_sandbox_rows() -> None:
    catalog = Catalog.load([REPO / "catalog.yaml"])
    assert [row.model_id for row in catalog.curated if row.provider == "sandbox"] == [
        "sandbox-echo",
        "sandbox-embed",
        "sandbox-image",
        "sandbox-tts",
        "sandbox-stt",
        "sandbox-video",
    ]
    sandbox = [row for row in catalog.curated if row.provider == "sandbox"]
    assert {row.data["family"] for row in sandbox} == {"sandbox"}
    assert [row.operation_names() for row in sandbox] == [
        ["chat"],
        ["text-to-embedding"],
        ["text-to-image", "image-to-image"],
        ["text-to-speech"],
        ["speech-to-text"],
        ["text-to-video", "image-to-video"],
    ]
    assert validate_files([REPO / "catalog.yaml"]) == []

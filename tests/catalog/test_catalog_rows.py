"""Reading catalog files and validating rows (spec/models.md §1.1, §1.2, §1.6)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gateway_core.catalog import CatalogError, CatalogRow
from gateway_core.catalog.rows import normalize_row, read_rows

ROW = {"modelId": "m1", "provider": "acme", "type": "chat"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("c.yaml", "- modelId: m1\n  provider: acme\n", id="yaml-list"),
        pytest.param("c.yml", "models:\n  - modelId: m1\n    provider: acme\n", id="yml-models"),
        pytest.param("c.json", json.dumps([{"modelId": "m1", "provider": "acme"}]), id="json-list"),
        pytest.param("c.json", json.dumps({"models": [{"modelId": "m1", "provider": "acme"}]}), id="json-models"),
        pytest.param("c.jsonl", '{"modelId": "m1", "provider": "acme"}\n\n', id="jsonl-blank-lines"),
        pytest.param("C.YAML", "- modelId: m1\n  provider: acme\n", id="suffix-case-insensitive"),
    ],
)
def test_read_formats(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert read_rows(path) == [{"modelId": "m1", "provider": "acme"}]


def test_yaml_exponent_floats(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- {modelId: m, provider: p, a: 1e-7, b: 2.5E3, c: 1.5, d: 3, e: 1e5x}\n", encoding="utf-8")
    row = read_rows(path)[0]
    assert (row["a"], row["b"], row["c"], row["d"], row["e"]) == (1e-7, 2500.0, 1.5, 3, "1e5x")


def test_empty_yaml_is_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert read_rows(path) == []


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param("c.yaml", "models: [", "cannot parse file", id="yaml-syntax"),
        pytest.param("c.json", "[{]", "cannot parse file", id="json-syntax"),
        pytest.param("c.jsonl", '{"modelId": "a", "provider": "b"}\n{oops}\n', "line 2: cannot parse JSON", id="jsonl"),
        pytest.param("c.json", '{"rows": []}', "must hold an array", id="wrong-top-level"),
        pytest.param("c.toml", "x = 1", "unsupported file type", id="unknown-suffix"),
    ],
)
def test_read_errors_name_the_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        read_rows(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read file"):
        read_rows(tmp_path / "nope.yaml")


def test_unknown_fields_and_available_are_dropped() -> None:
    data = normalize_row({**ROW, "available": False, "secretSauce": 1, "name": None}, source="f", index=0)
    assert "available" not in data
    assert "secretSauce" not in data
    assert "name" not in data  # null counts as absent


def test_passthrough_fields_are_kept() -> None:
    row = {
        **ROW,
        "modelType": {"any": "thing"},
        "sourceMetadata": [1, 2],
        "params": {"x": 1},
        "ownedBy": "acme",
        "createdAt": 1700000000,
        "availableFrom": ["eu"],
        "hfInferenceProvider": "hf",
        "hfProviderId": "id",
        "upstreamModelId": "wire-m1",
        "family": "gpt",
        "contextWindow": {"tokens": 1000, "inputTokens": 800, "other": 1},
    }
    data = normalize_row(row, source="f", index=0)
    for key in ("modelType", "sourceMetadata", "params", "ownedBy", "createdAt", "availableFrom"):
        assert data[key] == row[key]
    assert data["upstreamModelId"] == "wire-m1"
    assert data["contextWindow"] == {"tokens": 1000, "inputTokens": 800}


def test_yaml_date_becomes_iso_string() -> None:
    data = normalize_row({**ROW, "createdAt": dt.date(2024, 5, 1)}, source="f", index=0)
    assert data["createdAt"] == "2024-05-01"


def test_file_operations_replace_derivation() -> None:
    op = {"modality": "text", "operation": "summarization", "input": ["text"], "output": ["text"]}
    ops = [{**op, "streamable": False}]
    data = normalize_row({**ROW, "operations": ops}, source="f", index=0)
    assert [op["operation"] for op in data["operations"]] == ["summarization"]


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        pytest.param({"provider": "acme"}, "modelId", "is required", id="missing-model-id"),
        pytest.param({"modelId": "m1"}, "provider", "is required", id="missing-provider"),
        pytest.param({**ROW, "modelId": "has space"}, "modelId", "without whitespace", id="whitespace-id"),
        pytest.param({**ROW, "modelId": "x" * 257}, "modelId", "1-256", id="id-too-long"),
        pytest.param({**ROW, "modelId": 7}, "modelId", "must be a string", id="id-not-string"),
        pytest.param({**ROW, "modelId": "all"}, "modelId", "reserved", id="reserved-all"),
        pytest.param({**ROW, "modelId": "search"}, "modelId", "reserved", id="reserved-search"),
        pytest.param({**ROW, "modelId": "x/params"}, "modelId", "reserved", id="reserved-params-suffix"),
        pytest.param({**ROW, "provider": "Acme"}, "provider", "must match", id="provider-uppercase"),
        pytest.param({**ROW, "provider": "-acme"}, "provider", "must match", id="provider-leading-dash"),
        pytest.param({**ROW, "provider": "a" * 65}, "provider", "must match", id="provider-too-long"),
        pytest.param({**ROW, "input": "text"}, "input", "array of strings", id="input-not-array"),
        pytest.param({**ROW, "type": 3}, "type", "array of strings", id="type-not-string"),
        pytest.param({**ROW, "maxOutputTokens": True}, "maxOutputTokens", "positive integer", id="max-bool"),
        pytest.param({**ROW, "contextWindow": {"tokens": "1k"}}, "contextWindow.tokens", "positive", id="ctx-tokens"),
        pytest.param({**ROW, "capabilities": {"tools": "yes"}}, "capabilities.tools", "boolean", id="capability"),
        pytest.param({**ROW, "createdAt": 1.5}, "createdAt", "ISO 8601", id="created-at"),
        pytest.param(
            {**ROW, "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": -1}}]}},
            "pricing.sections[0].entries.input",
            "must be >= 0",
            id="negative-entry",
        ),
        pytest.param(
            {**ROW, "pricing": {"unit": "dollars_per_token", "values": {"input": 1}}},
            "pricing.sections[0].unitKey",
            "not a canonical unit key",
            id="non-canonical-unit-key",
        ),
        pytest.param(
            {**ROW, "operations": [{"modality": "sound", "operation": "x"}]},
            "operations[0].modality",
            "must be one of",
            id="operations-schema",
        ),
    ],
)
def test_validation_errors_name_row_and_field(row: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(CatalogError) as caught:
        normalize_row(row, source="cat.yaml", index=4)
    error = caught.value
    assert (error.source, error.index, error.field) == ("cat.yaml", 4, field)
    assert reason in error.reason
    model_id = row.get("modelId")
    expected_row = "row 4" + (f" (modelId {model_id!r})" if isinstance(model_id, str) else "")
    assert str(error) == f"cat.yaml: {expected_row}: {field}: {error.reason}"


def test_row_that_is_not_an_object() -> None:
    with pytest.raises(CatalogError, match=r"^f: row 2: must be an object$"):
        normalize_row(["modelId"], source="f", index=2)


def test_catalog_row_to_api_and_operation_names() -> None:
    data = normalize_row(
        {**ROW, "type": ["chat", "embeddings"], "input": ["text"], "output": ["text", "embedding"]},
        source="f",
        index=0,
    )
    row = CatalogRow("m1", "acme", "m1", data)
    api = row.to_api(False)
    assert api["available"] is False
    assert list(api)[-2:] == ["available", "operations"]
    assert "available" not in row.data
    assert row.operation_names() == ["chat", "text-to-embedding"]
    assert row.modalities() == ["text", "embedding"]
    assert hash(row) == hash(CatalogRow("m1", "acme", "m1", {}))

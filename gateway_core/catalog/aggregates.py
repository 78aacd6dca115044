"""Catalog-wide views: modality catalogs and families (spec/models.md §3.6, §3.7).

Computed from ``Catalog.all_rows()`` (curated + extended). Pricing units are merged: units
that agree on ``header``, ``unitKey``, ``unit``, ``default`` and the *set* of ``valueKeys``
collapse into one with ``entries: {}`` and sorted ``valueKeys``, in first-appearance order.
Comparing ``valueKeys`` as a set keeps two rows that list the same prices in another order from
showing up as two shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway_core.catalog.operations import MODALITIES
from gateway_core.catalog.rows import CatalogRow

__all__ = [
    "family_counts",
    "merge_pricing_units",
    "modality_entries",
    "modality_entry",
    "normalize_family",
    "operation_entries",
]


def merge_pricing_units(units: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Collapse pricing units of the same shape (module doc)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for unit in units:
        keys = sorted(set(unit.get("valueKeys", ())))
        shape = (unit.get("header"), unit["unitKey"], unit.get("unit"), unit.get("default"), tuple(keys))
        if shape in merged:
            continue
        out: dict[str, Any] = {"unitKey": unit["unitKey"]}
        for key in ("unit", "header"):
            if unit.get(key) is not None:
                out[key] = unit[key]
        out["entries"] = {}
        out["valueKeys"] = keys
        if unit.get("default") is not None:
            out["default"] = unit["default"]
        merged[shape] = out
    return list(merged.values())


def _capabilities(rows: Sequence[CatalogRow], modality: str) -> list[tuple[CatalogRow, Mapping[str, Any]]]:
    return [(row, op) for row in rows for op in row.operations if op["modality"] == modality]


def operation_entries(rows: Sequence[CatalogRow], modality: str) -> list[dict[str, Any]]:
    """``OperationCatalogEntry`` objects of one modality, sorted by operation."""
    grouped: dict[str, list[tuple[CatalogRow, Mapping[str, Any]]]] = {}
    for row, op in _capabilities(rows, modality):
        grouped.setdefault(op["operation"], []).append((row, op))
    entries = []
    for operation in sorted(grouped):
        caps = grouped[operation]
        entries.append(
            {
                "operation": operation,
                "modelCount": len({row.model_id for row, _ in caps}),
                "sourceTypes": sorted({t for _, op in caps for t in op["sourceTypes"]}),
                "pricingUnits": merge_pricing_units(u for _, op in caps for u in op["pricingUnits"]),
            }
        )
    return entries


def modality_entry(rows: Sequence[CatalogRow], modality: str) -> dict[str, Any]:
    """The ``ModalityCatalogEntry`` of one modality (empty counts when no row has it)."""
    caps = _capabilities(rows, modality)
    return {
        "modality": modality,
        "operations": operation_entries(rows, modality),
        "modelCount": len({row.model_id for row, _ in caps}),
        "pricingUnits": merge_pricing_units(u for _, op in caps for u in op["pricingUnits"]),
    }


def modality_entries(rows: Sequence[CatalogRow]) -> list[dict[str, Any]]:
    """All six modality entries, in the canonical order, even when empty."""
    return [modality_entry(rows, modality) for modality in MODALITIES]


def normalize_family(value: str) -> str:
    """Families are compared trimmed and lowercased."""
    return value.strip().lower()


def family_counts(rows: Sequence[CatalogRow]) -> list[dict[str, Any]]:
    """``[{"family", "modelCount"}]`` sorted by family; rows without a family are not counted."""
    members: dict[str, set[str]] = {}
    for row in rows:
        family = row.data.get("family")
        if isinstance(family, str) and normalize_family(family):
            members.setdefault(normalize_family(family), set()).add(row.model_id)
    return [{"family": family, "modelCount": len(members[family])} for family in sorted(members)]

"""The model catalog: rows, pricing, operations, aliases, search and params (spec/models.md §1, §3).

Modules, one concern each:

- :mod:`.rows` — reading catalog files and validating one row (:class:`CatalogRow`);
- :mod:`.pricing` — pricing normalization and unit keys (:func:`parse_unit_key`);
- :mod:`.operations` — the capability derivation table;
- :mod:`.aliases` — public ids when providers share a model id;
- :mod:`.loader` — :class:`Catalog`: files + plugin listings, lookups, :func:`validate_files`;
- :mod:`.search` — search filters and cursor paging;
- :mod:`.aggregates` — modality and family catalogs;
- :mod:`.params` — generation parameter ladders and defaults.
"""

from __future__ import annotations

from gateway_core.catalog.aggregates import (
    family_counts,
    merge_pricing_units,
    modality_entries,
    modality_entry,
    normalize_family,
    operation_entries,
)
from gateway_core.catalog.errors import CatalogError
from gateway_core.catalog.loader import Catalog, validate_files
from gateway_core.catalog.operations import MODALITIES, OPERATION_RE, derive_operations, normalize_kind
from gateway_core.catalog.params import (
    PARAM_ALIASES,
    PARAM_LADDERS,
    param_defaults,
    params_modality,
    params_response,
    unknown_params_response,
)
from gateway_core.catalog.pricing import (
    UnitKey,
    canonicalize_unit_key,
    normalize_pricing,
    parse_unit_key,
    pricing_units,
    unit_display_text,
)
from gateway_core.catalog.rows import RESERVED_MODEL_IDS, CatalogRow
from gateway_core.catalog.search import (
    SearchPage,
    SearchQuery,
    check_modality,
    check_operation,
    check_provider,
    merge_search_fields,
    parse_search_fields,
    search_rows,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogRow",
    "MODALITIES",
    "OPERATION_RE",
    "PARAM_ALIASES",
    "PARAM_LADDERS",
    "RESERVED_MODEL_IDS",
    "SearchPage",
    "SearchQuery",
    "UnitKey",
    "canonicalize_unit_key",
    "check_modality",
    "check_operation",
    "check_provider",
    "derive_operations",
    "family_counts",
    "merge_pricing_units",
    "merge_search_fields",
    "modality_entries",
    "modality_entry",
    "normalize_family",
    "normalize_kind",
    "normalize_pricing",
    "operation_entries",
    "param_defaults",
    "params_modality",
    "params_response",
    "parse_search_fields",
    "parse_unit_key",
    "pricing_units",
    "search_rows",
    "unit_display_text",
    "unknown_params_response",
    "validate_files",
]

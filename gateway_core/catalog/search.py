"""Model search: request fields -> :class:`SearchQuery` -> a page of rows (spec/models.md §3.3).

The same filters serve ``POST /v1/models/search``, ``GET /v1/models`` (``provider``,
``modality``) and ``GET /v1/modalities/{m}/operations/{o}/models``. Parsing is lenient where
the spec says so (``cursor``, ``limit``, numeric strings) and raises :class:`GatewayError`
with the spec's codes where it does not (``modality``, ``operation``, ``provider``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_core.catalog.operations import MODALITIES, OPERATION_RE
from gateway_core.catalog.rows import CatalogRow
from gateway_core.errors import GatewayError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SearchPage",
    "SearchQuery",
    "check_modality",
    "check_operation",
    "check_provider",
    "context_tokens",
    "input_price",
    "merge_search_fields",
    "parse_search_fields",
    "row_matches",
    "search_rows",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Validated search filters; ``None`` / ``0`` / ``False`` mean "no filter"."""

    q: str = ""
    modality: str | None = None
    operation: str | None = None
    provider: str | None = None
    price_max_per_mtok: float | None = None
    context_window_min: float | None = None
    streaming: bool = False
    cursor: int = 0
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of matches: ``total`` counts matches before paging."""

    rows: list[CatalogRow]
    total: int
    next_cursor: str | None


def check_modality(value: Any) -> str | None:
    """A canonical modality or ``None`` when absent; else 400 ``invalid_modality``."""
    if value is None or value == "":
        return None
    if value not in MODALITIES:
        raise GatewayError(
            400,
            "invalid_modality",
            "modality must be text, image, audio, video, embedding, or realtime",
            param="modality",
        )
    return str(value)


def check_operation(value: Any) -> str | None:
    """An operation name or ``None`` when absent; else 400 ``invalid_operation``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not OPERATION_RE.match(value):
        raise GatewayError(400, "invalid_operation", "operation is not supported", param="operation")
    return value


def check_provider(value: Any, registered: Collection[str]) -> str | None:
    """A registered provider name or ``None`` when absent; else 400 ``invalid_provider``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in registered:
        raise GatewayError(400, "invalid_provider", "provider is not supported", param="provider")
    return value


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string; anything else is no filter."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _cursor(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return 0


def _limit(value: Any) -> int:
    if isinstance(value, bool):
        limit = DEFAULT_LIMIT
    elif isinstance(value, int):
        limit = value
    elif isinstance(value, float) and value.is_integer():
        limit = int(value)
    elif isinstance(value, str) and _INTEGER_RE.match(value.strip()):
        limit = int(value.strip())
    else:
        limit = DEFAULT_LIMIT
    return min(max(limit, 1), MAX_LIMIT)


def _field(fields: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = fields.get(name)
        if value is not None:
            return value
    return None


# Accepted spellings of search fields -> the canonical (SDK) name.
_FIELD_ALIASES: Mapping[str, str] = {
    "price_max_per_mtok": "priceMaxPerMTok",
    "context_window_min": "contextWindowMin",
}


def merge_search_fields(*sources: Mapping[str, Any]) -> dict[str, Any]:
    """Merge field sources (body, then query string), the first source having a field winning.

    Aliases are folded into canonical names first, so a body ``price_max_per_mtok`` beats a
    query ``priceMaxPerMTok``; ``null`` counts as absent (spec/README.md JSON rules).
    """
    merged: dict[str, Any] = {}
    for source in sources:
        for name, value in source.items():
            key = _FIELD_ALIASES.get(name, name)
            if value is not None and key not in merged:
                merged[key] = value
    return merged


def parse_search_fields(fields: Mapping[str, Any], registered_providers: Collection[str]) -> SearchQuery:
    """Build a :class:`SearchQuery` from merged body/query fields (spec §3.3 table).

    :raises GatewayError: 400 ``invalid_modality``, ``invalid_operation``,
        ``invalid_provider``, or ``invalid_request`` when ``q`` is not a string.
    """
    q = fields.get("q")
    if q is not None and not isinstance(q, str):
        raise GatewayError(400, "invalid_request", "q must be a string", param="q")
    streaming = fields.get("streaming")
    return SearchQuery(
        q=(q or "").strip(),
        modality=check_modality(fields.get("modality")),
        operation=check_operation(fields.get("operation")),
        provider=check_provider(fields.get("provider"), registered_providers),
        price_max_per_mtok=_number(_field(fields, "priceMaxPerMTok", "price_max_per_mtok")),
        context_window_min=_number(_field(fields, "contextWindowMin", "context_window_min")),
        streaming=streaming is True or (isinstance(streaming, str) and streaming.strip().lower() == "true"),
        cursor=_cursor(fields.get("cursor")),
        limit=_limit(fields.get("limit")),
    )


def input_price(row: CatalogRow) -> float | None:
    """``entries.input`` of the row's first pricing section that has one."""
    pricing = row.data.get("pricing") or {}
    for section in pricing.get("sections", ()):
        if "input" in section["entries"]:
            return float(section["entries"]["input"])
    return None


def context_tokens(row: CatalogRow) -> int | None:
    """The row's context size: an integer ``contextWindow`` or ``contextWindow.tokens``."""
    window = row.data.get("contextWindow")
    if isinstance(window, Mapping):
        tokens = window.get("tokens")
        return tokens if isinstance(tokens, int) else None
    return window if isinstance(window, int) else None


def _haystack(row: CatalogRow) -> str:
    data = row.data
    parts = (row.model_id, data.get("name") or "", data.get("description") or "", row.provider)
    return " ".join(parts).lower()


def row_matches(row: CatalogRow, query: SearchQuery) -> bool:
    """Whether ``row`` passes every filter of ``query``.

    ``modality``, ``operation`` and ``streaming`` must hold on one and the same capability.
    """
    if query.provider is not None and row.provider != query.provider:
        return False
    if query.q and query.q.lower() not in _haystack(row):
        return False
    if query.price_max_per_mtok is not None and query.price_max_per_mtok > 0:
        price = input_price(row)
        if price is None or price > query.price_max_per_mtok:
            return False
    if query.context_window_min is not None and query.context_window_min > 0:
        tokens = context_tokens(row)
        if tokens is None or tokens < query.context_window_min:
            return False
    if query.modality is None and query.operation is None and not query.streaming:
        return True
    return any(
        (query.modality is None or op["modality"] == query.modality)
        and (query.operation is None or op["operation"] == query.operation)
        and (not query.streaming or op["streamable"] is True)
        for op in row.operations
    )


def search_rows(rows: Sequence[CatalogRow], query: SearchQuery) -> SearchPage:
    """Filter ``rows`` (kept in order) and cut the page at ``cursor``/``limit``."""
    matches = [row for row in rows if row_matches(row, query)]
    page = matches[query.cursor : query.cursor + query.limit]
    end = query.cursor + len(page)
    return SearchPage(page, len(matches), str(end) if end < len(matches) else None)

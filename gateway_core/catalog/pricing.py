"""Pricing sections of catalog rows (spec/models.md §1.3).

On load a row's ``pricing`` is normalized once, so every reader (API rows, operations, the
payments meter) sees one shape: ``{"sections": [{header?, unit, unitKey, entries, default?,
minPromptTokens?, maxPromptTokens?}]}`` with a canonical ``unitKey``, a display ``unit``,
``cache_read`` renamed ``cached_input`` and zero entries dropped.

:func:`parse_unit_key` turns a unit key into what metering needs: the kind (token or media),
the scale the price is quoted per, the billing quantity key and the token category.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway_core.catalog.errors import FieldError

__all__ = [
    "UnitKey",
    "canonicalize_unit_key",
    "normalize_pricing",
    "parse_unit_key",
    "pricing_units",
    "unit_display_text",
]

_COUNT = r"[1-9][0-9]*"
_WORD = r"[a-z](?:[a-z0-9_]*[a-z0-9])?"
# Token fragments: ``1m_tokens``, ``<n>k_tokens``, ``<n>m_text_tokens``. The category is one
# word so that ``input_<cat>_tokens`` usage metrics (payments.md §7.2) stay unambiguous.
_TOKEN_RE = re.compile(rf"^(?P<n>{_COUNT})(?P<mult>[km])_(?:(?P<cat>[a-z][a-z0-9]*)_)?tokens$")
_SCALED_RE = re.compile(rf"^(?P<n>{_COUNT})(?P<mult>[km])_(?P<word>{_WORD})s$")
_SECONDS_RE = re.compile(rf"^(?P<n>{_COUNT})_seconds$")
_REVERSED_RE = re.compile(r"^per_(?P<frag>.+)_usd$")

# Single-unit media fragments -> billing quantity key (spec/models.md §1.3 table).
_MEDIA_QUANTITY: Mapping[str, str] = {
    "image": "generation",
    "video": "generation",
    "generation": "generation",
    "request": "request",
    "run": "request",
    "call": "request",
    "second": "second",
    "minute": "minute",
    "hour": "hour",
    "megapixel": "megapixel",
    "pixel": "pixel",
    "character": "character",
    "step": "step",
    "page": "page",
    "search": "search",
}

_MULTIPLIER: Mapping[str, int] = {"k": 1_000, "m": 1_000_000}

# Order of the keys in a normalized section; matches the SDK examples.
_SECTION_KEYS = ("header", "unit", "unitKey", "entries", "default", "minPromptTokens", "maxPromptTokens")


@dataclass(frozen=True, slots=True)
class UnitKey:
    """A parsed canonical unit key.

    :ivar kind: ``token`` sections are billed from token usage, ``media`` sections from the
        call's metrics.
    :ivar scale: how many quantity units one price covers (``usd_per_1m_tokens`` → 10⁶,
        ``usd_per_5_seconds`` → 5).
    :ivar quantity: the billing quantity key: ``tokens`` for token sections (the counts come
        from usage), else the media key such as ``generation``, ``second`` or ``character``.
    :ivar category: the token category of ``usd_per_<n>_<cat>_tokens`` keys, else ``None``.
    """

    kind: Literal["token", "media"]
    scale: int
    quantity: str
    category: str | None = None


def canonicalize_unit_key(raw: str) -> str:
    """Lowercase ``raw``, rewrite ``per_<fragment>_usd`` to ``usd_per_<fragment>`` and check
    the fragment grammar.

    :raises ValueError: when the key is not a canonical unit key after rewriting.
    """
    key = raw.strip().lower()
    reversed_form = _REVERSED_RE.match(key)
    if reversed_form is not None:
        key = f"usd_per_{reversed_form.group('frag')}"
    if not key.startswith("usd_per_") or _parse_fragment(key[len("usd_per_") :]) is None:
        raise ValueError(f"{raw!r} is not a canonical unit key (usd_per_<fragment>)")
    return key


def parse_unit_key(unit_key: str) -> UnitKey:
    """Parse a unit key (canonicalizing it first).

    >>> parse_unit_key("usd_per_1m_text_tokens")
    UnitKey(kind='token', scale=1000000, quantity='tokens', category='text')

    :raises ValueError: when the key is not canonical.
    """
    key = canonicalize_unit_key(unit_key)
    parsed = _parse_fragment(key[len("usd_per_") :])
    assert parsed is not None  # canonicalize_unit_key already rejected unparsable fragments
    return parsed


def _parse_fragment(fragment: str) -> UnitKey | None:
    token = _TOKEN_RE.match(fragment)
    if token is not None:
        scale = int(token.group("n")) * _MULTIPLIER[token.group("mult")]
        return UnitKey("token", scale, "tokens", token.group("cat"))
    if fragment in _MEDIA_QUANTITY:
        return UnitKey("media", 1, _MEDIA_QUANTITY[fragment])
    seconds = _SECONDS_RE.match(fragment)
    if seconds is not None:
        return UnitKey("media", int(seconds.group("n")), "second")
    scaled = _SCALED_RE.match(fragment)
    if scaled is not None:
        word = scaled.group("word")
        scale = int(scaled.group("n")) * _MULTIPLIER[scaled.group("mult")]
        # ``1k_images`` bills the same quantity as ``image``: reuse the single-unit mapping,
        # also for the one "-es" plural among its words (``1k_searches``).
        if word not in _MEDIA_QUANTITY and word.endswith("e") and word[:-1] in _MEDIA_QUANTITY:
            word = word[:-1]
        return UnitKey("media", scale, _MEDIA_QUANTITY.get(word, word))
    return None


def unit_display_text(unit_key: str) -> str:
    """Display text for a canonical unit key whose section has no ``unit`` (spec §1.3).

    >>> unit_display_text("usd_per_1k_characters")
    'Per 1K characters'
    """
    fragment = unit_key.removeprefix("usd_per_")
    if fragment == "1m_tokens":
        return "Per 1M tokens"
    scaled = re.match(r"^([0-9]+)k_(.+)$", fragment)
    if scaled is not None:
        return f"Per {scaled.group(1)}K {scaled.group(2).replace('_', ' ')}"
    seconds = _SECONDS_RE.match(fragment)
    if seconds is not None:
        return f"Per {seconds.group('n')} seconds"
    return f"Per {fragment.replace('_', ' ')}"


def normalize_pricing(value: Any) -> dict[str, Any] | None:
    """Normalize a row's ``pricing`` field; ``None`` when the row has no pricing.

    Accepts ``{"sections": [...]}`` and the single-section shape ``{"unit": "<unitKey>",
    "values": {...}}``. Keys other than the documented section fields are dropped.

    :raises FieldError: with a path relative to ``pricing``.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError("pricing", "must be an object")
    if "sections" not in value and "unit" in value and "values" in value:
        value = {"sections": [{"unitKey": value["unit"], "entries": value["values"]}]}
    sections = value.get("sections")
    if not isinstance(sections, list):
        raise FieldError("pricing.sections", "must be an array of sections")
    if not sections:
        # An empty list prices nothing: the row is listed and paid calls answer model_not_priced.
        return None
    return {"sections": [_normalize_section(section, f"pricing.sections[{i}]") for i, section in enumerate(sections)]}


def _normalize_section(section: Any, path: str) -> dict[str, Any]:
    if not isinstance(section, Mapping):
        raise FieldError(path, "must be an object")
    raw_key = section.get("unitKey")
    if not isinstance(raw_key, str):
        raise FieldError(f"{path}.unitKey", "is required and must be a string")
    try:
        unit_key = canonicalize_unit_key(raw_key)
    except ValueError as exc:
        raise FieldError(f"{path}.unitKey", str(exc)) from None
    out: dict[str, Any] = {
        "unitKey": unit_key,
        "unit": _optional_str(section, "unit", path) or unit_display_text(unit_key),
        "entries": _normalize_entries(section.get("entries"), f"{path}.entries"),
    }
    header = _optional_str(section, "header", path)
    if header is not None:
        out["header"] = header
    default = section.get("default")
    if default is not None:
        if not isinstance(default, bool):
            raise FieldError(f"{path}.default", "must be a boolean")
        out["default"] = default
    for bound in ("minPromptTokens", "maxPromptTokens"):
        limit = section.get(bound)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise FieldError(f"{path}.{bound}", "must be a non-negative integer")
            out[bound] = limit
    return {key: out[key] for key in _SECTION_KEYS if key in out}


def _optional_str(section: Mapping[str, Any], key: str, path: str) -> str | None:
    value = section.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(f"{path}.{key}", "must be a string")
    return value


def _normalize_entries(entries: Any, path: str) -> dict[str, int | float]:
    if not isinstance(entries, Mapping):
        raise FieldError(path, "is required and must be an object of prices")
    out: dict[str, int | float] = {}
    for name, price in entries.items():
        if not isinstance(name, str):
            raise FieldError(path, f"entry name {name!r} must be a string (quote it in YAML)")
        if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price):
            raise FieldError(f"{path}.{name}", f"must be a number, got {price!r}")
        if price < 0:
            raise FieldError(f"{path}.{name}", f"must be >= 0, got {price!r}")
        if price == 0:
            continue
        if name == "cache_read":
            # The explicit canonical name wins when a file carries both spellings.
            if "cached_input" in entries:
                continue
            name = "cached_input"
        out[name] = price
    return out


def pricing_units(pricing: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The ``pricingUnits`` of a normalized pricing (spec/models.md §1.5): one unit per
    section, with ``valueKeys`` = entry names in file order."""
    if not pricing:
        return []
    units: list[dict[str, Any]] = []
    for section in pricing["sections"]:
        unit: dict[str, Any] = {"unitKey": section["unitKey"], "unit": section["unit"]}
        if "header" in section:
            unit["header"] = section["header"]
        unit["entries"] = dict(section["entries"])
        unit["valueKeys"] = list(section["entries"])
        if "default" in section:
            unit["default"] = section["default"]
        units.append(unit)
    return units

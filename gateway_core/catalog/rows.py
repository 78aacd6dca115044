"""Catalog rows: reading catalog files and validating one row (spec/models.md §1.1, §1.2).

:func:`read_rows` turns a ``.yaml``/``.yml``/``.json``/``.jsonl`` file into raw row objects;
:func:`normalize_row` validates one raw row and returns its SDK ``Model`` fields (camelCase,
pricing normalized, ``operations`` derived or checked). Fields not in the §1.2 table are
dropped and ``available`` is never taken from a file: it is computed per request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway_core.catalog.errors import CatalogError, FieldError
from gateway_core.catalog.operations import derive_operations, row_facts, validate_operations
from gateway_core.catalog.pricing import normalize_pricing, pricing_units

__all__ = [
    "CatalogRow",
    "RESERVED_MODEL_IDS",
    "normalize_row",
    "read_rows",
]

RESERVED_MODEL_IDS = frozenset({"all", "search"})
_MODEL_ID_RE = re.compile(r"^\S{1,256}$")
_PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,63}$")


class _CatalogYamlLoader(yaml.SafeLoader):
    """Safe loader that also reads YAML 1.2 exponent floats (``1e-7``, ``2.5E3``).

    PyYAML implements YAML 1.1, where a float needs a dot, so a price written ``1e-7`` would
    silently load as a string and then fail validation with a confusing message.
    """


_CatalogYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One loaded catalog row.

    :ivar model_id: the public id (after aliasing).
    :ivar provider: the provider plugin name.
    :ivar upstream_model_id: the id sent to the provider.
    :ivar data: the SDK ``Model`` fields after normalization, camelCase, including
        ``operations``; never ``available``. Shared by every reader: treat it as read-only.
        ``upstreamModelId`` is present only when the file or aliasing set it.
    """

    model_id: str
    provider: str
    upstream_model_id: str
    data: dict[str, Any] = field(hash=False)

    def to_api(self, available: bool) -> dict[str, Any]:
        """The row as the model routes return it (spec §3.1), with ``available`` set.

        Nested values are shared with :attr:`data`, not copied: the result is for serializing.
        """
        body = {key: value for key, value in self.data.items() if key != "operations"}
        body["available"] = available
        body["operations"] = self.operations
        return body

    @property
    def operations(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = self.data.get("operations", [])
        return ops

    def operation_names(self) -> list[str]:
        """Operation names in the row's order (the first accepted one wins on a route)."""
        return [op["operation"] for op in self.operations]

    def modalities(self) -> list[str]:
        """Distinct modalities of the row's capabilities, in capability order."""
        return list(dict.fromkeys(op["modality"] for op in self.operations))


def read_rows(path: Path) -> list[Any]:
    """Read the raw rows of one catalog file (spec §1.1 formats).

    :raises CatalogError: when the file cannot be read or parsed, or does not hold an array
        of rows or ``{"models": [...]}``. Rows are not validated here.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(source, f"cannot read file: {exc}") from None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(source, text)
    try:
        if suffix in (".yaml", ".yml"):
            document = yaml.load(text, Loader=_CatalogYamlLoader)  # a SafeLoader subclass: safe
        elif suffix == ".json":
            document = json.loads(text)
        else:
            raise CatalogError(source, f"unsupported file type {suffix!r} (use .yaml, .yml, .json or .jsonl)")
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise CatalogError(source, f"cannot parse file: {exc}") from None
    if document is None:
        return []
    if isinstance(document, Mapping) and "models" in document:
        document = document["models"]
    if not isinstance(document, list):
        raise CatalogError(source, 'must hold an array of rows or {"models": [rows...]}')
    return document


def _read_jsonl(source: str, text: str) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CatalogError(source, f"line {number}: cannot parse JSON: {exc}") from None
    return rows


def normalize_row(raw: Any, *, source: str, index: int) -> dict[str, Any]:
    """Validate one raw row and return its normalized SDK ``Model`` fields.

    :param source: where the row came from, for error messages (a path or ``plugin '<name>'``).
    :param index: 0-based position of the row in ``source``.
    :raises CatalogError: naming ``source``, the row and the offending field.
    """
    if not isinstance(raw, Mapping):
        raise CatalogError(source, "must be an object", index=index)
    model_id = raw.get("modelId")
    known_id = model_id if isinstance(model_id, str) else None
    try:
        return _normalize_fields(raw)
    except FieldError as exc:
        raise CatalogError(source, exc.reason, index=index, model_id=known_id, field=exc.field) from None


# Validators of the §1.2 table, in the table's order (which is also the API key order).
# ``None`` values are treated as absent, so a validator only sees real values.
Validator = Callable[[str, Any], Any]


def _model_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _MODEL_ID_RE.match(value):
        raise FieldError(name, "must be a string of 1-256 characters without whitespace")
    if value in RESERVED_MODEL_IDS or value.endswith("/params"):
        raise FieldError(name, f"{value!r} is reserved (all, search and ids ending in /params are route names)")
    return value


def _provider(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _PROVIDER_RE.match(value):
        raise FieldError(name, "must match ^[a-z0-9][a-z0-9 ._-]{0,63}$")
    return value


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(name, "must be a string")
    return value


def _non_empty_string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise FieldError(name, "must be a non-empty string")
    return value


def _string_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FieldError(name, "must be an array of strings")
    return list(value)


def _type(name: str, value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    return _string_list(name, value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FieldError(name, "must be a positive integer")
    return value


def _context_window(name: str, value: Any) -> int | dict[str, int]:
    if not isinstance(value, Mapping):
        return _positive_int(name, value)
    out: dict[str, int] = {}
    for key in ("tokens", "inputTokens", "outputTokens"):
        if value.get(key) is not None:
            out[key] = _positive_int(f"{name}.{key}", value[key])
    return out


def _capabilities(name: str, value: Any) -> dict[str, bool] | list[str]:
    if isinstance(value, Mapping):
        for key, flag in value.items():
            if not isinstance(key, str) or not isinstance(flag, bool):
                raise FieldError(f"{name}.{key}", "must be a boolean")
        return dict(value)
    return _string_list(name, value)


def _created_at(name: str, value: Any) -> str | int:
    # YAML reads an unquoted 2024-05-01 as a date; the API field is an ISO 8601 string.
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError(name, "must be an ISO 8601 string or Unix seconds")
    return value


def _passthrough(name: str, value: Any) -> Any:
    return value


_FIELDS: Mapping[str, Validator] = {
    "modelId": _model_id,
    "upstreamModelId": _non_empty_string,
    "name": _string,
    "provider": _provider,
    "family": _string,
    "type": _type,
    "description": _string,
    "input": _string_list,
    "output": _string_list,
    "contextWindow": _context_window,
    "pricing": _passthrough,  # normalized by pricing.normalize_pricing
    "maxOutputTokens": _positive_int,
    "capabilities": _capabilities,
    "modelType": _passthrough,
    "sourceMetadata": _passthrough,
    "params": _passthrough,
    "operations": _passthrough,  # checked after pricing, which it depends on
    "ownedBy": _string,
    "createdAt": _created_at,
    "availableFrom": _string_list,
    "hfInferenceProvider": _string,
    "hfProviderId": _string,
}


def _normalize_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    for required in ("modelId", "provider"):
        if raw.get(required) is None:
            raise FieldError(required, "is required")
    out: dict[str, Any] = {}
    for name, validate in _FIELDS.items():
        value = raw.get(name)
        if value is not None:
            out[name] = validate(name, value)
    pricing = normalize_pricing(out.get("pricing"))
    if pricing is None:
        out.pop("pricing", None)
    else:
        out["pricing"] = pricing
    units = pricing_units(pricing)
    given = out.pop("operations", None)
    if given is None:
        out["operations"] = derive_operations(out, units)
    else:
        out["operations"] = validate_operations(given, row_facts(out).types, units)
    return out

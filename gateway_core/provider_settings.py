"""Resolve one provider instance's settings (spec/models.md §2.1).

Order, first set wins: ``GATEWAY_PROVIDER_<NAME>_<FIELD>`` (environment or config file),
then the conventional variable the plugin names in ``env_fallbacks`` (``OPENAI_API_KEY``),
then the spec's ``defaults``, then the settings model's own default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gateway_core.types import ProviderSettings, ProviderSpec

__all__ = ["env_prefix", "resolve_provider_settings", "settings_env_names"]


def env_prefix(provider_name: str) -> str:
    """``GATEWAY_PROVIDER_<NAME>_`` with the name uppercased and non-alphanumerics as ``_``."""
    return "GATEWAY_PROVIDER_" + re.sub(r"[^A-Za-z0-9]", "_", provider_name).upper() + "_"


def settings_env_names(spec: ProviderSpec) -> list[str]:
    """Every variable that can set this instance's settings, for ``gateway plugins``."""
    prefix = env_prefix(spec.name)
    return [prefix + field.upper() for field in spec.settings_model.model_fields]


def _decode(field_type: Any, raw: str) -> Any:
    # Structured fields (headers, lists) come from the environment as JSON text.
    text = raw.strip()
    if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
        try:
            return json.loads(text)
        except ValueError:
            return raw
    return raw


def resolve_provider_settings(spec: ProviderSpec, config: Mapping[str, str]) -> ProviderSettings:
    """Build the settings model of ``spec`` from the configuration.

    :raises pydantic.ValidationError: a value does not fit the settings model.
    """
    prefix = env_prefix(spec.name)
    values: dict[str, Any] = dict(spec.defaults)
    for field_name, info in spec.settings_model.model_fields.items():
        raw = config.get(prefix + field_name.upper())
        if raw is None or raw == "":
            fallback = spec.env_fallbacks.get(field_name)
            raw = config.get(fallback) if fallback else None
        if raw is not None and raw != "":
            values[field_name] = _decode(info.annotation, raw)
    settings: ProviderSettings = spec.settings_model.model_validate(values)
    return settings

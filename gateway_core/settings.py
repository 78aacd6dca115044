"""Gateway settings: environment variables, optionally a config file (spec/README.md § Configuration).

Every key is a ``GATEWAY_*`` environment variable. A config file (``--config`` or
``GATEWAY_CONFIG``; YAML or JSON) may set the same keys lowercase without the prefix, and
provider settings under ``providers: {<name>: {<setting>: value}}``. The environment wins over
the file, so a deployment can override one value without editing the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "BODY_LIMIT_CAP",
    "DEFAULT_BODY_LIMIT",
    "GatewaySettings",
    "SettingsError",
    "load_config",
    "parse_byte_size",
]

DEFAULT_BODY_LIMIT = 10 * 1024 * 1024
DEFAULT_MULTIPART_LIMIT = 26 * 1024 * 1024
BODY_LIMIT_CAP = 32 * 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb)?\s*$", re.IGNORECASE)


def _shipped_catalog() -> Path:
    """The catalog shipped with the core: packaged into the wheel as ``gateway_core/catalog.yaml``
    from the repository's top-level ``catalog.yaml`` (found there when running from a checkout)."""
    here = Path(__file__).resolve().parent
    packaged = here / "catalog.yaml"
    return packaged if packaged.exists() else here.parent / "catalog.yaml"


_SHIPPED_CATALOG = _shipped_catalog()


class SettingsError(Exception):
    """A setting has a value the gateway cannot start with."""


def parse_byte_size(value: str | None, default: int, cap: int = BODY_LIMIT_CAP) -> int:
    """``<n>``, ``<n>b``, ``<n>kb``, ``<n>mb`` (1 kb = 1024 B); invalid -> default; capped."""
    if not value:
        return default
    match = _SIZE.match(value)
    if not match:
        return default
    number = float(match.group(1))
    unit = (match.group(2) or "b").lower()
    size = int(number * {"b": 1, "kb": 1024, "mb": 1024 * 1024}[unit])
    if size <= 0:
        return default
    return min(size, cap)


def _flatten_file(data: Mapping[str, Any]) -> dict[str, str]:
    """Config-file keys -> ``GATEWAY_*`` names; nested provider settings included."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        if key == "providers" and isinstance(value, Mapping):
            for provider, settings in value.items():
                if not isinstance(settings, Mapping):
                    raise SettingsError(f"config file: providers.{provider} must be a mapping")
                prefix = "GATEWAY_PROVIDER_" + re.sub(r"[^A-Za-z0-9]", "_", str(provider)).upper()
                for setting, item in settings.items():
                    flat[f"{prefix}_{str(setting).upper()}"] = _as_text(item)
            continue
        flat["GATEWAY_" + str(key).upper()] = _as_text(value)
    return flat


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return json.dumps(value, separators=(",", ":"))


def load_config(config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The raw configuration: config-file keys overlaid by the environment."""
    env = dict(os.environ if environ is None else environ)
    path = config_file or env.get("GATEWAY_CONFIG")
    merged: dict[str, str] = {}
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = yaml.safe_load(text) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"config file {path}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise SettingsError(f"config file {path}: top level must be a mapping")
        merged.update(_flatten_file(data))
    merged.update(env)
    return merged


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _bool(config: Mapping[str, str], key: str, default: bool) -> bool:
    value = config.get(key)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key} must be true or false, got {value!r}")


def _number(config: Mapping[str, str], key: str, default: float, minimum: float = 0) -> float:
    value = config.get(key)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise SettingsError(f"{key} must be a number, got {value!r}") from exc
    if number < minimum:
        raise SettingsError(f"{key} must be >= {minimum}, got {value!r}")
    return number


@dataclass(frozen=True)
class GatewaySettings:
    """Typed view of the configuration keys the core reads. Provider settings are resolved
    separately per provider (:mod:`gateway_core.provider_settings`)."""

    config: Mapping[str, str] = field(default_factory=dict, repr=False)
    public_url: str | None = None
    store_url: str = "sqlite:///./gateway.db"
    catalog_files: tuple[Path, ...] = (_SHIPPED_CATALOG,)
    extended_catalog_files: tuple[Path, ...] = ()
    provider_priority: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    plugins_allow: tuple[str, ...] | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    multipart_limit: int = DEFAULT_MULTIPART_LIMIT
    cors_credential_origins: tuple[str, ...] = ()
    responses_ttl: float = 86400
    background_heartbeat: float = 1.0
    upstream_timeout: float = 240
    stream_idle_timeout: float = 120
    platform_fee_bps: int = 100
    default_max_output_tokens: int = 4096
    media_part_tokens: int = 1000
    sandbox: bool = True
    keepalive_interval: float = 15
    hold_ttl: int = 3600
    prune_interval: float = 60

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> GatewaySettings:
        """Validate the raw configuration; raises :class:`SettingsError` naming the key."""
        catalog = _csv(config.get("GATEWAY_CATALOG"))
        fee = int(_number(config, "GATEWAY_PLATFORM_FEE_BPS", 100))
        if fee > 10000:
            raise SettingsError("GATEWAY_PLATFORM_FEE_BPS must be between 0 and 10000")
        allow = config.get("GATEWAY_PLUGINS_ALLOW")
        public_url = (config.get("GATEWAY_PUBLIC_URL") or "").rstrip("/") or None
        return cls(
            config=dict(config),
            public_url=public_url,
            store_url=config.get("GATEWAY_STORE_URL") or "sqlite:///./gateway.db",
            catalog_files=tuple(Path(p) for p in catalog) or (_SHIPPED_CATALOG,),
            extended_catalog_files=tuple(Path(p) for p in _csv(config.get("GATEWAY_CATALOG_EXTENDED"))),
            provider_priority=_csv(config.get("GATEWAY_PROVIDER_PRIORITY")),
            plugins=_csv(config.get("GATEWAY_PLUGINS")),
            plugins_allow=_csv(allow) if allow is not None else None,
            body_limit=parse_byte_size(config.get("GATEWAY_BODY_LIMIT"), DEFAULT_BODY_LIMIT),
            multipart_limit=parse_byte_size(config.get("GATEWAY_MULTIPART_LIMIT"), DEFAULT_MULTIPART_LIMIT),
            cors_credential_origins=_csv(config.get("GATEWAY_CORS_CREDENTIAL_ORIGINS")),
            responses_ttl=_number(config, "GATEWAY_RESPONSES_TTL", 86400),
            background_heartbeat=_number(config, "GATEWAY_BACKGROUND_HEARTBEAT", 1.0, minimum=0.01),
            upstream_timeout=_number(config, "GATEWAY_UPSTREAM_TIMEOUT", 240, minimum=0.001),
            stream_idle_timeout=_number(config, "GATEWAY_STREAM_IDLE_TIMEOUT", 120, minimum=0.001),
            platform_fee_bps=fee,
            default_max_output_tokens=int(_number(config, "GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS", 4096, minimum=1)),
            media_part_tokens=int(_number(config, "GATEWAY_MEDIA_PART_TOKENS", 1000)),
            sandbox=_bool(config, "GATEWAY_SANDBOX", not config.get("GATEWAY_X402_FACILITATOR_URL")),
            keepalive_interval=_number(config, "GATEWAY_SSE_KEEPALIVE", 15, minimum=0.01),
            hold_ttl=int(_number(config, "GATEWAY_HOLD_TTL", 3600, minimum=1)),
            prune_interval=_number(config, "GATEWAY_PRUNE_INTERVAL", 60, minimum=0.05),
        )

    @classmethod
    def load(cls, config_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        return cls.from_config(load_config(config_file, environ))

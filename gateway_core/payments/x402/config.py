"""The x402 and sandbox configuration keys (spec/README.md § Configuration).

Read from the same raw mapping as :class:`gateway_core.settings.GatewaySettings`
(:func:`gateway_core.settings.load_config`), so the two stay consistent about sources and
precedence; kept separate so the payment keys live next to the code that uses them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from gateway_core.payments.x402.constants import SCHEMES
from gateway_core.payments.x402.networks import DEFAULT_SANDBOX_CHAIN_ID, ChainTable, is_address, load_chains
from gateway_core.settings import SettingsError

__all__ = ["DEFAULT_SCHEMES", "FaucetPolicy", "X402Settings"]

DEFAULT_SCHEMES: tuple[str, ...] = ("upto", "exact")
FaucetPolicy = Literal["open", "admin", "off"]


def _flag(config: Mapping[str, str], key: str, default: bool) -> bool:
    value = (config.get(key) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key} must be true or false, got {value!r}")


def _positive(config: Mapping[str, str], key: str, default: int) -> int:
    value = (config.get(key) or "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise SettingsError(f"{key} must be a positive integer, got {value!r}")
    return int(value)


def _schemes(config: Mapping[str, str]) -> tuple[str, ...]:
    raw = config.get("GATEWAY_X402_SCHEMES")
    if raw is None:
        return DEFAULT_SCHEMES
    # Set but empty means "raw x402 disabled", not "use the default".
    schemes = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [scheme for scheme in schemes if scheme not in SCHEMES]
    if unknown:
        raise SettingsError(f"GATEWAY_X402_SCHEMES: unknown scheme(s) {', '.join(unknown)} (use upto, exact)")
    return schemes


def _headers(config: Mapping[str, str]) -> dict[str, str]:
    raw = (config.get("GATEWAY_X402_FACILITATOR_HEADERS") or "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"GATEWAY_X402_FACILITATOR_HEADERS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SettingsError("GATEWAY_X402_FACILITATOR_HEADERS must be a JSON object of string values")
    return cast(dict[str, str], data)


@dataclass(frozen=True)
class X402Settings:
    """Typed view of ``GATEWAY_X402_*``, ``GATEWAY_SANDBOX_*``, ``GATEWAY_PAY_TO``,
    ``GATEWAY_DEFAULT_CHAIN_ID`` and ``GATEWAY_CHAINS``."""

    sandbox: bool = True
    sandbox_chain_id: int = DEFAULT_SANDBOX_CHAIN_ID
    sandbox_faucet: FaucetPolicy = "open"
    sandbox_signer_key: str | None = field(default=None, repr=False)
    facilitator_url: str | None = None
    facilitator_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    pay_to: str | None = None
    default_chain_id: int = DEFAULT_SANDBOX_CHAIN_ID
    chains: ChainTable = field(default_factory=load_chains)
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    default_envelope: int = 1_000_000
    max_envelope: int = 100_000_000
    max_timeout_seconds: int = 600
    extensions: bool = True

    @property
    def enabled(self) -> bool:
        """Raw x402 is offered at all (``GATEWAY_X402_SCHEMES`` not empty)."""
        return bool(self.schemes)

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> X402Settings:
        """:raises SettingsError: naming the key. ``GATEWAY_PAY_TO`` being absent outside
        sandbox mode is not checked here; start-up decides (it may generate one in sandbox)."""
        url = (config.get("GATEWAY_X402_FACILITATOR_URL") or "").strip().rstrip("/") or None
        sandbox = _flag(config, "GATEWAY_SANDBOX", url is None)
        sandbox_chain_id = _positive(config, "GATEWAY_SANDBOX_CHAIN_ID", DEFAULT_SANDBOX_CHAIN_ID)
        faucet = (config.get("GATEWAY_SANDBOX_FAUCET") or "open").strip().lower()
        if faucet not in ("open", "admin", "off"):
            raise SettingsError(f"GATEWAY_SANDBOX_FAUCET must be open, admin or off, got {faucet!r}")
        pay_to = (config.get("GATEWAY_PAY_TO") or "").strip() or None
        if pay_to is not None and not is_address(pay_to):
            raise SettingsError("GATEWAY_PAY_TO must be a 0x-prefixed 20-byte address")
        default_envelope = _positive(config, "GATEWAY_X402_DEFAULT_ENVELOPE", 1_000_000)
        max_envelope = _positive(config, "GATEWAY_X402_MAX_ENVELOPE", 100_000_000)
        return cls(
            sandbox=sandbox,
            sandbox_chain_id=sandbox_chain_id,
            sandbox_faucet=cast(FaucetPolicy, faucet),
            sandbox_signer_key=(config.get("GATEWAY_SANDBOX_SIGNER_KEY") or "").strip() or None,
            facilitator_url=url,
            facilitator_headers=_headers(config),
            pay_to=pay_to.lower() if pay_to else None,
            default_chain_id=_positive(config, "GATEWAY_DEFAULT_CHAIN_ID", sandbox_chain_id if sandbox else 43113),
            chains=load_chains(config.get("GATEWAY_CHAINS"), sandbox_chain_id=sandbox_chain_id),
            schemes=_schemes(config),
            default_envelope=default_envelope,
            max_envelope=max_envelope,
            max_timeout_seconds=_positive(config, "GATEWAY_X402_MAX_TIMEOUT_SECONDS", 600),
            extensions=_flag(config, "GATEWAY_X402_EXTENSIONS", True),
        )

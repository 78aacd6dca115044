"""The chains raw x402 can pay on (spec/payments.md §6.2) and ``GATEWAY_CHAINS`` overrides.

A :class:`ChainRow` carries what a requirement and an EIP-712 signature need: the USDC
contract and its on-chain EIP-712 domain. Whether a row is *enabled* is decided by the caller
(sandbox mode: the sandbox row only; otherwise: the facilitator's ``/supported``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.settings import SettingsError

__all__ = [
    "BUILTIN_CHAINS",
    "DEFAULT_SANDBOX_CHAIN_ID",
    "SANDBOX_CHAIN_NAME",
    "SANDBOX_EIP712_NAME",
    "SANDBOX_EIP712_VERSION",
    "SANDBOX_USDC_ADDRESS",
    "SANDBOX_V1_NAME",
    "ChainRow",
    "ChainTable",
    "is_address",
    "load_chains",
    "network_id",
    "parse_chain_overrides",
    "parse_network",
    "sandbox_chain",
]

# Row 31337 of the table: the sandbox chain (§9.2).
DEFAULT_SANDBOX_CHAIN_ID = 31337
SANDBOX_CHAIN_NAME = "Gateway Sandbox"
SANDBOX_V1_NAME = "sandbox"
SANDBOX_USDC_ADDRESS = "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d"
SANDBOX_EIP712_NAME = "USDC"
SANDBOX_EIP712_VERSION = "2"

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NETWORK = re.compile(r"^eip155:([1-9][0-9]*)$")


def is_address(value: object) -> bool:
    """``0x`` + 40 hex digits, any letter case."""
    return isinstance(value, str) and bool(_ADDRESS.match(value))


def network_id(chain_id: int) -> str:
    """The CAIP-2 id of an EVM chain: ``eip155:<chainId>``."""
    return f"eip155:{chain_id}"


def parse_network(network: str) -> int | None:
    """``eip155:<chainId>`` -> chainId; anything else -> ``None``."""
    match = _NETWORK.match(network)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ChainRow:
    """One chain of §6.2. Addresses keep the spelling of the table (they are emitted as is)."""

    chain_id: int
    name: str
    usdc_address: str
    eip712_name: str
    eip712_version: str
    v1_name: str | None = None

    @property
    def network(self) -> str:
        return network_id(self.chain_id)

    def is_asset(self, address: str) -> bool:
        """Addresses are compared case-insensitively (§6.2)."""
        return address.lower() == self.usdc_address.lower()


BUILTIN_CHAINS: tuple[ChainRow, ...] = (
    ChainRow(
        DEFAULT_SANDBOX_CHAIN_ID,
        SANDBOX_CHAIN_NAME,
        SANDBOX_USDC_ADDRESS,
        SANDBOX_EIP712_NAME,
        SANDBOX_EIP712_VERSION,
        SANDBOX_V1_NAME,
    ),
    ChainRow(43113, "Avalanche Fuji", "0x5425890298aed601595a70AB815c96711a31Bc65", "USD Coin", "2", "avalanche-fuji"),
    ChainRow(43114, "Avalanche C-Chain", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USD Coin", "2", "avalanche"),
    ChainRow(
        421614, "Arbitrum Sepolia", "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "USD Coin", "2", "arbitrum-sepolia"
    ),
    ChainRow(42161, "Arbitrum One", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USD Coin", "2", "arbitrum"),
    ChainRow(84532, "Base Sepolia", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2", "base-sepolia"),
    ChainRow(8453, "Base", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2", "base"),
)


def sandbox_chain(chain_id: int = DEFAULT_SANDBOX_CHAIN_ID) -> ChainRow:
    """The sandbox chain row for ``GATEWAY_SANDBOX_CHAIN_ID`` (§9.2)."""
    return ChainRow(
        chain_id,
        SANDBOX_CHAIN_NAME,
        SANDBOX_USDC_ADDRESS,
        SANDBOX_EIP712_NAME,
        SANDBOX_EIP712_VERSION,
        SANDBOX_V1_NAME,
    )


class ChainTable:
    """Rows by chainId, by ``eip155:<id>`` and by v1 name; later rows replace earlier ones."""

    def __init__(self, rows: Iterable[ChainRow]) -> None:
        by_id: dict[int, ChainRow] = {}
        for row in rows:
            by_id[row.chain_id] = row
        self._by_id = by_id
        self._by_v1 = {row.v1_name.lower(): row for row in by_id.values() if row.v1_name}

    def __iter__(self) -> Iterator[ChainRow]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, chain_id: object) -> bool:
        return chain_id in self._by_id

    def get(self, chain_id: int) -> ChainRow | None:
        return self._by_id.get(chain_id)

    def by_network(self, network: str) -> ChainRow | None:
        chain_id = parse_network(network)
        return None if chain_id is None else self._by_id.get(chain_id)

    def by_v1_name(self, name: str) -> ChainRow | None:
        return self._by_v1.get(name.lower())

    def resolve(self, value: int | str) -> ChainRow | None:
        """A chainId (int or digit string), a CAIP-2 network or a v1 name."""
        if isinstance(value, int) and not isinstance(value, bool):
            return self.get(value)
        if isinstance(value, str):
            if value.isdigit():
                return self.get(int(value))
            return self.by_network(value) or self.by_v1_name(value)
        return None


def _text(item: Mapping[str, Any], key: str, index: int, *, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"GATEWAY_CHAINS[{index}].{key} must be a non-empty string")
    return value.strip()


def parse_chain_overrides(text: str | None, base: ChainTable | None = None) -> list[ChainRow]:
    """Rows of a ``GATEWAY_CHAINS`` JSON array; raises :class:`SettingsError` naming the entry.

    An entry for a chain that ``base`` already has may leave out ``v1Name``; the existing
    v1 name is kept (an operator fixing a token domain should not lose v1 support).
    """
    if text is None or not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"GATEWAY_CHAINS is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise SettingsError("GATEWAY_CHAINS must be a JSON array of chain objects")
    rows: list[ChainRow] = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise SettingsError(f"GATEWAY_CHAINS[{index}] must be an object")
        raw_id = item.get("chainId")
        if isinstance(raw_id, str) and raw_id.isdigit():
            raw_id = int(raw_id)
        if not isinstance(raw_id, int) or isinstance(raw_id, bool) or raw_id <= 0:
            raise SettingsError(f"GATEWAY_CHAINS[{index}].chainId must be a positive integer")
        usdc = _text(item, "usdcAddress", index)
        if not is_address(usdc):
            raise SettingsError(f"GATEWAY_CHAINS[{index}].usdcAddress must be a 0x-prefixed 20-byte address")
        existing = base.get(raw_id) if base is not None else None
        v1_name = _text(item, "v1Name", index, required=False)
        rows.append(
            ChainRow(
                chain_id=raw_id,
                name=_text(item, "name", index) or "",
                usdc_address=usdc or "",
                eip712_name=_text(item, "eip712Name", index) or "",
                eip712_version=_text(item, "eip712Version", index) or "",
                v1_name=v1_name if v1_name is not None else (existing.v1_name if existing else None),
            )
        )
    return rows


def load_chains(overrides: str | None = None, *, sandbox_chain_id: int = DEFAULT_SANDBOX_CHAIN_ID) -> ChainTable:
    """The built-in table with the sandbox row at ``sandbox_chain_id``, then ``GATEWAY_CHAINS``."""
    builtin = [row for row in BUILTIN_CHAINS if row.chain_id != DEFAULT_SANDBOX_CHAIN_ID]
    sandbox = sandbox_chain(sandbox_chain_id)
    # A sandbox id that collides with a real chain replaces it: in sandbox mode nothing may
    # point at a real token contract.
    base = ChainTable([sandbox, *(row for row in builtin if row.chain_id != sandbox_chain_id)])
    return ChainTable([*base, *parse_chain_overrides(overrides, base)])

"""Chain table, lookups and GATEWAY_CHAINS overrides (spec/payments.md §6.2); x402 settings."""

from __future__ import annotations

import json

import pytest

from gateway_core.payments.x402 import X402Settings, load_chains, sandbox_chain
from gateway_core.payments.x402.networks import BUILTIN_CHAINS, parse_network
from gateway_core.settings import SettingsError


@pytest.mark.parametrize(
    ("chain_id", "v1_name", "asset", "eip712"),
    [
        pytest.param(31337, "sandbox", "0x5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d5a4d", ("USDC", "2"), id="sandbox"),
        pytest.param(
            43113, "avalanche-fuji", "0x5425890298aed601595a70AB815c96711a31Bc65", ("USD Coin", "2"), id="fuji"
        ),
        pytest.param(43114, "avalanche", "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", ("USD Coin", "2"), id="avax"),
        pytest.param(
            421614, "arbitrum-sepolia", "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", ("USD Coin", "2"), id="arb-sep"
        ),
        pytest.param(42161, "arbitrum", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", ("USD Coin", "2"), id="arb"),
        pytest.param(84532, "base-sepolia", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", ("USDC", "2"), id="base-sep"),
        pytest.param(8453, "base", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", ("USD Coin", "2"), id="base"),
    ],
)
def test_builtin_rows_match_the_spec_table(chain_id, v1_name, asset, eip712) -> None:
    table = load_chains()
    row = table.get(chain_id)
    assert row is not None
    assert (row.network, row.v1_name, row.usdc_address, (row.eip712_name, row.eip712_version)) == (
        f"eip155:{chain_id}",
        v1_name,
        asset,
        eip712,
    )
    assert table.by_network(f"eip155:{chain_id}") is row
    assert table.by_v1_name(v1_name) is row
    assert table.resolve(chain_id) is table.resolve(str(chain_id)) is table.resolve(v1_name) is row


def test_builtin_table_has_seven_chains() -> None:
    assert len(BUILTIN_CHAINS) == len(load_chains()) == 7


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("eip155:1", id="unknown-chain"),
        pytest.param("eip155:0x2105", id="hex-id"),
        pytest.param("eip155:", id="empty-id"),
        pytest.param("solana:mainnet", id="other-namespace"),
        pytest.param("polygon", id="unknown-v1-name"),
        pytest.param(True, id="bool"),
    ],
)
def test_unknown_chains_resolve_to_none(value) -> None:
    assert load_chains().resolve(value) is None


def test_addresses_compare_case_insensitively() -> None:
    row = load_chains().get(8453)
    assert row is not None and row.is_asset("0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913")
    assert parse_network("eip155:8453") == 8453 and parse_network("EIP155:8453") is None


def test_sandbox_chain_follows_the_configured_chain_id() -> None:
    table = load_chains(sandbox_chain_id=1337)
    assert table.get(31337) is None
    assert table.get(1337) == sandbox_chain(1337)
    assert table.by_v1_name("sandbox") == sandbox_chain(1337)
    assert sandbox_chain(1337).network == "eip155:1337"


def test_gateway_chains_override_replaces_and_adds_rows() -> None:
    overrides = json.dumps(
        [
            {
                "chainId": 8453,
                "name": "Base (operator)",
                "usdcAddress": "0x0000000000000000000000000000000000000001",
                "eip712Name": "USDC",
                "eip712Version": "3",
            },
            {
                "chainId": "137",
                "name": "Polygon",
                "usdcAddress": "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
                "eip712Name": "USD Coin",
                "eip712Version": "2",
                "v1Name": "polygon",
            },
        ]
    )
    table = load_chains(overrides)
    base = table.get(8453)
    assert base is not None
    assert (base.name, base.usdc_address, base.eip712_version) == (
        "Base (operator)",
        "0x0000000000000000000000000000000000000001",
        "3",
    )
    assert base.v1_name == "base"  # kept when the override leaves it out
    assert table.by_v1_name("polygon") is table.get(137)
    assert len(table) == 8


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{", id="not-json"),
        pytest.param('{"chainId": 1}', id="not-array"),
        pytest.param("[1]", id="entry-not-object"),
        pytest.param('[{"chainId": 0, "name": "x", "usdcAddress": "0x' + "1" * 40 + '"}]', id="zero-chain-id"),
        pytest.param(
            '[{"chainId": 1, "name": "x", "usdcAddress": "0x12", "eip712Name": "a", "eip712Version": "1"}]',
            id="bad-address",
        ),
        pytest.param('[{"chainId": 1, "name": "x", "usdcAddress": "0x' + "1" * 40 + '"}]', id="missing-eip712"),
    ],
)
def test_bad_gateway_chains_is_a_settings_error(text) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_CHAINS"):
        load_chains(text)


def test_settings_defaults_are_sandbox() -> None:
    settings = X402Settings.from_config({})
    assert settings.sandbox is True
    assert settings.schemes == ("upto", "exact")
    assert (settings.default_envelope, settings.max_envelope, settings.max_timeout_seconds) == (
        1_000_000,
        100_000_000,
        600,
    )
    assert settings.extensions is True and settings.default_chain_id == 31337
    assert settings.facilitator_headers == {}


def test_settings_outside_sandbox() -> None:
    settings = X402Settings.from_config(
        {
            "GATEWAY_X402_FACILITATOR_URL": "https://facilitator.example/",
            "GATEWAY_X402_FACILITATOR_HEADERS": '{"X-Api-Key": "k"}',
            "GATEWAY_PAY_TO": "0xABCDEFabcdefABCDEFabcdefABCDEFabcdefABCD",
            "GATEWAY_X402_SCHEMES": "exact",
            "GATEWAY_X402_EXTENSIONS": "false",
        }
    )
    assert settings.sandbox is False and settings.default_chain_id == 43113
    assert settings.facilitator_url == "https://facilitator.example"
    assert settings.facilitator_headers == {"X-Api-Key": "k"}
    assert settings.pay_to == "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
    assert settings.schemes == ("exact",) and settings.extensions is False


def test_empty_schemes_disable_raw_x402() -> None:
    assert X402Settings.from_config({"GATEWAY_X402_SCHEMES": ""}).enabled is False


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("GATEWAY_X402_SCHEMES", "upto,batch", id="unknown-scheme"),
        pytest.param("GATEWAY_X402_MAX_ENVELOPE", "0", id="zero-max-envelope"),
        pytest.param("GATEWAY_X402_DEFAULT_ENVELOPE", "1.5", id="fractional-envelope"),
        pytest.param("GATEWAY_PAY_TO", "0x123", id="bad-pay-to"),
        pytest.param("GATEWAY_X402_FACILITATOR_HEADERS", '["x"]', id="headers-not-object"),
        pytest.param("GATEWAY_SANDBOX_FAUCET", "sometimes", id="bad-faucet"),
        pytest.param("GATEWAY_X402_EXTENSIONS", "maybe", id="bad-bool"),
    ],
)
def test_bad_settings_name_the_key(key, value) -> None:
    with pytest.raises(SettingsError, match=key):
        X402Settings.from_config({key: value})

"""Settings from the environment and a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_core.settings import GatewaySettings, SettingsError, load_config, parse_byte_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, 10 * 1024 * 1024, id="unset"),
        pytest.param("2048", 2048, id="bytes"),
        pytest.param("1kb", 1024, id="kb"),
        pytest.param("1.5mb", 1572864, id="decimal-mb"),
        pytest.param("64MB", 32 * 1024 * 1024, id="capped"),
        pytest.param("lots", 10 * 1024 * 1024, id="invalid-default"),
        pytest.param("0", 10 * 1024 * 1024, id="zero-default"),
    ],
)
def test_byte_sizes(value: str | None, expected: int) -> None:
    assert parse_byte_size(value, 10 * 1024 * 1024) == expected


def test_config_file_and_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "upstream_timeout: 30\nbody_limit: 1mb\nplugins: [openai, anthropic]\n"
        "providers:\n  my-vllm:\n    base_url: http://127.0.0.1:8000/v1\n    headers: {x-team: a}\n",
        encoding="utf-8",
    )
    raw = load_config(config, {"GATEWAY_UPSTREAM_TIMEOUT": "12"})
    assert raw["GATEWAY_PROVIDER_MY_VLLM_BASE_URL"] == "http://127.0.0.1:8000/v1"
    assert raw["GATEWAY_PROVIDER_MY_VLLM_HEADERS"] == '{"x-team":"a"}'
    settings = GatewaySettings.from_config(raw)
    assert settings.upstream_timeout == 12, "the environment wins over the file"
    assert settings.body_limit == 1024 * 1024
    assert settings.plugins == ("openai", "anthropic")


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"GATEWAY_PLATFORM_FEE_BPS": "20000"}, id="fee-range"),
        pytest.param({"GATEWAY_UPSTREAM_TIMEOUT": "soon"}, id="not-a-number"),
        pytest.param({"GATEWAY_SANDBOX": "maybe"}, id="not-a-bool"),
    ],
)
def test_invalid_settings_name_the_key(config: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(config))):
        GatewaySettings.from_config(config)


def test_defaults() -> None:
    settings = GatewaySettings.from_config({})
    assert settings.sandbox is True
    assert settings.catalog_files[0].name == "catalog.yaml" and settings.catalog_files[0].exists()
    assert settings.public_url is None
    assert GatewaySettings.from_config({"GATEWAY_PUBLIC_URL": "https://gw.example/"}).public_url == "https://gw.example"

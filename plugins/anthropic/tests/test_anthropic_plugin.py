"""Registration, settings resolution and the hook impls' glue."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_anthropic import plugin
from gateway_anthropic.settings import AnthropicSettings

from gateway_core import ProviderCall, ProviderContext, ProviderError
from gateway_core.provider_settings import resolve_provider_settings


def spec() -> Any:
    (only,) = plugin.gateway_providers(config={})
    return only


def test_registration() -> None:
    registered = spec()
    assert (registered.name, registered.settings_model) == ("anthropic", AnthropicSettings)
    chat = registered.operations["chat"]
    assert chat.streaming is True
    assert chat.params == {"tools", "tool_choice", "response_format", "temperature"}
    assert chat.passthrough == {
        "metadata",
        "parallel_tool_calls",
        "reasoning_effort",
        "stop",
        "stream_options",
        "top_p",
        "user",
    }


@pytest.mark.parametrize(
    ("config", "base_url", "api_key", "version"),
    [
        pytest.param({}, "https://api.anthropic.com", None, "2023-06-01", id="defaults"),
        pytest.param(
            {"ANTHROPIC_API_KEY": "sk-env", "ANTHROPIC_BASE_URL": "https://proxy.example"},
            "https://proxy.example",
            "sk-env",
            "2023-06-01",
            id="conventional-variables",
        ),
        pytest.param(
            {
                "ANTHROPIC_API_KEY": "sk-env",
                "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "sk-gateway",
                "GATEWAY_PROVIDER_ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
                "GATEWAY_PROVIDER_ANTHROPIC_API_VERSION": "2099-01-01",
            },
            "http://127.0.0.1:9",
            "sk-gateway",
            "2099-01-01",
            id="gateway-variables-win",
        ),
    ],
)
def test_settings(config: dict[str, str], base_url: str, api_key: str | None, version: str) -> None:
    settings = resolve_provider_settings(spec(), config)
    assert isinstance(settings, AnthropicSettings)
    assert (settings.base_url, settings.api_version) == (base_url, version)
    assert (settings.api_key.get_secret_value() if settings.api_key else None) == api_key
    assert settings.is_configured() is (api_key is not None)


def make_call() -> ProviderCall:
    return ProviderCall.model_validate(
        {
            "request_id": "req_test",
            "response_id": "resp_test",
            "row": {"modelId": "claude-test"},
            "model": "claude-test",
            "upstream_model": "claude-sonnet-4-5",
            "max_output_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        }
    )


def test_build_request_uses_the_settings() -> None:
    config = {"GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "sk-a", "GATEWAY_PROVIDER_ANTHROPIC_API_VERSION": "2030-01-01"}
    context = ProviderContext(spec(), resolve_provider_settings(spec(), config))
    request = plugin.gateway_build_request(call=make_call(), provider=context)
    assert request.headers == {"x-api-key": "sk-a", "anthropic-version": "2030-01-01"}
    assert request.url == "/v1/messages"


def test_build_request_without_a_key() -> None:
    context = ProviderContext(spec(), resolve_provider_settings(spec(), {}))
    with pytest.raises(ProviderError):
        plugin.gateway_build_request(call=make_call(), provider=context)

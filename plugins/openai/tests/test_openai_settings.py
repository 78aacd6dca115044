"""Instances, their settings and the upstream request the hooks describe (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_openai import plugin
from gateway_openai.responses_stream import ResponsesStreamDecoder
from gateway_openai.settings import CHAT, DEFAULT_BASE_URL, RESPONSES, OpenAISettings, instance_names, provider_specs
from gateway_openai.stream import ChatStreamDecoder

from gateway_core import Message, ProviderCall, ProviderContext
from gateway_core.provider_settings import resolve_provider_settings


def context(name: str, config: dict[str, str]) -> ProviderContext:
    spec = next(s for s in provider_specs(config) if s.name == name)
    return ProviderContext(spec, resolve_provider_settings(spec, config))


def make_call(**fields: Any) -> ProviderCall:
    base: dict[str, Any] = {
        "request_id": "req_abc",
        "response_id": "resp_abc",
        "row": {},
        "model": "m",
        "upstream_model": "gpt-4o-mini",
        "messages": [Message(role="user", content="hi")],
        "max_output_tokens": 64,
    }
    return ProviderCall(**{**base, **fields})


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        pytest.param(None, [], id="unset"),
        pytest.param("groq, vllm", ["groq", "vllm"], id="list"),
        pytest.param("Groq,groq,,openai", ["groq"], id="lowercased-deduplicated-default-skipped"),
    ],
)
def test_instance_names(raw: str | None, names: list[str]) -> None:
    config = {} if raw is None else {"GATEWAY_OPENAI_INSTANCES": raw}
    assert instance_names(config) == names
    assert [s.name for s in provider_specs(config)] == ["openai", *names]


@pytest.mark.parametrize(
    ("config", "configured"),
    [
        pytest.param({}, False, id="no-key"),
        pytest.param({"OPENAI_API_KEY": "sk-env"}, True, id="conventional-key"),
        pytest.param({"GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-gw"}, True, id="gateway-key"),
    ],
)
def test_default_instance(config: dict[str, str], configured: bool) -> None:
    provider = context("openai", config)
    assert provider.settings.base_url == DEFAULT_BASE_URL
    assert provider.settings.is_configured() is configured


def test_default_instance_conventional_fallbacks() -> None:
    settings = context(
        "openai",
        {
            "OPENAI_API_KEY": "sk-env",
            "OPENAI_BASE_URL": "https://proxy.example/v1",
            "OPENAI_ORG_ID": "org-1",
            "OPENAI_PROJECT_ID": "proj-1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-wins",
        },
    ).settings
    assert isinstance(settings, OpenAISettings)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-wins"
    assert (settings.base_url, settings.organization, settings.project) == (
        "https://proxy.example/v1",
        "org-1",
        "proj-1",
    )


@pytest.mark.parametrize(
    ("settings", "configured"),
    [
        pytest.param({}, False, id="nothing"),
        pytest.param({"BASE_URL": "http://127.0.0.1:8000/v1"}, False, id="url-without-key"),
        pytest.param({"BASE_URL": "http://127.0.0.1:8000/v1", "API_KEY": "k"}, True, id="url-and-key"),
        pytest.param({"BASE_URL": "http://127.0.0.1:8000/v1", "API_KEY_REQUIRED": "false"}, True, id="keyless-local"),
        pytest.param({"API_KEY_REQUIRED": "false"}, False, id="keyless-without-url"),
    ],
)
def test_extra_instance_is_configured(settings: dict[str, str], configured: bool) -> None:
    config = {"GATEWAY_OPENAI_INSTANCES": "vllm", **{f"GATEWAY_PROVIDER_VLLM_{k}": v for k, v in settings.items()}}
    assert context("vllm", config).settings.is_configured() is configured


def test_extra_instance_never_reads_openai_variables() -> None:
    settings = context("vllm", {"GATEWAY_OPENAI_INSTANCES": "vllm", "OPENAI_API_KEY": "sk-secret"}).settings
    assert settings.api_key is None and settings.base_url is None


def test_upstream_request() -> None:
    provider = context(
        "openai",
        {"OPENAI_API_KEY": "sk-test", "OPENAI_ORG_ID": "org-1", "GATEWAY_PROVIDER_OPENAI_PROJECT": "proj-1"},
    )
    request = plugin.gateway_build_request(make_call(stream=True), provider)
    assert request is not None
    assert (request.method, request.url, request.stream, request.stream_format) == (
        "POST",
        "/chat/completions",
        True,
        "sse",
    )
    assert dict(request.headers) == {
        "x-request-id": "req_abc",
        "authorization": "Bearer sk-test",
        "openai-organization": "org-1",
        "openai-project": "proj-1",
    }
    assert request.json["max_completion_tokens"] == 64


def test_keyless_instance_sends_no_authorization_and_legacy_cap() -> None:
    config = {
        "GATEWAY_OPENAI_INSTANCES": "local",
        "GATEWAY_PROVIDER_LOCAL_BASE_URL": "http://127.0.0.1:11434/v1",
        "GATEWAY_PROVIDER_LOCAL_API_KEY_REQUIRED": "false",
        "GATEWAY_PROVIDER_LOCAL_LEGACY_MAX_TOKENS": "true",
    }
    request = plugin.gateway_build_request(make_call(), context("local", config))
    assert request is not None
    assert "authorization" not in request.headers
    assert request.json["max_tokens"] == 64 and "max_completion_tokens" not in request.json


def test_only_the_openai_instance_declares_the_responses_api() -> None:
    specs = {spec.name: spec for spec in provider_specs({"GATEWAY_OPENAI_INSTANCES": "groq,vllm"})}
    assert dict(specs["openai"].operations) == {"chat": CHAT, "responses": RESPONSES}
    # Generic compatible servers rarely have /responses: the core serves Responses through chat.
    assert dict(specs["groq"].operations) == dict(specs["vllm"].operations) == {"chat": CHAT}
    assert RESPONSES.passthrough is not None and {"reasoning", "include", "store"} <= RESPONSES.passthrough
    assert RESPONSES.params == CHAT.params


def test_responses_upstream_request_and_decoder() -> None:
    provider = context("openai", {"OPENAI_API_KEY": "sk-test", "OPENAI_PROJECT_ID": "proj-1"})
    call = make_call(operation="responses", stream=True)
    request = plugin.gateway_build_request(call, provider)
    assert request is not None
    assert (request.method, request.url, request.stream, request.stream_format) == ("POST", "/responses", True, "sse")
    assert dict(request.headers) == {
        "x-request-id": "req_abc",
        "authorization": "Bearer sk-test",
        "openai-project": "proj-1",
    }
    assert request.json["input"] == [{"role": "user", "content": "hi"}]
    assert request.json["max_output_tokens"] == 64 and request.json["store"] is False
    assert isinstance(plugin.gateway_stream_decoder(call, provider, {}), ResponsesStreamDecoder)
    assert isinstance(plugin.gateway_stream_decoder(make_call(stream=True), provider, {}), ChatStreamDecoder)


def test_other_operations_are_not_built() -> None:
    provider = context("openai", {"OPENAI_API_KEY": "sk-test"})
    assert plugin.gateway_build_request(make_call(operation="embeddings"), provider) is None


def test_no_model_listing() -> None:
    assert plugin.gateway_list_models(context("openai", {})) is None

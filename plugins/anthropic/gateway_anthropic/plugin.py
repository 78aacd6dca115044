"""Hook impls of the ``anthropic`` provider: thin glue between the core and the translation
modules (:mod:`.adapter`, :mod:`.stream`, :mod:`.errors`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway_core import (
    Output,
    ProviderCall,
    ProviderContext,
    ProviderError,
    ProviderSpec,
    StreamDecoder,
    UpstreamRequest,
    UpstreamResponse,
    hookimpl,
)

from . import adapter, errors
from .settings import CHAT, DEFAULT_API_VERSION, ENV_FALLBACKS, AnthropicSettings
from .stream import AnthropicDecoder

__all__ = [
    "gateway_build_request",
    "gateway_map_error",
    "gateway_parse_response",
    "gateway_providers",
    "gateway_stream_decoder",
]


@hookimpl
def gateway_providers(config: Mapping[str, Any]) -> Sequence[ProviderSpec]:
    return [
        ProviderSpec(
            name="anthropic",
            settings_model=AnthropicSettings,
            operations={"chat": CHAT},
            env_fallbacks=ENV_FALLBACKS,
            description="Anthropic Messages API (Claude models).",
        )
    ]


@hookimpl
def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
    settings = provider.settings
    if settings.api_key is None:  # the core only calls configured providers; keep mypy honest
        raise ProviderError(401, "No Anthropic API key is configured")
    version = settings.api_version if isinstance(settings, AnthropicSettings) else DEFAULT_API_VERSION
    return adapter.build_request(call, settings.api_key.get_secret_value(), version)


@hookimpl
def gateway_parse_response(call: ProviderCall, provider: ProviderContext, response: UpstreamResponse) -> Output:
    return adapter.parse_response(call, response)


@hookimpl
def gateway_stream_decoder(call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]) -> StreamDecoder:
    return AnthropicDecoder(call)


@hookimpl
def gateway_map_error(
    call: ProviderCall | None,
    provider: ProviderContext,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str],
    exception: BaseException | None,
) -> ProviderError | None:
    return errors.map_error(status, body)

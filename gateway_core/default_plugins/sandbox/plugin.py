"""Hook impls of the built-in ``sandbox`` provider. Read this file as the model of a plugin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway_core.hookspecs import hookimpl
from gateway_core.types import (
    OperationSupport,
    Output,
    ProviderCall,
    ProviderContext,
    ProviderSettings,
    ProviderSpec,
    StreamDecoder,
    UpstreamRequest,
    UpstreamResponse,
)

from . import wire

if TYPE_CHECKING:
    import httpx

__all__ = [
    "SandboxSettings",
    "gateway_build_request",
    "gateway_parse_response",
    "gateway_providers",
    "gateway_stream_decoder",
]


class SandboxSettings(ProviderSettings):
    """``GATEWAY_PROVIDER_SANDBOX_BASE_URL`` points the sandbox at a real server speaking the
    sandbox wire format (tests do); unset, it answers in-process."""

    media_part_tokens: int = 1000

    def is_configured(self) -> bool:
        return True  # offline: nothing to configure


def _transport(settings: ProviderSettings) -> httpx.AsyncBaseTransport:
    # Imported on use: the echo server is an httpx transport, and the sandbox is registered in
    # every gateway, most of which never call it and need not load httpx.
    from .echo_server import EchoTransport

    media_part_tokens = settings.media_part_tokens if isinstance(settings, SandboxSettings) else 1000
    return EchoTransport(media_part_tokens)


CHAT = OperationSupport(
    streaming=True,
    params=frozenset({"tools", "tool_choice", "response_format", "temperature"}),
    passthrough=None,
)


@hookimpl
def gateway_providers(config: Mapping[str, Any]) -> Sequence[ProviderSpec]:
    return [
        ProviderSpec(
            name="sandbox",
            settings_model=SandboxSettings,
            operations={"chat": CHAT},
            defaults={"media_part_tokens": config.get("GATEWAY_MEDIA_PART_TOKENS") or 1000},
            description="Offline, deterministic provider for development and tests.",
            transport=_transport,
        )
    ]


@hookimpl
def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
    return UpstreamRequest("POST", "/chat", json=wire.request_body(call), stream=call.stream)


@hookimpl
def gateway_parse_response(call: ProviderCall, provider: ProviderContext, response: UpstreamResponse) -> Output:
    return wire.parse_output(response.json())


@hookimpl
def gateway_stream_decoder(call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]) -> StreamDecoder:
    return wire.SandboxDecoder()

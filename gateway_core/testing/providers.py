"""A provider to register in a test: the sandbox wire format under any name, keyless.

Point it at the mock upstream with ``GATEWAY_PROVIDER_<NAME>_BASE_URL`` and its calls play the
mock's scenarios (pacing, errors, resets) — the way to test core behaviour with a provider
whose upstream you control. Subclass it to override one hook (a translation that fails, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway_core.default_plugins.sandbox import wire
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

__all__ = ["KeylessSettings", "SandboxWireProvider"]


class KeylessSettings(ProviderSettings):
    """Settings of a provider that needs no credential."""

    def is_configured(self) -> bool:
        return True


class SandboxWireProvider:
    """Registers one provider ``name`` that speaks the sandbox wire (``POST /chat``)."""

    def __init__(self, name: str, support: OperationSupport | None = None) -> None:
        self.name = name
        self.support = support or OperationSupport()

    @hookimpl
    def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [ProviderSpec(name=self.name, settings_model=KeylessSettings, operations={"chat": self.support})]

    @hookimpl
    def gateway_build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        return UpstreamRequest("POST", "/chat", json=wire.request_body(call), stream=call.stream)

    @hookimpl
    def gateway_parse_response(
        self, call: ProviderCall, provider: ProviderContext, response: UpstreamResponse
    ) -> Output:
        return wire.parse_output(response.json())

    @hookimpl
    def gateway_stream_decoder(
        self, call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder:
        return wire.SandboxDecoder()

"""Hook impls of the ``openai`` provider plugin: thin glue over the translation modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

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

from . import adapter, errors, responses_wire
from .responses_stream import ResponsesStreamDecoder
from .settings import OpenAISettings, provider_specs, settings_of
from .stream import ChatStreamDecoder

__all__ = [
    "gateway_build_request",
    "gateway_list_models",
    "gateway_map_error",
    "gateway_parse_response",
    "gateway_providers",
    "gateway_stream_decoder",
]


def _headers(settings: OpenAISettings, request_id: str) -> dict[str, str]:
    # The instance's static ``headers`` setting is added by the core's pooled client.
    headers = {"x-request-id": request_id}
    if settings.api_key is not None and settings.api_key.get_secret_value():
        headers["authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
    if settings.organization:
        headers["openai-organization"] = settings.organization
    if settings.project:
        headers["openai-project"] = settings.project
    return headers


@hookimpl
def gateway_providers(config: Mapping[str, Any]) -> Sequence[ProviderSpec]:
    return provider_specs(config)


@hookimpl
def gateway_list_models(provider: ProviderContext) -> None:
    return None  # the catalog file lists OpenAI's models (the shipped catalog.yaml)


@hookimpl
def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest | None:
    settings = settings_of(provider)
    headers = _headers(settings, call.request_id)
    # Relative paths: the core joins them to the instance's base URL (``…/v1``).
    if call.operation == "chat":
        body = adapter.request_body(call, legacy_max_tokens=settings.legacy_max_tokens)
        return UpstreamRequest("POST", "/chat/completions", headers=headers, json=body, stream=call.stream)
    if call.operation == "responses":
        body = responses_wire.request_body(call)
        return UpstreamRequest("POST", "/responses", headers=headers, json=body, stream=call.stream)
    return None  # the core answers 400 invalid_operation


@hookimpl
def gateway_parse_response(call: ProviderCall, provider: ProviderContext, response: UpstreamResponse) -> Output:
    try:
        data = response.json()
    except orjson.JSONDecodeError:
        raise ProviderError(502, "Provider answer is not JSON") from None
    if call.operation == "responses":
        return responses_wire.parse_response(data)
    return adapter.parse_output(data)


@hookimpl
def gateway_stream_decoder(call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]) -> StreamDecoder:
    if call.operation == "responses":
        return ResponsesStreamDecoder()
    return ChatStreamDecoder()


@hookimpl
def gateway_map_error(
    call: ProviderCall | None,
    provider: ProviderContext,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str],
    exception: BaseException | None,
) -> ProviderError | None:
    if status is None:
        return None  # transport failures: the core's fallback maps them
    return errors.map_error_body(status, body)

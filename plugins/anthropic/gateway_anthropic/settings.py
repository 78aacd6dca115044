"""Settings of the ``anthropic`` provider and what it declares it supports."""

from __future__ import annotations

from collections.abc import Mapping

from gateway_core import OperationSupport, ProviderSettings

__all__ = ["CHAT", "DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "ENV_FALLBACKS", "PASSTHROUGH", "AnthropicSettings"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_API_VERSION = "2023-06-01"

#: Settings field -> the conventional variable read when ``GATEWAY_PROVIDER_ANTHROPIC_<FIELD>``
#: is unset (the same ones the official SDKs read).
ENV_FALLBACKS: Mapping[str, str] = {"api_key": "ANTHROPIC_API_KEY", "base_url": "ANTHROPIC_BASE_URL"}

#: Exactly the ``custom_params`` keys :mod:`.options` maps; the core answers 400 for any other.
PASSTHROUGH = frozenset(
    {"metadata", "parallel_tool_calls", "reasoning_effort", "stop", "stream_options", "top_p", "user"}
)

CHAT = OperationSupport(
    streaming=True,
    params=frozenset({"response_format", "temperature", "tool_choice", "tools"}),
    passthrough=PASSTHROUGH,
)


class AnthropicSettings(ProviderSettings):
    """``GATEWAY_PROVIDER_ANTHROPIC_<FIELD>`` (or ``providers.anthropic.<field>`` in the config
    file); ``api_key`` and ``base_url`` fall back to ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``.

    :ivar base_url: without ``/v1`` (requests go to ``<base_url>/v1/messages``), like the SDKs.
    :ivar api_version: the ``anthropic-version`` header sent with every request.
    """

    base_url: str | None = DEFAULT_BASE_URL
    api_version: str = DEFAULT_API_VERSION

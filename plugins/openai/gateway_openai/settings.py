"""Provider instances and their settings.

One provider instance per configured upstream: the default instance ``openai`` (settings from
``GATEWAY_PROVIDER_OPENAI_*``, falling back to ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``), plus one instance per name in
``GATEWAY_OPENAI_INSTANCES`` (``groq,vllm``), each configured only by its own
``GATEWAY_PROVIDER_<NAME>_*`` variables.

The default instance declares ``chat`` (Chat Completions) and ``responses`` (the Responses
API, which the gateway's ``/v1/responses`` then uses natively). The extra instances are
generic OpenAI-compatible chat servers, most of which have no ``/responses`` endpoint: they
declare ``chat`` only, and the gateway serves ``/v1/responses`` for them through chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway_core import OperationSupport, ProviderContext, ProviderSettings, ProviderSpec

__all__ = [
    "CHAT",
    "DEFAULT_BASE_URL",
    "DEFAULT_INSTANCE",
    "INSTANCES_KEY",
    "PASSTHROUGH",
    "RESPONSES",
    "RESPONSES_PASSTHROUGH",
    "OpenAISettings",
    "instance_names",
    "provider_specs",
    "settings_of",
]

DEFAULT_INSTANCE = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Config key naming the extra OpenAI-compatible instances, comma-separated.
INSTANCES_KEY = "GATEWAY_OPENAI_INSTANCES"

#: The spec/chat.md §3.3 pass-through parameters Chat Completions accepts. ``text`` is accepted
#: for its ``verbosity`` only; ``include`` and ``reasoning`` are Responses-API shapes, so they
#: are left out and the core answers 400 naming them.
PASSTHROUGH = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "metadata",
        "parallel_tool_calls",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "seed",
        "service_tier",
        "store",
        "stream_options",
        "text",
        "top_p",
        "user",
    }
)

#: The pass-through parameters the Responses API accepts: the spec/chat.md §3.3 list minus the
#: sampling knobs it lacks (``frequency_penalty``, ``logit_bias``, ``presence_penalty``,
#: ``seed``), plus its own request fields. ``reasoning_effort`` is sent as ``reasoning.effort``;
#: ``store`` and ``metadata`` are the gateway record's and never reach the upstream.
RESPONSES_PASSTHROUGH = frozenset(
    {
        "include",
        "max_tool_calls",
        "metadata",
        "parallel_tool_calls",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "reasoning_effort",
        "safety_identifier",
        "service_tier",
        "store",
        "stream_options",
        "text",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)

_PARAMS = frozenset({"tools", "tool_choice", "response_format", "temperature"})

CHAT = OperationSupport(streaming=True, params=_PARAMS, passthrough=PASSTHROUGH)
RESPONSES = OperationSupport(streaming=True, params=_PARAMS, passthrough=RESPONSES_PASSTHROUGH)


class OpenAISettings(ProviderSettings):
    """Settings of one instance.

    :ivar legacy_max_tokens: send the output cap as ``max_tokens`` instead of
        ``max_completion_tokens`` (servers that only know the older field).
    :ivar api_key_required: ``false`` for local servers (vLLM, Ollama) that take no key; the
        instance is then configured as soon as it has a ``base_url``.
    :ivar organization: sent as ``OpenAI-Organization``.
    :ivar project: sent as ``OpenAI-Project``.
    """

    legacy_max_tokens: bool = False
    api_key_required: bool = True
    organization: str | None = None
    project: str | None = None

    def is_configured(self) -> bool:
        if not self.base_url:
            return False
        return super().is_configured() or not self.api_key_required


def instance_names(config: Mapping[str, Any]) -> list[str]:
    """The extra instance names of ``GATEWAY_OPENAI_INSTANCES``, lowercased, deduplicated."""
    raw = str(config.get(INSTANCES_KEY) or "")
    names = (part.strip().lower() for part in raw.split(","))
    return [name for name in dict.fromkeys(names) if name and name != DEFAULT_INSTANCE]


def provider_specs(config: Mapping[str, Any]) -> list[ProviderSpec]:
    """The default ``openai`` instance, then one instance per extra name."""
    default = ProviderSpec(
        name=DEFAULT_INSTANCE,
        settings_model=OpenAISettings,
        operations={"chat": CHAT, "responses": RESPONSES},
        env_fallbacks={
            "api_key": "OPENAI_API_KEY",
            "base_url": "OPENAI_BASE_URL",
            "organization": "OPENAI_ORG_ID",
            "project": "OPENAI_PROJECT_ID",
        },
        defaults={"base_url": DEFAULT_BASE_URL},
        description="OpenAI Chat Completions and Responses API",
    )
    # Extra instances get no OPENAI_* fallbacks on purpose: a local server must never receive
    # the operator's OpenAI key just because its own key is unset. They speak chat only.
    extras = [
        ProviderSpec(
            name=name,
            settings_model=OpenAISettings,
            operations={"chat": CHAT},
            description=f"OpenAI-compatible server '{name}'",
        )
        for name in instance_names(config)
    ]
    return [default, *extras]


def settings_of(provider: ProviderContext) -> OpenAISettings:
    """The instance's settings, typed (the core built them from :class:`OpenAISettings`)."""
    settings = provider.settings
    if not isinstance(settings, OpenAISettings):
        raise TypeError(f"provider {provider.name!r} was not registered by the openai plugin")
    return settings

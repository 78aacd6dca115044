"""What a provider plugin declares about itself (registration) and receives in every hook."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:
    # Only for hints (the dataclass never evaluates them): a gateway without in-process
    # providers need not load httpx.
    import httpx

__all__ = ["OperationSupport", "ProviderContext", "ProviderSettings", "ProviderSpec"]


class ProviderSettings(BaseModel):
    """Base settings of a provider; subclass it to add fields.

    The core fills each field from ``GATEWAY_PROVIDER_<NAME>_<FIELD>`` (uppercased), then the
    config file's ``providers.<name>.<field>``, then the conventional variable named in
    :attr:`ProviderSpec.env_fallbacks`. ``headers`` accepts a JSON object in the environment.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    base_url: str | None = None
    api_key: SecretStr | None = None
    headers: dict[str, str] = {}
    max_connections: int = 256

    def is_configured(self) -> bool:
        """Whether calls can be made. Rows of an unconfigured provider show ``available:false``
        and calls fail with 503 ``provider_unavailable``. Default: an API key is set."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())


@dataclass(frozen=True, slots=True)
class OperationSupport:
    """What a provider supports for one operation.

    :ivar streaming: the provider can stream this operation (otherwise streamed calls run
        non-streamed and are emitted as one delta).
    :ivar params: optional first-class request parameters it honours (``tools``,
        ``tool_choice``, ``response_format``, ``temperature``, ``image``, …). A request that
        sets any other one is answered 400 naming the parameter.
    :ivar passthrough: ``custom_params`` keys it forwards (spec/chat.md §3.3); ``None``
        forwards every key. A request with a key outside the set is answered 400 naming it.
    """

    streaming: bool = True
    params: frozenset[str] = frozenset()
    passthrough: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider instance, as returned by ``gateway_providers``.

    :ivar name: short, user-visible, unique; what catalog rows name in ``provider``.
    :ivar settings_model: the :class:`ProviderSettings` subclass the core instantiates.
    :ivar operations: operation name -> support (see :data:`~gateway_core.types.call.Operation`).
    :ivar env_fallbacks: settings field -> conventional environment variable
        (``{"api_key": "OPENAI_API_KEY"}``), read when the ``GATEWAY_PROVIDER_…`` one is unset.
    :ivar defaults: settings values used when nothing else sets them (for example a second
        instance of the same plugin with another ``base_url``).
    :ivar transport: builds an in-process ``httpx`` transport instead of the network one;
        used by offline providers such as ``sandbox``. Ignored when ``base_url`` is set.
    """

    name: str
    settings_model: type[ProviderSettings] = ProviderSettings
    operations: Mapping[str, OperationSupport] = field(default_factory=dict)
    env_fallbacks: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    description: str = ""
    transport: Callable[[ProviderSettings], httpx.AsyncBaseTransport] | None = None


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """Passed to every provider hook: which instance is called and its settings."""

    spec: ProviderSpec
    settings: ProviderSettings

    @property
    def name(self) -> str:
        return self.spec.name

"""The plugin manager: registration with validation, provider instances, per-provider hook callers.

Lifecycle (all at start-up)::

    manager = GatewayPluginManager()
    manager.register_defaults()                  # built-in sandbox + fallback error mapper
    manager.load_entry_points(names)             # stevedore; failures are recorded, not raised
    manager.build_providers(config)              # gateway_providers + settings per instance
    provider = manager.provider("sandbox")       # -> Provider with typed .hooks facade

A provider's hooks are called through :class:`ProviderHooks`, a typed facade over
``PluginManager.subset_hook_caller`` that leaves out every *other* provider plugin, so a plugin
only ever sees its own calls while cross-cutting plugins still wrap them all.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import ValidationError

from gateway_core import hookspecs
from gateway_core.discovery import ENTRY_POINT_GROUP, PluginFailure, discover, installed_entry_points
from gateway_core.errors import ProviderError
from gateway_core.provider_settings import resolve_provider_settings
from gateway_core.types import (
    JobRef,
    JobStatus,
    Output,
    ProviderCall,
    ProviderContext,
    ProviderSpec,
    StreamDecoder,
    UpstreamRequest,
    UpstreamResponse,
)

if TYPE_CHECKING:
    # Only for hints: httpx is loaded when an in-process provider makes its pool.
    import httpx

__all__ = ["GatewayPluginManager", "PluginValidationError", "Provider", "ProviderHooks"]

_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,63}$")


class PluginValidationError(Exception):
    """A plugin's impls do not fit the hookspecs (async impl, unknown hook, wrong arguments)."""


class ProviderHooks:
    """Typed calls into one provider plugin (plus cross-cutting plugins), nothing else."""

    def __init__(self, pm: pluggy.PluginManager, plugin: object, other_providers: Sequence[object]) -> None:
        self._pm = pm
        self._plugin = plugin
        self._others = list(other_providers)
        self._callers: dict[str, Any] = {}

    def _caller(self, name: str) -> Any:
        caller = self._callers.get(name)
        if caller is None:
            caller = self._pm.subset_hook_caller(name, remove_plugins=self._others)
            self._callers[name] = caller
        return caller

    def list_models(self, provider: ProviderContext) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for result in self._caller("gateway_list_models")(provider=provider):
            rows.extend(result or ())
        return rows

    def param_catalog(
        self, provider: ProviderContext, row: Mapping[str, Any], modality: str
    ) -> Mapping[str, Any] | None:
        result: Mapping[str, Any] | None = self._caller("gateway_param_catalog")(
            provider=provider, row=row, modality=modality
        )
        return result

    def build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest | None:
        result: UpstreamRequest | None = self._caller("gateway_build_request")(call=call, provider=provider)
        return result

    def parse_response(
        self, call: ProviderCall, provider: ProviderContext, response: UpstreamResponse
    ) -> Output | None:
        result: Output | None = self._caller("gateway_parse_response")(call=call, provider=provider, response=response)
        return result

    def stream_decoder(
        self, call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder | None:
        result: StreamDecoder | None = self._caller("gateway_stream_decoder")(
            call=call, provider=provider, headers=headers
        )
        return result

    def build_job_request(self, job: JobRef, action: str, provider: ProviderContext) -> UpstreamRequest | None:
        result: UpstreamRequest | None = self._caller("gateway_build_job_request")(
            job=job, action=action, provider=provider
        )
        return result

    def parse_job_status(self, job: JobRef, provider: ProviderContext, response: UpstreamResponse) -> JobStatus | None:
        result: JobStatus | None = self._caller("gateway_parse_job_status")(
            job=job, provider=provider, response=response
        )
        return result

    def map_error(
        self,
        call: ProviderCall | None,
        provider: ProviderContext,
        status: int | None,
        body: bytes,
        headers: Mapping[str, str],
        exception: BaseException | None,
    ) -> ProviderError:
        result: ProviderError | None = self._caller("gateway_map_error")(
            call=call, provider=provider, status=status, body=body, headers=headers, exception=exception
        )
        # The built-in fallback always answers; this only guards a manager built without it.
        return result or ProviderError(status, "Provider request failed")


@dataclass(frozen=True)
class Provider:
    """One provider instance: its registration, settings and hook facade."""

    context: ProviderContext
    hooks: ProviderHooks
    plugin_name: str
    distribution: str | None
    version: str | None

    @property
    def name(self) -> str:
        return self.context.spec.name

    @property
    def spec(self) -> ProviderSpec:
        return self.context.spec

    @property
    def configured(self) -> bool:
        return self.context.settings.is_configured()

    @property
    def in_process(self) -> bool:
        """An offline provider answering in-process, unless a ``base_url`` points it at a real
        server (how the contract suite drives ``sandbox`` over loopback)."""
        return self.spec.transport is not None and not self.context.settings.base_url

    def local_transport(self) -> httpx.AsyncBaseTransport | None:
        """The in-process transport of an offline provider (:attr:`in_process`), else None."""
        if self.spec.transport is None or not self.in_process:
            return None
        return self.spec.transport(self.context.settings)


@dataclass
class _Registered:
    name: str
    plugin: object
    distribution: str | None
    version: str | None


class GatewayPluginManager:
    """Registers plugins, validates them against the hookspecs and builds provider instances."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._registered: list[_Registered] = []
        self.failures: list[PluginFailure] = []
        self.providers: dict[str, Provider] = {}

    # -- registration -------------------------------------------------------------------------

    def _validate(self, plugin: object, name: str) -> None:
        try:
            hash(plugin)
        except TypeError:
            # pluggy's subset_hook_caller keeps plugins in a set: an unhashable one would break
            # every provider's hook calls later instead of failing here.
            raise PluginValidationError(
                f"plugin {name!r}: a plugin must be hashable (a module, class or plain instance), "
                f"not {type(plugin).__name__}"
            ) from None
        for attr in dir(plugin):
            opts = self.pm.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            # ``@hookimpl(specname=...)`` lets any attribute name implement a hook: check that name.
            hook_name = opts.get("specname") or attr
            if not hook_name.startswith("gateway_") or not hasattr(self.pm.hook, hook_name):
                raise PluginValidationError(f"plugin {name!r}: {hook_name} is not a gateway hook (no such hookspec)")
            function = getattr(plugin, attr)
            if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
                raise PluginValidationError(
                    f"plugin {name!r}: hook impl {hook_name} is 'async def'; gateway hook impls must be plain "
                    "'def' (return an awaitable or an async iterator instead)"
                )

    def register(
        self, plugin: object, name: str, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register one plugin after validating it.

        :raises PluginValidationError: async impls, impls of unknown ``gateway_*`` hooks, or
            impl arguments that are not in the hookspec.
        """
        self._validate(plugin, name)
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginValidationError(f"plugin {name!r}: {exc}") from exc
        self._registered.append(_Registered(name, plugin, distribution, version))

    def _register_or_record(self, plugin: object, name: str, distribution: str | None, version: str | None) -> None:
        try:
            self.register(plugin, name, distribution=distribution, version=version)
        except PluginValidationError as exc:
            self.failures.append(PluginFailure(name, distribution, version, str(exc)))

    def register_defaults(self) -> None:
        """Register the built-in plugins (the offline sandbox provider, the error fallback)."""
        from gateway_core.default_plugins import DEFAULT_PLUGINS

        for name, plugin in DEFAULT_PLUGINS:
            self.register(plugin, name, distribution="gateway-core", version=_core_version())

    def load_entry_points(
        self, names: Iterable[str], allow: Sequence[str] | None = None, required: Iterable[str] = ()
    ) -> None:
        """Load the named plugins from the entry-point group; record every failure.

        :param names: the plugins the catalog and settings name.
        :param allow: when given, only these names may load (an operator allow-list).
        :param required: names the operator asked for explicitly (``GATEWAY_PLUGINS``); one
            that is not installed is reported, where a catalog row's unknown provider is not
            (its rows are simply listed unavailable).
        """
        installed = installed_entry_points()
        registered = {r.name for r in self._registered}
        for name in dict.fromkeys(required):
            if name not in installed and name not in registered:
                error = f"no installed plugin named {name!r} in the {ENTRY_POINT_GROUP!r} entry-point group"
                self.failures.append(PluginFailure(name, None, None, error))
        selected = [n for n in dict.fromkeys(names) if n in installed and n not in registered]
        if allow is not None:
            selected = [n for n in selected if n in allow]
        loaded, failures = discover(selected)
        self.failures.extend(failures)
        for found in loaded:
            self._register_or_record(found.plugin, found.name, found.distribution, found.version)

    # -- provider instances -------------------------------------------------------------------

    def build_providers(self, config: Mapping[str, str]) -> None:
        """Ask every plugin for its provider instances and resolve their settings.

        A plugin whose registration hook raises, returns something invalid or names an
        instance another plugin already has is unregistered and recorded as a failure.
        """
        owners: list[tuple[_Registered, list[ProviderSpec]]] = []
        taken: set[str] = set()
        for impl in self.pm.hook.gateway_providers.get_hookimpls():
            entry = next(r for r in self._registered if r.plugin is impl.plugin)
            try:
                specs = _checked_specs(impl.function(config=config), taken)
            except Exception as exc:  # noqa: BLE001 - one plugin's bug must not stop the gateway
                self._drop(entry, f"gateway_providers failed: {type(exc).__name__}: {exc}")
                continue
            # Reserve the names only once the whole plugin is accepted: a dropped plugin frees them.
            taken.update(spec.name for spec in specs)
            owners.append((entry, specs))

        provider_plugins = [entry.plugin for entry, specs in owners if specs]
        for entry, specs in owners:
            if not specs:
                continue  # cross-cutting plugin: stays in every provider's hook caller
            others = [p for p in provider_plugins if p is not entry.plugin]
            hooks = ProviderHooks(self.pm, entry.plugin, others)
            for spec in specs:
                try:
                    settings = resolve_provider_settings(spec, config)
                except ValidationError as exc:
                    self.failures.append(
                        PluginFailure(
                            entry.name,
                            entry.distribution,
                            entry.version,
                            f"settings of provider {spec.name!r} are invalid: {exc}",
                        )
                    )
                    continue
                self.providers[spec.name] = Provider(
                    ProviderContext(spec, settings), hooks, entry.name, entry.distribution, entry.version
                )

    def _drop(self, entry: _Registered, error: str) -> None:
        self.pm.unregister(entry.plugin)
        self._registered.remove(entry)
        self.failures.append(PluginFailure(entry.name, entry.distribution, entry.version, error))

    def provider(self, name: str) -> Provider | None:
        return self.providers.get(name)

    def provider_names(self) -> list[str]:
        return list(self.providers)

    # -- introspection ------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """What ``gateway plugins`` and ``GET /v1/plugins`` show."""
        by_plugin: dict[str, list[str]] = {}
        for provider in self.providers.values():
            by_plugin.setdefault(provider.plugin_name, []).append(provider.name)
        plugins = [
            {
                "name": r.name,
                "distribution": r.distribution,
                "version": r.version,
                "providers": by_plugin.get(r.name, []),
                "hooks": sorted(
                    caller.name
                    for caller in self.pm.get_hookcallers(r.plugin) or ()
                    if caller.name.startswith("gateway_")
                ),
            }
            for r in self._registered
        ]
        providers = [
            {
                "name": p.name,
                "plugin": p.plugin_name,
                "configured": p.configured,
                "operations": sorted(p.spec.operations),
                "settings": {
                    "env": _settings_env(p.spec),
                    "fallbacks": dict(p.spec.env_fallbacks),
                },
            }
            for p in self.providers.values()
        ]
        installed = installed_entry_points()
        loaded = {r.name for r in self._registered} | {f.name for f in self.failures}
        not_selected = [
            {"name": name, "distribution": dist, "version": version}
            for name, (dist, version) in installed.items()
            if name not in loaded
        ]
        return {
            "plugins": plugins,
            "providers": providers,
            "failed": [f.as_dict() for f in self.failures],
            "installed_not_loaded": not_selected,
        }


def _checked_specs(returned: Any, taken: set[str]) -> list[ProviderSpec]:
    """Validate what one plugin's ``gateway_providers`` returned."""
    specs: list[ProviderSpec] = []
    for spec in returned or ():
        if not isinstance(spec, ProviderSpec):
            raise PluginValidationError(f"gateway_providers returned {type(spec).__name__}, not ProviderSpec")
        if not _PROVIDER_NAME.match(spec.name):
            raise PluginValidationError(f"provider name {spec.name!r} is not a valid short name")
        if spec.name in taken or any(s.name == spec.name for s in specs):
            raise PluginValidationError(f"provider name {spec.name!r} is already registered")
        specs.append(spec)
    return specs


def _settings_env(spec: ProviderSpec) -> list[str]:
    from gateway_core.provider_settings import settings_env_names

    return settings_env_names(spec)


def _core_version() -> str | None:
    from gateway_core import __version__

    return __version__

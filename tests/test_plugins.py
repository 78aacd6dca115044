"""The plugin manager: validation at registration, per-provider hook callers, failure isolation,
provider settings, availability and the introspection report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from gateway_core import plugins as plugins_module
from gateway_core.default_plugins.sandbox import wire
from gateway_core.default_plugins.sandbox.echo_server import EchoTransport
from gateway_core.discovery import DiscoveredPlugin, PluginFailure
from gateway_core.hookspecs import hookimpl
from gateway_core.plugins import GatewayPluginManager, PluginValidationError
from gateway_core.provider_settings import env_prefix, resolve_provider_settings, settings_env_names
from gateway_core.testing.server import run_gateway
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

CHAT = {"chat": OperationSupport()}


def _module(name: str, **impls: object) -> ModuleType:
    """A module-like plugin object (what an entry point loads) holding ``impls``."""
    module = ModuleType(name)
    vars(module).update(impls)
    return module


def _call(model: str = "m") -> ProviderCall:
    return ProviderCall(request_id="req_1", response_id="resp_1", row={}, model=model, upstream_model=model)


def provider_plugin(plugin: str, *names: str, log: list[tuple[str, str]] | None = None) -> ModuleType:
    """A provider plugin serving ``names``; every translation call is appended to ``log``."""
    calls = log if log is not None else []

    @hookimpl
    def gateway_providers(config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [ProviderSpec(name=name, operations=CHAT) for name in names]

    @hookimpl
    def gateway_list_models(provider: ProviderContext) -> list[dict[str, Any]]:
        return [{"modelId": f"{plugin}-{provider.name}-model"}]

    @hookimpl
    def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        calls.append((plugin, provider.name))
        return UpstreamRequest("POST", f"/{plugin}/{provider.name}")

    @hookimpl
    def gateway_map_error(
        call: ProviderCall | None,
        provider: ProviderContext,
        status: int | None,
        body: bytes,
        headers: Mapping[str, str],
        exception: BaseException | None,
    ) -> Any:
        from gateway_core.errors import ProviderError

        return ProviderError(418, f"{plugin} special") if status == 418 else None

    return _module(
        plugin,
        gateway_providers=gateway_providers,
        gateway_list_models=gateway_list_models,
        gateway_build_request=gateway_build_request,
        gateway_map_error=gateway_map_error,
    )


def build(*plugins: tuple[str, object], config: Mapping[str, str] | None = None) -> GatewayPluginManager:
    manager = GatewayPluginManager()
    manager.register_defaults()
    for name, plugin in plugins:
        manager.register(plugin, name)
    manager.build_providers(config or {})
    return manager


def _provider(manager: GatewayPluginManager, name: str) -> plugins_module.Provider:
    provider = manager.provider(name)
    assert provider is not None, f"provider {name!r} missing; failures: {manager.failures}"
    return provider


# --- registration validation -----------------------------------------------------------------


def _async_module() -> object:
    @hookimpl
    async def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        raise AssertionError

    return _module("p", gateway_build_request=gateway_build_request)


def _async_gen_module() -> object:
    @hookimpl
    async def gateway_stream_decoder(call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]) -> Any:
        yield None

    return _module("p", gateway_stream_decoder=gateway_stream_decoder)


class _AsyncMethod:
    @hookimpl
    async def gateway_parse_response(self, call: ProviderCall, provider: ProviderContext, response: Any) -> Any:
        raise AssertionError


class _AsyncSpecname:
    @hookimpl(specname="gateway_build_request")
    async def build(self, call: ProviderCall, provider: ProviderContext) -> Any:
        raise AssertionError


class _UnknownHook:
    @hookimpl
    def gateway_foo(self, provider: ProviderContext) -> None:
        raise AssertionError


class _UnknownSpecname:
    @hookimpl(specname="gateway_foo")
    def foo(self, provider: ProviderContext) -> None:
        raise AssertionError


class _NotAGatewayName:
    @hookimpl
    def build_request(self, call: ProviderCall, provider: ProviderContext) -> None:
        raise AssertionError


class _ExtraArgument:
    @hookimpl
    def gateway_build_request(self, call: ProviderCall, provider: ProviderContext, extra_thing: int) -> None:
        raise AssertionError


def _unhashable() -> object:
    @hookimpl
    def gateway_providers(config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [ProviderSpec(name="ns")]

    return SimpleNamespace(gateway_providers=gateway_providers)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(_async_module, ["gateway_build_request", "'async def'", "plain 'def'"], id="async-def"),
        pytest.param(_async_gen_module, ["gateway_stream_decoder", "'async def'"], id="async-generator"),
        pytest.param(_AsyncMethod, ["gateway_parse_response", "'async def'"], id="async-method"),
        pytest.param(_AsyncSpecname, ["gateway_build_request", "'async def'"], id="async-via-specname"),
        pytest.param(_UnknownHook, ["gateway_foo is not a gateway hook"], id="unknown-hook"),
        pytest.param(_UnknownSpecname, ["gateway_foo is not a gateway hook"], id="unknown-hook-via-specname"),
        pytest.param(_NotAGatewayName, ["build_request is not a gateway hook"], id="unprefixed-impl"),
        pytest.param(_ExtraArgument, ["gateway_build_request", "extra_thing"], id="argument-not-in-spec"),
        pytest.param(_unhashable, ["must be hashable", "SimpleNamespace"], id="unhashable-plugin"),
    ],
)
def test_register_rejects_invalid_plugin(make: Callable[[], object], expected: list[str]) -> None:
    manager = GatewayPluginManager()
    plugin = make()
    with pytest.raises(PluginValidationError) as excinfo:
        manager.register(plugin, "bad-plugin")
    message = str(excinfo.value)
    assert "'bad-plugin'" in message
    for fragment in expected:
        assert fragment in message
    assert manager.pm.get_plugin("bad-plugin") is None
    assert manager.report()["plugins"] == []


def test_register_accepts_subset_of_arguments_and_awaitable_returning_impl() -> None:
    class Plugin:
        @hookimpl
        def gateway_build_request(self, call: ProviderCall) -> Any:
            async def later() -> UpstreamRequest:
                return UpstreamRequest("GET", "/")

            return later()  # a plain def may *return* an awaitable

    manager = GatewayPluginManager()
    manager.register(Plugin(), "ok")
    assert manager.pm.get_plugin("ok") is not None


def test_register_same_name_twice_is_rejected() -> None:
    manager = GatewayPluginManager()
    manager.register(provider_plugin("a", "a"), "a")
    with pytest.raises(PluginValidationError, match="'a'"):
        manager.register(provider_plugin("a2", "a2"), "a")


def test_register_or_record_records_instead_of_raising() -> None:
    manager = GatewayPluginManager()
    manager._register_or_record(_async_module(), "acme", "gateway-acme", "1.2.3")
    assert len(manager.failures) == 1
    failure = manager.failures[0]
    assert (failure.name, failure.distribution, failure.version) == ("acme", "gateway-acme", "1.2.3")
    assert "gateway_build_request" in failure.error
    assert "'async def'" in failure.error
    assert manager.pm.get_plugin("acme") is None


# --- load_entry_points (discovery replaced; tests/test_discovery.py uses real entry points) ----


@pytest.fixture
def fake_discovery(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    installed = {
        "good": ("gateway-good", "1.0"),
        "broken": ("gateway-broken", "2.0"),
        "asyncbad": ("gateway-asyncbad", "3.0"),
        "sandbox": ("gateway-shadow", "9.9"),
        "unrequested": ("gateway-unrequested", "0.1"),
    }
    requested: list[list[str]] = []
    loadable = {
        "good": provider_plugin("good", "good"),
        "asyncbad": _async_module(),
        "sandbox": provider_plugin("shadow", "shadow"),
    }

    def discover(names: Any) -> tuple[list[DiscoveredPlugin], list[PluginFailure]]:
        names = list(names)
        requested.append(names)
        loaded = [DiscoveredPlugin(n, loadable[n], *installed[n]) for n in names if n in loadable]
        failed = [PluginFailure(n, *installed[n], "ImportError: no module named x") for n in names if n == "broken"]
        return loaded, failed

    monkeypatch.setattr(plugins_module, "installed_entry_points", lambda: dict(installed))
    monkeypatch.setattr(plugins_module, "discover", discover)
    return requested


def test_load_entry_points_records_failures(fake_discovery: list[list[str]]) -> None:
    manager = GatewayPluginManager()
    manager.register_defaults()
    manager.load_entry_points(["good", "broken", "good", "not-installed", "asyncbad", "sandbox"])

    # Deduplicated, in order; not installed and already registered (built-in) names are skipped.
    assert fake_discovery == [["good", "broken", "asyncbad"]]
    assert manager.pm.get_plugin("good") is not None
    broken, asyncbad = manager.failures
    assert broken == PluginFailure("broken", "gateway-broken", "2.0", "ImportError: no module named x")
    assert (asyncbad.name, asyncbad.distribution, asyncbad.version) == ("asyncbad", "gateway-asyncbad", "3.0")
    assert "gateway_build_request" in asyncbad.error
    assert "'async def'" in asyncbad.error
    assert manager.pm.get_plugin("asyncbad") is None
    report = manager.report()
    good = next(p for p in report["plugins"] if p["name"] == "good")
    assert (good["distribution"], good["version"]) == ("gateway-good", "1.0")
    assert [p["name"] for p in report["installed_not_loaded"]] == ["unrequested"]


def test_load_entry_points_allow_list(fake_discovery: list[list[str]]) -> None:
    manager = GatewayPluginManager()
    manager.load_entry_points(["good", "broken", "asyncbad"], allow=["good"])
    assert fake_discovery == [["good"]]
    assert manager.failures == []
    not_loaded = {p["name"] for p in manager.report()["installed_not_loaded"]}
    assert {"broken", "asyncbad"} <= not_loaded


# --- per-provider hook callers ---------------------------------------------------------------


def test_provider_hooks_only_call_their_own_plugin() -> None:
    log: list[tuple[str, str]] = []
    manager = build(("a", provider_plugin("a", "a", log=log)), ("b", provider_plugin("b", "b", log=log)))
    a, b = _provider(manager, "a"), _provider(manager, "b")

    request = a.hooks.build_request(_call(), a.context)
    assert request is not None
    assert request.url == "/a/a"
    assert log == [("a", "a")]  # b implements the hook too, and was never called

    request = b.hooks.build_request(_call(), b.context)
    assert request is not None
    assert request.url == "/b/b"
    assert log == [("a", "a"), ("b", "b")]

    assert a.hooks.list_models(a.context) == [{"modelId": "a-a-model"}]
    assert b.hooks.list_models(b.context) == [{"modelId": "b-b-model"}]


def test_sandbox_hooks_do_not_see_other_provider_plugins() -> None:
    log: list[tuple[str, str]] = []
    manager = build(("a", provider_plugin("a", "a", log=log)))
    sandbox = _provider(manager, "sandbox")
    request = sandbox.hooks.build_request(_call(), sandbox.context)
    assert request is not None
    assert request.url == "/chat"
    assert log == []


def test_one_plugin_serving_two_instances() -> None:
    log: list[tuple[str, str]] = []
    manager = build(
        ("multi", provider_plugin("multi", "one", "two", log=log)), ("b", provider_plugin("b", "b", log=log))
    )
    for name in ("one", "two"):
        provider = _provider(manager, name)
        request = provider.hooks.build_request(_call(), provider.context)
        assert request is not None
        assert request.url == f"/multi/{name}"
    assert log == [("multi", "one"), ("multi", "two")]
    report = manager.report()
    assert next(p for p in report["plugins"] if p["name"] == "multi")["providers"] == ["one", "two"]


def _tracer(seen: list[tuple[str, str]], *, registers_empty: bool) -> ModuleType:
    @hookimpl(wrapper=True)
    def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> Iterator[None]:
        seen.append(("before", provider.name))
        result = yield
        seen.append(("after", provider.name))
        return replace(result, headers={**result.headers, "x-traced": provider.name})  # type: ignore[return-value]

    @hookimpl
    def gateway_parse_response(call: ProviderCall, provider: ProviderContext, response: UpstreamResponse) -> None:
        seen.append(("observe", provider.name))
        return None  # a cross-cutting firstresult impl returning None lets the provider answer

    impls: dict[str, object] = {
        "gateway_build_request": gateway_build_request,
        "gateway_parse_response": gateway_parse_response,
    }
    if registers_empty:

        @hookimpl
        def gateway_providers(config: Mapping[str, Any]) -> list[ProviderSpec]:
            return []

        impls["gateway_providers"] = gateway_providers
    return _module("tracer", **impls)


@pytest.mark.parametrize(
    "registers_empty",
    [pytest.param(True, id="providers-hook-returns-empty"), pytest.param(False, id="no-providers-hook")],
)
def test_cross_cutting_wrapper_wraps_every_provider(registers_empty: bool) -> None:
    log: list[tuple[str, str]] = []
    seen: list[tuple[str, str]] = []
    manager = build(
        ("a", provider_plugin("a", "a", log=log)),
        ("b", provider_plugin("b", "b", log=log)),
        ("tracer", _tracer(seen, registers_empty=registers_empty)),
    )
    assert manager.failures == []
    assert manager.provider_names() == ["sandbox", "a", "b"]
    for name in ("a", "b", "sandbox"):
        provider = _provider(manager, name)
        request = provider.hooks.build_request(_call(), provider.context)
        assert request is not None
        assert request.headers == {"x-traced": name}
    assert log == [("a", "a"), ("b", "b")]
    assert seen == [
        ("before", "a"),
        ("after", "a"),
        ("before", "b"),
        ("after", "b"),
        ("before", "sandbox"),
        ("after", "sandbox"),
    ]

    sandbox = _provider(manager, "sandbox")
    body = b'{"text": "hi", "finish_reason": "stop"}'
    output = sandbox.hooks.parse_response(_call(), sandbox.context, UpstreamResponse(200, {}, body))
    assert output is not None
    assert output.content == "hi"
    assert seen[-1] == ("observe", "sandbox")


def test_map_error_provider_impl_then_builtin_fallback() -> None:
    manager = build(("a", provider_plugin("a", "a")), ("b", provider_plugin("b", "b")))
    a = _provider(manager, "a")
    special = a.hooks.map_error(_call(), a.context, 418, b"", {}, None)
    assert (special.status, special.message) == (418, "a special")  # a's own impl, not b's
    fallback = a.hooks.map_error(_call(), a.context, 500, b'{"error": {"message": "upstream broke"}}', {}, None)
    assert (fallback.status, fallback.message) == (500, "upstream broke")
    transport = a.hooks.map_error(None, a.context, None, b"", {}, httpx.ConnectError("refused"))
    assert (transport.status, transport.message) == (None, "Could not connect to the provider")


# --- failure isolation -----------------------------------------------------------------------


def test_plugin_whose_providers_hook_raises_is_dropped() -> None:
    log: list[tuple[str, str]] = []

    class Broken:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            raise RuntimeError("boom")

        @hookimpl
        def gateway_build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
            log.append(("broken", provider.name))
            return UpstreamRequest("GET", "/broken")

    broken = Broken()
    manager = build(("broken", broken), ("a", provider_plugin("a", "a", log=log)))
    assert [f.as_dict() for f in manager.failures] == [
        {
            "name": "broken",
            "distribution": None,
            "version": None,
            "error": "gateway_providers failed: RuntimeError: boom",
        }
    ]
    assert not manager.pm.is_registered(broken)
    assert manager.provider_names() == ["sandbox", "a"]
    a = _provider(manager, "a")
    request = a.hooks.build_request(_call(), a.context)
    assert request is not None
    assert request.url == "/a/a"
    assert log == [("a", "a")]  # the dropped plugin does not turn into a cross-cutting one
    assert "broken" not in [p["name"] for p in manager.report()["plugins"]]


def test_duplicate_provider_name_across_plugins_is_reported() -> None:
    manager = build(("first", provider_plugin("first", "shared")), ("second", provider_plugin("second", "shared")))
    assert _provider(manager, "shared").plugin_name == "first"
    assert len(manager.failures) == 1
    assert manager.failures[0].name == "second"
    assert "'shared' is already registered" in manager.failures[0].error


def test_plugin_cannot_take_the_builtin_sandbox_name() -> None:
    manager = build(("impostor", provider_plugin("impostor", "sandbox")))
    assert _provider(manager, "sandbox").plugin_name == "sandbox"
    assert [f.name for f in manager.failures] == ["impostor"]


def test_dropped_plugin_frees_the_names_it_claimed() -> None:
    manager = build(
        ("first", provider_plugin("first", "a")),
        ("second", provider_plugin("second", "x", "a")),  # dropped for "a"
        ("third", provider_plugin("third", "x")),
    )
    assert [f.name for f in manager.failures] == ["second"]
    assert _provider(manager, "x").plugin_name == "third"


def test_duplicate_provider_name_within_one_plugin_is_reported() -> None:
    manager = build(("twice", provider_plugin("twice", "dup", "dup")))
    assert manager.provider("dup") is None
    assert "'dup' is already registered" in manager.failures[0].error


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("OpenAI", id="uppercase"),
        pytest.param("-lead", id="leading-dash"),
        pytest.param("a/b", id="slash"),
        pytest.param("x" * 65, id="too-long"),
    ],
)
def test_invalid_provider_name_is_reported(name: str) -> None:
    manager = build(("odd", provider_plugin("odd", name)), ("a", provider_plugin("a", "a")))
    assert manager.provider_names() == ["sandbox", "a"]
    assert [f.name for f in manager.failures] == ["odd"]
    assert f"provider name {name!r} is not a valid short name" in manager.failures[0].error


def test_providers_hook_returning_wrong_type_is_reported() -> None:
    class Wrong:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[Any]:
            return [{"name": "wrong"}]

    manager = build(("wrong", Wrong()))
    assert manager.provider("wrong") is None
    assert "returned dict, not ProviderSpec" in manager.failures[0].error


def test_providers_hook_receives_config() -> None:
    seen: list[Mapping[str, Any]] = []

    class Configurable:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            seen.append(config)
            return [ProviderSpec(name=n) for n in config.get("GATEWAY_ACME_INSTANCES", "").split(",") if n]

    manager = build(("acme", Configurable()), config={"GATEWAY_ACME_INSTANCES": "acme-eu,acme-us"})
    assert seen == [{"GATEWAY_ACME_INSTANCES": "acme-eu,acme-us"}]
    assert manager.provider_names() == ["sandbox", "acme-eu", "acme-us"]


# --- provider settings -----------------------------------------------------------------------


class AcmeSettings(ProviderSettings):
    region: str = "eu"
    retries: int = 2


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        pytest.param("acme", "GATEWAY_PROVIDER_ACME_", id="plain"),
        pytest.param("my-prov", "GATEWAY_PROVIDER_MY_PROV_", id="dash"),
        pytest.param("acme.eu v2", "GATEWAY_PROVIDER_ACME_EU_V2_", id="dot-and-space"),
        pytest.param("a_b", "GATEWAY_PROVIDER_A_B_", id="underscore"),
    ],
)
def test_env_prefix(name: str, prefix: str) -> None:
    assert env_prefix(name) == prefix


def test_settings_env_names_cover_every_field() -> None:
    spec = ProviderSpec(name="my-prov", settings_model=AcmeSettings)
    assert settings_env_names(spec) == [
        "GATEWAY_PROVIDER_MY_PROV_BASE_URL",
        "GATEWAY_PROVIDER_MY_PROV_API_KEY",
        "GATEWAY_PROVIDER_MY_PROV_HEADERS",
        "GATEWAY_PROVIDER_MY_PROV_MAX_CONNECTIONS",
        "GATEWAY_PROVIDER_MY_PROV_REGION",
        "GATEWAY_PROVIDER_MY_PROV_RETRIES",
    ]


_SPEC = {
    "settings_model": AcmeSettings,
    "env_fallbacks": {"api_key": "ACME_API_KEY", "base_url": "ACME_BASE_URL", "region": "ACME_REGION"},
    "defaults": {"base_url": "https://default.example/v1", "region": "us"},
}


@pytest.mark.parametrize(
    ("name", "config", "field", "expected"),
    [
        pytest.param("acme", {"GATEWAY_PROVIDER_ACME_API_KEY": "sk-1"}, "api_key", "sk-1", id="gateway-var"),
        pytest.param(
            "my-prov.eu", {"GATEWAY_PROVIDER_MY_PROV_EU_API_KEY": "sk-2"}, "api_key", "sk-2", id="name-normalized"
        ),
        pytest.param("acme", {"ACME_API_KEY": "sk-conv"}, "api_key", "sk-conv", id="conventional-fallback"),
        pytest.param(
            "acme",
            {"GATEWAY_PROVIDER_ACME_API_KEY": "sk-gw", "ACME_API_KEY": "sk-conv"},
            "api_key",
            "sk-gw",
            id="gateway-var-beats-fallback",
        ),
        pytest.param(
            "acme",
            {"GATEWAY_PROVIDER_ACME_API_KEY": "", "ACME_API_KEY": "sk-conv"},
            "api_key",
            "sk-conv",
            id="empty-gateway-var-is-unset",
        ),
        pytest.param("acme", {}, "api_key", None, id="no-key"),
        pytest.param("acme", {}, "base_url", "https://default.example/v1", id="spec-default"),
        pytest.param(
            "acme",
            {"ACME_BASE_URL": "https://conv.example"},
            "base_url",
            "https://conv.example",
            id="fallback-beats-spec-default",
        ),
        pytest.param(
            "acme",
            {"GATEWAY_PROVIDER_ACME_BASE_URL": "https://gw.example", "ACME_BASE_URL": "https://conv.example"},
            "base_url",
            "https://gw.example",
            id="gateway-var-beats-everything",
        ),
        pytest.param("acme", {}, "region", "us", id="spec-default-beats-model-default"),
        pytest.param("acme", {}, "retries", 2, id="model-default"),
        pytest.param("acme", {"GATEWAY_PROVIDER_ACME_RETRIES": "5"}, "retries", 5, id="coerced-int"),
        pytest.param(
            "acme",
            {"GATEWAY_PROVIDER_ACME_HEADERS": '{"x-org": "o1", "x-team": "t"}'},
            "headers",
            {"x-org": "o1", "x-team": "t"},
            id="json-headers",
        ),
        pytest.param("acme", {}, "headers", {}, id="headers-default"),
        pytest.param("acme", {"GATEWAY_PROVIDER_OTHER_API_KEY": "sk-x"}, "api_key", None, id="other-provider-ignored"),
    ],
)
def test_resolve_provider_settings(name: str, config: dict[str, str], field: str, expected: Any) -> None:
    settings = resolve_provider_settings(ProviderSpec(name=name, **_SPEC), config)  # type: ignore[arg-type]
    value = getattr(settings, field)
    if field == "api_key" and value is not None:
        value = value.get_secret_value()
    assert value == expected


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"GATEWAY_PROVIDER_ACME_HEADERS": "x-org: o1"}, id="headers-not-json"),
        pytest.param({"GATEWAY_PROVIDER_ACME_HEADERS": '["a", "b"]'}, id="headers-json-list"),
        pytest.param({"GATEWAY_PROVIDER_ACME_RETRIES": "many"}, id="int-field"),
        pytest.param({"GATEWAY_PROVIDER_ACME_MAX_CONNECTIONS": "1.5"}, id="max-connections"),
    ],
)
def test_resolve_provider_settings_invalid(config: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        resolve_provider_settings(ProviderSpec(name="acme", **_SPEC), config)  # type: ignore[arg-type]


def test_invalid_settings_recorded_with_provider_name() -> None:
    class Acme:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            return [
                ProviderSpec(name="acme-eu", settings_model=AcmeSettings),
                ProviderSpec(name="acme-us", settings_model=AcmeSettings),
            ]

    manager = build(("acme", Acme()), config={"GATEWAY_PROVIDER_ACME_EU_RETRIES": "many"})
    assert manager.provider_names() == ["sandbox", "acme-us"]
    assert len(manager.failures) == 1
    failure = manager.failures[0]
    assert failure.name == "acme"
    assert "settings of provider 'acme-eu' are invalid" in failure.error
    assert "retries" in failure.error


@pytest.mark.parametrize(
    ("config", "configured"),
    [
        pytest.param({}, False, id="no-key"),
        pytest.param({"GATEWAY_PROVIDER_ACME_API_KEY": ""}, False, id="empty-key"),
        pytest.param({"GATEWAY_PROVIDER_ACME_API_KEY": "sk-1"}, True, id="gateway-key"),
        pytest.param({"ACME_API_KEY": "sk-1"}, True, id="fallback-key"),
        pytest.param({"GATEWAY_PROVIDER_ACME_BASE_URL": "http://x"}, False, id="base-url-alone"),
    ],
)
def test_is_configured_default_needs_api_key(config: dict[str, str], configured: bool) -> None:
    class Acme:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            return [ProviderSpec(name="acme", env_fallbacks={"api_key": "ACME_API_KEY"})]

    manager = build(("acme", Acme()), config=config)
    assert _provider(manager, "acme").configured is configured
    assert next(p for p in manager.report()["providers"] if p["name"] == "acme")["configured"] is configured


def test_secret_api_key_is_not_in_repr() -> None:
    settings = resolve_provider_settings(ProviderSpec(name="acme"), {"GATEWAY_PROVIDER_ACME_API_KEY": "sk-secret"})
    assert "sk-secret" not in repr(settings)


# --- availability over HTTP ------------------------------------------------------------------


def _echo_plugin(provider_name: str) -> ModuleType:
    """A provider answering offline through the sandbox wire, configured only by an API key."""

    @hookimpl
    def gateway_providers(config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [ProviderSpec(name=provider_name, operations=CHAT, transport=lambda _s: EchoTransport(1000))]

    @hookimpl
    def gateway_build_request(call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        return UpstreamRequest("POST", "/chat", json=wire.request_body(call), stream=call.stream)

    @hookimpl
    def gateway_parse_response(call: ProviderCall, provider: ProviderContext, response: UpstreamResponse) -> Output:
        return wire.parse_output(response.json())

    @hookimpl
    def gateway_stream_decoder(
        call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder:
        return wire.SandboxDecoder()

    return _module(
        f"{provider_name}_plugin",
        gateway_providers=gateway_providers,
        gateway_build_request=gateway_build_request,
        gateway_parse_response=gateway_parse_response,
        gateway_stream_decoder=gateway_stream_decoder,
    )


ROW = {
    "modelId": "x",
    "provider": "keyed",
    "type": "chat",
    "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]},
}


@pytest.mark.parametrize(
    ("extra_config", "available", "status"),
    [
        pytest.param({}, False, 503, id="unconfigured"),
        pytest.param({"GATEWAY_PROVIDER_KEYED_API_KEY": "sk-test"}, True, 200, id="configured"),
    ],
)
def test_availability_follows_is_configured(
    tmp_path: Path, extra_config: dict[str, str], available: bool, status: int
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([ROW]), encoding="utf-8")
    config = {"GATEWAY_CATALOG": str(catalog), **extra_config}
    with run_gateway(config, extra_plugins=[("keyed", _echo_plugin("keyed"))]) as gateway:
        models = httpx.get(f"{gateway.base_url}/v1/models", timeout=10)
        assert models.status_code == 200
        rows = {row["modelId"]: row for row in models.json()["data"]}
        assert rows["x"]["provider"] == "keyed"
        assert rows["x"]["available"] is available

        answer = httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            headers=gateway.auth,
            json={"model": "x", "messages": [{"role": "user", "content": "hello there"}]},
            timeout=10,
        )
        assert answer.status_code == status, answer.text
        if status == 503:
            error = answer.json()["error"]
            assert error["code"] == "provider_unavailable"
            assert "keyed" in error["message"]
        else:
            assert answer.json()["choices"][0]["message"]["content"] == "echo: hello there"


# --- introspection ---------------------------------------------------------------------------


def test_report_shape() -> None:
    class Acme:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            return [
                ProviderSpec(
                    name="acme", settings_model=AcmeSettings, operations=CHAT, env_fallbacks={"api_key": "ACME_API_KEY"}
                )
            ]

        @hookimpl
        def gateway_build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
            return UpstreamRequest("POST", "/x")

    class Broken:
        @hookimpl
        def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
            raise ValueError("bad config")

    manager = GatewayPluginManager()
    manager.register_defaults()
    manager.register(Acme(), "acme", distribution="gateway-acme", version="1.0.0")
    manager.register(Broken(), "broken", distribution="gateway-broken", version="0.1")
    manager.build_providers({"ACME_API_KEY": "sk-1"})
    report = manager.report()
    orjson.dumps(report)  # JSON-serializable as the CLI and the route print it

    assert set(report) == {"plugins", "providers", "failed", "installed_not_loaded"}
    assert [p["name"] for p in report["plugins"]] == ["sandbox", "error-fallback", "acme"]
    acme_plugin = report["plugins"][2]
    assert acme_plugin == {
        "name": "acme",
        "distribution": "gateway-acme",
        "version": "1.0.0",
        "providers": ["acme"],
        "hooks": ["gateway_build_request", "gateway_providers"],
    }
    assert report["plugins"][1]["providers"] == []
    assert report["plugins"][1]["hooks"] == ["gateway_map_error"]
    assert report["plugins"][0]["distribution"] == "gateway-core"

    acme = next(p for p in report["providers"] if p["name"] == "acme")
    assert acme == {
        "name": "acme",
        "plugin": "acme",
        "configured": True,
        "operations": ["chat"],
        "settings": {
            "env": settings_env_names(ProviderSpec(name="acme", settings_model=AcmeSettings)),
            "fallbacks": {"api_key": "ACME_API_KEY"},
        },
    }
    assert [p["name"] for p in report["providers"]] == ["sandbox", "acme"]
    assert report["failed"] == [
        {
            "name": "broken",
            "distribution": "gateway-broken",
            "version": "0.1",
            "error": "gateway_providers failed: ValueError: bad config",
        }
    ]
    assert isinstance(report["installed_not_loaded"], list)

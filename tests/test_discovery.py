"""Entry-point discovery with real installed distributions (no mocks).

Each test writes fake installed distributions (``<dist>-<version>.dist-info`` with ``METADATA``
and ``entry_points.txt``) and their plugin modules into ``tmp_path``, puts it on the path, and
checks that one good plugin loads while every broken one is reported with its name,
distribution, version and error, in-process and through ``python -m gateway_core``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_core.discovery import discover, installed_entry_points
from gateway_core.plugins import GatewayPluginManager
from gateway_core.testing.keys import mint_test_key
from gateway_core.testing.process import serve_process

GOOD_PLUGIN = '''
"""A provider plugin answering offline through the sandbox wire format."""

from gateway_core.default_plugins.sandbox import wire
from gateway_core.default_plugins.sandbox.echo_server import EchoTransport
from gateway_core.hookspecs import hookimpl
from gateway_core.types import OperationSupport, ProviderSettings, ProviderSpec, UpstreamRequest


class GoodSettings(ProviderSettings):
    def is_configured(self):
        return True


@hookimpl
def gateway_providers(config):
    return [ProviderSpec(name="goodprov", settings_model=GoodSettings,
                         operations={"chat": OperationSupport()}, transport=lambda s: EchoTransport(1000))]


@hookimpl
def gateway_build_request(call, provider):
    return UpstreamRequest("POST", "/chat", json=wire.request_body(call), stream=call.stream)


@hookimpl
def gateway_parse_response(call, provider, response):
    output = wire.parse_output(response.json())
    return output.model_copy(update={"content": "goodprov " + output.content})


@hookimpl
def gateway_stream_decoder(call, provider, headers):
    return wire.SandboxDecoder()
'''

BROKEN_PLUGIN = 'raise ImportError("gw_disc_broken needs libacme")\n'

ASYNC_PLUGIN = """
from gateway_core.hookspecs import hookimpl


@hookimpl
async def gateway_build_request(call, provider):
    return None
"""

#: name -> (distribution, version, module, module source or None when the module is missing).
PLUGINS: dict[str, tuple[str, str, str, str | None]] = {
    "goodprov": ("gateway-goodprov", "1.0.0", "gw_disc_goodprov", GOOD_PLUGIN),
    "broken": ("gateway-broken", "2.1.0", "gw_disc_broken", BROKEN_PLUGIN),
    "asyncbad": ("gateway-asyncbad", "0.3.0", "gw_disc_asyncbad", ASYNC_PLUGIN),
    "missing": ("gateway-missing", "4.0.0", "gw_disc_not_there", None),
}

PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}


TEST_PLUGINS = {"goodprov", "broken", "asyncbad", "missing"}


def write_distributions(root: Path) -> None:
    for name, (dist, version, module, source) in PLUGINS.items():
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(f"[gateway.providers]\n{name} = {module}\n", encoding="utf-8")
        if source is not None:
            (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    write_distributions(root)
    return root


def _catalog(tmp_path: Path) -> Path:
    rows = [
        {"modelId": "good-chat", "provider": "goodprov", "type": "chat", "pricing": PRICING},
        {"modelId": "sandbox-chat", "provider": "sandbox", "type": "chat", "pricing": PRICING},
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": rows}), encoding="utf-8")
    return path


def _env(site: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "PYTHONPATH"}
    env.update(
        PYTHONPATH=str(site),
        XDG_CACHE_HOME=str(tmp_path / "cache"),  # stevedore's entry-point cache stays in the test
        GATEWAY_PLUGINS="goodprov,broken,asyncbad,missing",
        **extra,
    )
    return env


def _gateway(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway_core", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _assert_failures(failed: list[dict[str, Any]]) -> None:
    by_name = {f["name"]: f for f in failed}
    assert set(by_name) == {"broken", "asyncbad", "missing"}
    for name, failure in by_name.items():
        dist, version, _module, _source = PLUGINS[name]
        assert (failure["distribution"], failure["version"]) == (dist, version), failure
    assert by_name["broken"]["error"] == "ImportError: gw_disc_broken needs libacme"
    assert "gateway_build_request" in by_name["asyncbad"]["error"]
    assert "'async def'" in by_name["asyncbad"]["error"]
    assert by_name["missing"]["error"] == "ModuleNotFoundError: No module named 'gw_disc_not_there'"


# --- in-process ------------------------------------------------------------------------------


@pytest.fixture
def on_path(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(site))
    yield site
    for _dist, _version, module, _source in PLUGINS.values():
        sys.modules.pop(module, None)


def test_installed_entry_points_name_their_distribution(on_path: Path) -> None:
    installed = installed_entry_points()
    for name, (dist, version, _module, _source) in PLUGINS.items():
        assert installed[name] == (dist, version)


def test_discover_loads_good_and_reports_import_failures(on_path: Path) -> None:
    loaded, failures = discover(["missing", "goodprov", "broken", "asyncbad", "goodprov"])
    assert [(p.name, p.distribution, p.version) for p in loaded] == [
        ("goodprov", "gateway-goodprov", "1.0.0"),
        ("asyncbad", "gateway-asyncbad", "0.3.0"),  # imports fine; the manager rejects it
    ]
    assert loaded[0].plugin is sys.modules["gw_disc_goodprov"]
    assert sorted((f.name, f.distribution, f.version) for f in failures) == [
        ("broken", "gateway-broken", "2.1.0"),
        ("missing", "gateway-missing", "4.0.0"),
    ]


def test_manager_loads_from_entry_points(on_path: Path) -> None:
    manager = GatewayPluginManager()
    manager.register_defaults()
    manager.load_entry_points(["goodprov", "broken", "asyncbad", "missing", "not-installed"])
    manager.build_providers({})
    assert manager.provider_names() == ["sandbox", "goodprov"]
    report = manager.report()
    _assert_failures(report["failed"])
    good = next(p for p in report["plugins"] if p["name"] == "goodprov")
    assert (good["distribution"], good["version"], good["providers"]) == ("gateway-goodprov", "1.0.0", ["goodprov"])


# --- subprocesses: the real command ----------------------------------------------------------


def test_plugins_command_reports_failures(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"catalog: {_catalog(tmp_path)}\n", encoding="utf-8")
    result = _gateway("--config", str(config), "plugins", env=_env(site, tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    _assert_failures(report["failed"])
    loaded = {p["name"]: p for p in report["plugins"]}
    assert set(loaded) == {"sandbox", "error-fallback", "goodprov"}
    assert loaded["goodprov"]["distribution"] == "gateway-goodprov"
    assert loaded["goodprov"]["version"] == "1.0.0"
    assert loaded["goodprov"]["providers"] == ["goodprov"]
    assert {p["name"]: p["configured"] for p in report["providers"]} == {"sandbox": True, "goodprov": True}
    # Only this test's distributions: real provider plugins may be installed beside them.
    assert [p for p in report["installed_not_loaded"] if p["name"] in TEST_PLUGINS] == []


def test_allow_list_keeps_unlisted_plugins_unloaded(site: Path, tmp_path: Path) -> None:
    env = _env(site, tmp_path, GATEWAY_PLUGINS_ALLOW="goodprov", GATEWAY_CATALOG=str(_catalog(tmp_path)))
    result = _gateway("plugins", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == []
    assert "goodprov" in [p["name"] for p in report["plugins"]]
    not_loaded = sorted(p["name"] for p in report["installed_not_loaded"] if p["name"] in TEST_PLUGINS)
    assert not_loaded == ["asyncbad", "broken", "missing"]
    missing = next(p for p in report["installed_not_loaded"] if p["name"] == "missing")
    assert (missing["distribution"], missing["version"]) == ("gateway-missing", "4.0.0")


def test_serve_with_broken_plugins(site: Path, tmp_path: Path) -> None:
    store_url, secret = f"sqlite:///{tmp_path / 'gateway.db'}", "s" * 32
    env = _env(
        site, tmp_path, GATEWAY_CATALOG=str(_catalog(tmp_path)), GATEWAY_STORE_URL=store_url, GATEWAY_KEY_SECRET=secret
    )
    with serve_process(env, cwd=tmp_path) as served:
        base_url = served.base_url
        auth = {"authorization": f"Bearer {mint_test_key(store_url, secret)}"}
        for model, reply in (("good-chat", "goodprov echo: ping"), ("sandbox-chat", "echo: ping")):
            answer = httpx.post(
                f"{base_url}/v1/chat/completions",
                headers=auth,
                json={"model": model, "messages": [{"role": "user", "content": "ping"}]},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["choices"][0]["message"]["content"] == reply
        rows = httpx.get(f"{base_url}/v1/models", timeout=10).json()["data"]
        assert {row["modelId"]: row["available"] for row in rows} == {"good-chat": True, "sandbox-chat": True}
        plugins = httpx.get(f"{base_url}/v1/plugins", timeout=10)
        assert plugins.status_code == 200
        _assert_failures(plugins.json()["failed"])
    for name in ("broken", "asyncbad", "missing"):
        assert f"gateway: plugin {name!r} not loaded" in served.stderr[0]

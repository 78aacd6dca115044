"""``gateway serve``: the fast event loop and parser by default, and the protocol that stamps
Server-Timing ``queue`` (README § Server-Timing), checked on the real process an operator runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_core.cli import main
from gateway_core.testing.keys import mint_test_key
from gateway_core.testing.process import serve_process
from gateway_core.timing import parse_server_timing

KEY_SECRET = "serve-test-" + "0" * 32
CHAT = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hi"}]}
HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_STORE_URL"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    env["GATEWAY_KEY_SECRET"] = KEY_SECRET
    return env


@pytest.fixture
def uvicorn_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """``uvicorn.run`` replaced by a recorder, in a clean environment."""
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append(kwargs))
    return calls


@pytest.mark.parametrize("workers", [pytest.param("1", id="one-worker"), pytest.param("2", id="workers")])
def test_serve_defaults_to_uvloop_and_httptools_when_installed(uvicorn_run: list[dict[str, Any]], workers: str) -> None:
    assert main(["serve", "--workers", workers]) == 0
    (kwargs,) = uvicorn_run
    # uvicorn's "auto" loop is uvloop whenever it is importable.
    assert kwargs["loop"] == "auto"
    parser = "StampingHttpToolsProtocol" if HAS_HTTPTOOLS else "StampingH11Protocol"
    assert kwargs["http"] == f"gateway_core.uvicorn_http:{parser}"


def test_serve_can_be_told_to_use_the_pure_python_stack(uvicorn_run: list[dict[str, Any]]) -> None:
    assert main(["serve", "--loop", "asyncio", "--http", "h11"]) == 0
    assert uvicorn_run[0]["loop"] == "asyncio"
    assert uvicorn_run[0]["http"] == "gateway_core.uvicorn_http:StampingH11Protocol"


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        pytest.param(["--loop", "uvloop"], "uvloop", id="uvloop"),
        pytest.param(["--http", "httptools"], "httptools", id="httptools"),
    ],
)
def test_asking_for_a_missing_fast_package_exits_2(
    uvicorn_run: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    missing: str,
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else find_spec(name, *a))
    monkeypatch.setattr("gateway_core.uvicorn_http.HAS_HTTPTOOLS", missing != "httptools")
    assert main(["serve", *args]) == 2
    assert f"the {missing} package is not installed" in capsys.readouterr().err
    assert uvicorn_run == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="default"),
        pytest.param(["--loop", "asyncio", "--http", "h11"], id="asyncio-h11"),
    ],
)
def test_served_responses_are_timed_from_the_first_byte(tmp_path: Path, args: list[str]) -> None:
    env = _env(tmp_path)
    with serve_process(env, args=args, cwd=tmp_path) as served:
        key = mint_test_key(env["GATEWAY_STORE_URL"], KEY_SECRET)
        with httpx.Client(base_url=served.base_url, timeout=30) as client:
            models = parse_server_timing(client.get("/v1/models").headers["server-timing"])
            paid = client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert paid.status_code == 200, paid.text
    chat = parse_server_timing(paid.headers["server-timing"])
    assert list(chat) == ["queue", "auth", "translate", "upstream", "settle", "total"]
    # Stamped by the server: the wait between reading and handling is never exactly 0.
    assert models["queue"] > 0 and chat["queue"] > 0
    assert chat["total"] >= max(v for k, v in chat.items() if k != "total")


# Runs ``gateway serve`` up to a started app (lifespan entered, store open), does what a
# served gateway does on its own (a health check's ping, the periodic prune) and prints the
# modules then loaded; uvicorn.run is replaced so nothing binds a port.
_LOADED_AT_SERVE = """
import asyncio, sys, time
import uvicorn
from gateway_core.cli import main

async def start(app):
    async with app.router.lifespan_context(app):
        store = app.state.runtime.store
        assert await store.ping()
        await store.prune(int(time.time() * 1000))
        print(" ".join(sorted(sys.modules)))

uvicorn.run = lambda app, **kwargs: asyncio.run(start(app))
raise SystemExit(main(["serve", "--port", "1", "--workers", "1"]))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("gateway_openai") is None,
    reason="serves the bench's configuration, which uses the openai plugin (pip install ./plugins/openai)",
)
def test_a_served_gateway_loads_only_what_its_configuration_uses(tmp_path: Path) -> None:
    # The bench's configuration (bench/servers.py): SQLite, the openai plugin, a migrated store.
    # Upstream calls go over aiohttp, so httpx (~1.5 MiB live) is loaded only for an in-process
    # provider's first call, a remote x402 facilitator, or a failure handed to gateway_map_error.
    # A SQLite store runs its operations on sqlite3: SQLAlchemy's engine (asyncio extension and
    # ORM, ~6 MiB) waits for migrations or response records, and PostgreSQL's driver and dialect
    # (~4 MiB) are never loaded. Route handlers read path parameters from the request: FastAPI
    # imports pydantic.v1 (~1.6 MiB) to inspect any other handler parameter.
    env = _env(tmp_path)
    env |= {
        "GATEWAY_PLUGINS": "openai",
        "GATEWAY_PROVIDER_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "GATEWAY_PROVIDER_OPENAI_API_KEY": "test-key",
    }
    mint_test_key(env["GATEWAY_STORE_URL"], KEY_SECRET)
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_AT_SERVE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "gateway_openai" in loaded  # the probe did start the configured gateway
    unused = ("httpx", "asyncpg", "sqlalchemy.ext.asyncio", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql")
    unused += ("pydantic.v1",)
    if HAS_HTTPTOOLS:  # served on httptools: the h11 protocol and its parser stay unloaded
        unused += ("h11", "uvicorn.protocols.http.h11_impl")
    assert not {name for name in loaded for prefix in unused if name == prefix or name.startswith(prefix + ".")}

"""The three columns as running servers: the mock upstream (direct), this gateway, LiteLLM.

Both proxies reach the mock over the OpenAI chat wire (``POST {mock}/v1/chat/completions``), so
the comparison is like for like: this gateway through its ``openai`` plugin, LiteLLM through its
``openai/<model>`` provider with ``api_base``. Each exposes one public model per scenario.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import orjson
from litellm_setup import MASTER_KEY, litellm_command, litellm_env, write_config
from load import Target
from procs import clean_env, free_port, pinned, start, stop, wait_http

__all__ = ["PUBLIC_MODELS", "Server", "direct_target", "start_gateway", "start_litellm"]

ROOT = Path(__file__).resolve().parents[1]
OPENAI_PATH = "/v1/chat/completions"
#: Mock scenario -> the public model name both proxies list for it.
PUBLIC_MODELS = {"mock-c50": "bench-fast", "mock-c50-p5": "bench-paced", "mock-c50-p20": "bench-many"}
GATEWAY_STARTUP_S = 60.0
# LiteLLM imports a large package tree before it listens (~10-20 s on a busy 2-CPU machine).
LITELLM_STARTUP_S = 180.0
# The gateway's Compose Key secret for this run (a throwaway store in a temp dir).
KEY_SECRET = "bench-" + "0" * 32


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    target: Target


def direct_target(port: int, pid: int) -> Target:
    return Target("upstream direct", "127.0.0.1", port, OPENAI_PATH, {s: s for s in PUBLIC_MODELS}, pid=pid)


def _catalog_rows() -> list[dict[str, object]]:
    return [
        {
            "modelId": public,
            "provider": "openai",
            "upstreamModelId": scenario,
            "type": "chat",
            "input": ["text"],
            "output": ["text"],
            # Priced, so every request takes a hold on the key and settles it: the paid path.
            "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]},
        }
        for scenario, public in PUBLIC_MODELS.items()
    ]


def start_gateway(
    stack: ExitStack, upstream_url: str, workdir: Path, cpus: set[int] | None, workers: int = 1
) -> Server:
    """``python -m gateway_core serve`` with its default SQLite store in ``workdir``, the
    ``openai`` plugin pointed at the mock, paid with a freshly minted Compose Key."""
    # Imported here: only this column needs the gateway installed in the running interpreter.
    from gateway_core.testing.keys import mint_test_key

    name = "gateway" if workers == 1 else f"gateway, {workers} workers"
    workdir.mkdir(parents=True, exist_ok=True)
    catalog = workdir / "catalog.yaml"
    catalog.write_bytes(orjson.dumps(_catalog_rows()))  # JSON is YAML
    store_url = f"sqlite:///{workdir / 'gateway.db'}"
    env = clean_env(
        {
            "GATEWAY_CATALOG": str(catalog),
            "GATEWAY_PLUGINS": "openai",
            "GATEWAY_PROVIDER_OPENAI_BASE_URL": upstream_url + "/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "bench-upstream-key",
            "GATEWAY_STORE_URL": store_url,
            "GATEWAY_KEY_SECRET": KEY_SECRET,
            "PYTHONPATH": str(ROOT),
        }
    )
    # Minted first, as a deployment runs `gateway db upgrade` before `serve`: the server starts
    # on a migrated store (so it never loads the migration tool) with the key in it.
    api_key = mint_test_key(store_url, KEY_SECRET)
    port = free_port()
    command = [sys.executable, "-m", "gateway_core", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--workers", str(workers)]
    log_path = workdir / "gateway.log"
    log = stack.enter_context(open(log_path, "wb"))
    # cwd is the temp dir, so nothing the gateway writes lands in the repo.
    process = start(pinned(command, cpus), env, workdir, log)
    stack.callback(stop, process)
    wait_http(process, f"http://127.0.0.1:{port}/health", GATEWAY_STARTUP_S, log_path, name)
    headers = {"Authorization": f"Bearer {api_key}"}
    target = Target(name, "127.0.0.1", port, OPENAI_PATH, dict(PUBLIC_MODELS), headers, pid=process.pid)
    return Server(name, process, target)


def start_litellm(
    stack: ExitStack, executable: Path, version: str, upstream_url: str, workdir: Path, cpus: set[int] | None
) -> Server:
    """LiteLLM's proxy, one worker, config in ``workdir`` (see :mod:`litellm_setup`)."""
    name = f"LiteLLM {version}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    write_config(config, upstream_url, {public: scenario for scenario, public in PUBLIC_MODELS.items()})
    port = free_port()
    log_path = workdir / "litellm.log"
    log = stack.enter_context(open(log_path, "wb"))
    process = start(pinned(litellm_command(executable, config, port), cpus), clean_env(litellm_env()), workdir, log)
    stack.callback(stop, process)
    wait_http(process, f"http://127.0.0.1:{port}/health/liveliness", LITELLM_STARTUP_S, log_path, name)
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    target = Target(name, "127.0.0.1", port, OPENAI_PATH, dict(PUBLIC_MODELS), headers, pid=process.pid)
    return Server(name, process, target)

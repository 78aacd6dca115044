"""LiteLLM's proxy for the comparison: installed in a throwaway virtualenv outside the repo,
configured to forward to the mock upstream as an OpenAI-compatible server.

The virtualenv is ``$XDG_CACHE_HOME/gateway-bench/litellm-<version>`` (``~/.cache/...`` by
default): created with ``python -m venv`` and ``pip install 'litellm[proxy]==<version>'`` the
first time, reused afterwards. A marker file is written only when the install finished, so an
interrupted install is removed and redone rather than half-used.

The proxy runs as ``litellm --config config.yaml --num_workers 1``: no database (no
``DATABASE_URL``), no callbacks, the bundled model-cost map (no fetch at start-up), logging at
ERROR (which also silences uvicorn's access log), and a master key so authentication is on its
path as the Compose Key is on the gateway's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["DEFAULT_VERSION", "MASTER_KEY", "default_venv", "ensure_litellm", "litellm_command", "write_config"]

DEFAULT_VERSION = "1.108.7"
MASTER_KEY = "sk-bench-master-key"
INSTALL_TIMEOUT_S = 1200.0
_MARKER = ".bench-installed"


def default_venv(version: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "gateway-bench" / f"litellm-{version}"


def _installed(venv: Path, version: str) -> bool:
    marker = venv / _MARKER
    return (venv / "bin" / "litellm").exists() and marker.exists() and marker.read_text().strip() == version


def ensure_litellm(venv: Path, version: str, log: Path) -> Path:
    """The ``litellm`` executable of ``venv``, installing ``litellm[proxy]==version`` first if
    needed. RuntimeError (with the log's tail) when the install fails or takes too long."""
    if _installed(venv, version):
        return venv / "bin" / "litellm"
    if venv.exists():
        shutil.rmtree(venv)  # an unfinished install, or another version's leftovers
    venv.parent.mkdir(parents=True, exist_ok=True)
    # A virtualenv records its own path, so it is built where it will live, never moved.
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"litellm[proxy]=={version}"],
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with open(log, "ab") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n".encode())
            out.flush()
            try:
                result = subprocess.run(step, stdout=out, stderr=out, env=env, timeout=INSTALL_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"installing LiteLLM took over {INSTALL_TIMEOUT_S:g} s; log: {log}") from None
            if result.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"installing LiteLLM failed (exit code {result.returncode}); {log}:\n{tail}")
    (venv / _MARKER).write_text(version + "\n")
    return venv / "bin" / "litellm"


def write_config(path: Path, upstream_url: str, models: dict[str, str]) -> None:
    """A proxy config whose model names (``models``: public name -> mock scenario) all go to the
    mock as ``openai/<scenario>``. JSON is YAML, and needs no YAML writer here."""
    config = {
        "model_list": [
            {
                "model_name": public,
                "litellm_params": {
                    "model": f"openai/{scenario}",
                    "api_base": upstream_url + "/v1",
                    "api_key": "bench-upstream-key",
                },
            }
            for public, scenario in models.items()
        ],
        "litellm_settings": {
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
            "set_verbose": False,
            "telemetry": False,
            "request_timeout": 30,
            "num_retries": 0,
        },
        "general_settings": {"master_key": MASTER_KEY},
    }
    path.write_text(json.dumps(config, indent=2))


def litellm_command(executable: Path, config: Path, port: int) -> list[str]:
    return [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]


def litellm_env() -> dict[str, str]:
    """What LiteLLM needs on top of a cleaned environment (procs.clean_env)."""
    return {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map at start-up
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_ADMIN_UI": "True",
    }

"""A real gateway on a loopback port, served by uvicorn in a background thread.

Tests talk to it over real sockets (the official ``openai`` SDK included), so streaming,
disconnects and headers behave exactly as in production.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from gateway_core.app import create_app
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings

__all__ = ["GatewayServer", "run_gateway"]


@dataclass
class GatewayServer:
    base_url: str
    port: int
    runtime: Runtime


@contextmanager
def run_gateway(
    config: Mapping[str, str] | None = None,
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
    startup_timeout: float = 10.0,
) -> Iterator[GatewayServer]:
    """Serve a gateway built from ``config`` (``GATEWAY_*`` keys; the process environment is
    *not* read, so tests are isolated) on ``127.0.0.1`` and an ephemeral port."""
    settings = GatewaySettings.from_config(dict(config or {}))
    runtime = build_runtime(settings, extra_plugins=extra_plugins)
    app = create_app(runtime=runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="gateway-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield GatewayServer(f"http://127.0.0.1:{port}", port, runtime)
    finally:
        server.should_exit = True
        thread.join(10)

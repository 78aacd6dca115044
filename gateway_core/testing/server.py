"""A real gateway on a loopback port, served by uvicorn in a background thread.

Tests talk to it over real sockets (the official ``openai`` SDK included), so streaming,
disconnects and headers behave exactly as in production. Every paid route needs payment, so
the server comes with a funded Compose Key (:attr:`GatewayServer.api_key`): pass it as the
SDK's ``api_key``, or send :attr:`GatewayServer.auth` as headers.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from gateway_core.app import create_app
from gateway_core.payments import PaymentGate
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.testing.keys import TEST_KEY_BUDGET, create_test_key
from gateway_core.uvicorn_http import protocol_path

__all__ = ["GatewayServer", "run_gateway"]

T = TypeVar("T")


@dataclass
class GatewayServer:
    base_url: str
    port: int
    runtime: Runtime
    #: A Compose Key (``compose-…``) with :data:`TEST_KEY_BUDGET`, or ``""`` without payments.
    api_key: str = ""

    @property
    def auth(self) -> dict[str, str]:
        """``Authorization`` header paying with :attr:`api_key`."""
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the server's event loop (where its store connections live)."""
        assert self.runtime.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.runtime.loop).result(timeout)

    def compose_key(self, budget: int = TEST_KEY_BUDGET, *, funded: bool = True) -> str:
        """Create a Compose Key for a new sandbox wallet (funded and approved by default)."""
        return self.call(_make_key(self.runtime, budget, funded))


async def _make_key(runtime: Runtime, budget: int, funded: bool) -> str:
    payments = runtime.payments
    assert payments is not None and runtime.store is not None, "the gateway runs without payments"
    chain = payments.chain_row(payments.settings.default_chain_id)
    return await create_test_key(runtime.store, payments.compose_keys, chain, budget, funded=funded)


@contextmanager
def run_gateway(
    config: Mapping[str, str] | None = None,
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
    payments: PaymentGate | None = None,
    startup_timeout: float = 10.0,
) -> Iterator[GatewayServer]:
    """Serve a gateway built from ``config`` (``GATEWAY_*`` keys; the process environment is
    *not* read, so tests are isolated) on ``127.0.0.1`` and an ephemeral port.

    The store defaults to a fresh SQLite file in a temporary folder. ``payments`` replaces
    the real payment gate (``NoPayment()`` to test something unrelated to money).
    """
    with tempfile.TemporaryDirectory(prefix="gateway-test-") as folder:
        full = {"GATEWAY_STORE_URL": f"sqlite:///{Path(folder) / 'gateway.db'}", **(config or {})}
        settings = GatewaySettings.from_config(full)
        runtime = build_runtime(settings, extra_plugins=extra_plugins, payments=payments)
        app = create_app(runtime=runtime)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=0,
                log_level="warning",
                access_log=False,
                lifespan="on",
                http=protocol_path(),  # as `gateway serve`: Server-Timing's queue is measured
            )
        )
        thread = threading.Thread(target=server.run, name="gateway-test-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test gateway did not start")
            time.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        served = GatewayServer(f"http://127.0.0.1:{port}", port, runtime)
        try:
            if runtime.payments is not None:
                served.api_key = served.compose_key()
            yield served
        finally:
            server.should_exit = True
            thread.join(10)

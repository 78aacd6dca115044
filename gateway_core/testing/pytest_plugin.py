"""Pytest fixtures for the gateway and its plugins (registered through the ``pytest11`` entry
point, so any project that installs ``gateway-core`` gets them).

- ``mock_upstream`` (session): a running :class:`~gateway_core.testing.mock_upstream.MockUpstream`.
- ``gateway_server`` (function): a factory ``gateway_server(config, extra_plugins=())`` that
  starts a gateway on loopback and stops it after the test.
- ``gateway_client`` (function): an ``httpx.Client`` bound to a gateway on its embedded
  defaults (sandbox provider, shipped catalog), paying with the server's Compose Key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack

import httpx
import pytest

from gateway_core.testing.mock_upstream import MockUpstream, start_mock_upstream
from gateway_core.testing.server import GatewayServer, run_gateway

__all__ = ["gateway_client", "gateway_server", "mock_upstream"]

GatewayFactory = Callable[..., GatewayServer]


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[MockUpstream]:
    upstream = start_mock_upstream()
    try:
        yield upstream
    finally:
        upstream.close()


@pytest.fixture
def gateway_server() -> Iterator[GatewayFactory]:
    with ExitStack() as stack:

        def start(
            config: Mapping[str, str] | None = None, extra_plugins: Iterable[tuple[str, object]] = ()
        ) -> GatewayServer:
            return stack.enter_context(run_gateway(config, extra_plugins=extra_plugins))

        yield start


@pytest.fixture
def gateway_client(gateway_server: GatewayFactory) -> Iterator[httpx.Client]:
    server = gateway_server({})
    with httpx.Client(base_url=server.base_url, headers=server.auth, timeout=30) as client:
        yield client

"""Gateways for the end-to-end payment tests: real loopback servers in sandbox mode, each
started once per store backend (``[sqlite]``, ``[postgresql]``; see ``paid_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from paid_support import STORE_BACKENDS, paid_gateway, write_catalog

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer


@pytest.fixture(scope="module", params=[pytest.param(backend, id=backend) for backend in STORE_BACKENDS])
def store_backend(request: pytest.FixtureRequest) -> str:
    """The store of every gateway a test module starts: all of a module's tests run on SQLite,
    then all of them again on PostgreSQL (module scope, so gateways are shared, not per test)."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="module")
def mock_gateway(
    store_backend: str, mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """A gateway whose sandbox provider is the mock upstream (rows of ``paid_support.MOCK_ROWS``)."""
    catalog = write_catalog(tmp_path_factory.mktemp("paid-catalog") / "catalog.yaml")
    config = {"GATEWAY_CATALOG": str(catalog), "GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url}
    with paid_gateway(store_backend, config) as server:
        yield server

"""Gateways for the end-to-end payment tests: real loopback servers in sandbox mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from paid_support import write_catalog

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import GatewayServer, run_gateway


@pytest.fixture(scope="module")
def mock_gateway(mock_upstream: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """A gateway whose sandbox provider is the mock upstream (rows of ``paid_support.MOCK_ROWS``)."""
    catalog = write_catalog(tmp_path_factory.mktemp("paid-catalog") / "catalog.yaml")
    config = {"GATEWAY_CATALOG": str(catalog), "GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url}
    with run_gateway(config) as server:
        yield server

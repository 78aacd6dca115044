"""The built-in sandbox provider passes the provider contract suite over loopback."""

from __future__ import annotations

from gateway_core.testing.contract import ProviderContractSuite
from gateway_core.testing.mock_upstream import MockUpstream


class TestSandboxContract(ProviderContractSuite):
    provider_name = "sandbox"

    def provider_config(self, upstream: MockUpstream) -> dict[str, str]:
        return {"GATEWAY_PROVIDER_SANDBOX_BASE_URL": upstream.base_url}

"""The core's provider contract suite, run against the mock upstream's Anthropic wire."""

from __future__ import annotations

from gateway_core.testing.contract import ProviderContractSuite
from gateway_core.testing.mock_upstream import MockUpstream


class TestAnthropicContract(ProviderContractSuite):
    provider_name = "anthropic"

    def provider_config(self, upstream: MockUpstream) -> dict[str, str]:
        return {"GATEWAY_PROVIDER_ANTHROPIC_BASE_URL": upstream.base_url, "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "test"}

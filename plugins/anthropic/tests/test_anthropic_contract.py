"""The core's provider contract suite, run against the mock upstream's Anthropic wire."""

from __future__ import annotations

from gateway_core.testing.contract import ProviderContractSuite
from gateway_core.testing.mock_upstream import MockUpstream


class TestAnthropicContract(ProviderContractSuite):
    provider_name = "anthropic"
    # No native Responses API: /v1/responses goes through chat, to the Messages API.
    responses_upstream_path = "/v1/messages"

    def provider_config(self, upstream: MockUpstream) -> dict[str, str]:
        return {"GATEWAY_PROVIDER_ANTHROPIC_BASE_URL": upstream.base_url, "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "test"}

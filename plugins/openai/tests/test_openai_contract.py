"""The openai plugin passes the core's provider contract suite over loopback sockets."""

from __future__ import annotations

from gateway_core.testing.contract import ProviderContractSuite
from gateway_core.testing.mock_upstream import MockUpstream


class TestOpenAIContract(ProviderContractSuite):
    provider_name = "openai"
    # The openai instance declares the Responses API: /v1/responses is served natively.
    responses_upstream_path = "/v1/responses"

    def provider_config(self, upstream: MockUpstream) -> dict[str, str]:
        return {
            "GATEWAY_PROVIDER_OPENAI_BASE_URL": upstream.base_url + "/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-test",
        }

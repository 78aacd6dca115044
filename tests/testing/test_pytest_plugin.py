"""The fixtures plugin authors get from ``gateway_core.testing``."""

from __future__ import annotations

import httpx

from gateway_core.testing.mock_upstream import MockUpstream


def test_gateway_client_serves_the_sandbox(gateway_client: httpx.Client) -> None:
    response = gateway_client.post(
        "/v1/chat/completions", json={"model": "sandbox-echo", "messages": [{"role": "user", "content": "ping"}]}
    )
    assert response.json()["choices"][0]["message"]["content"] == "echo: ping"


def test_gateway_server_factory_takes_config(gateway_server, mock_upstream: MockUpstream) -> None:  # type: ignore[no-untyped-def]
    server = gateway_server({"GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url})
    response = httpx.post(
        server.base_url + "/v1/chat/completions",
        headers=server.auth,
        json={"model": "sandbox-echo", "messages": [{"role": "user", "content": "ping"}]},
    )
    # The sandbox now talks to the mock upstream, which rejects a model that is not a scenario.
    assert response.status_code == 400
    assert any(r["path"] == "/chat" for r in mock_upstream.requests())

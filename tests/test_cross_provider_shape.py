"""Every provider plugin streams the same OpenAI chunk shape (issue: provider plugins, "done when").

Runs where the ``openai`` and ``anthropic`` plugins are installed (nox ``all_plugins``); skipped
with the reason elsewhere.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from gateway_core.testing.mock_upstream import MockUpstream
from gateway_core.testing.server import run_gateway

PLUGINS = {"openai": "gateway_openai", "anthropic": "gateway_anthropic"}
missing = [name for name, module in PLUGINS.items() if importlib.util.find_spec(module) is None]
pytestmark = pytest.mark.skipif(
    bool(missing),
    reason=f"needs the provider plugins installed (missing: {', '.join(missing)}); run nox -s all_plugins",
)

PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]


def _shape(value: Any) -> Any:
    """The structure of a chunk: keys and value types, not values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_parallel_tool_call_streams_have_one_shape(mock_upstream: MockUpstream, tmp_path: Path) -> None:
    rows = [
        {
            "modelId": f"{provider}-tools",
            "provider": provider,
            "upstreamModelId": "mock/tools_parallel",
            "type": "chat",
            "pricing": PRICING,
            "capabilities": {"tool_calling": True},
        }
        for provider in ("sandbox", "openai", "anthropic")
    ]
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(rows), encoding="utf-8")
    config = {
        "GATEWAY_CATALOG": str(catalog),
        "GATEWAY_PROVIDER_SANDBOX_BASE_URL": mock_upstream.base_url,
        "GATEWAY_PROVIDER_OPENAI_BASE_URL": mock_upstream.base_url + "/v1",
        "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-test",
        "GATEWAY_PROVIDER_ANTHROPIC_BASE_URL": mock_upstream.base_url,
        "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "test",
    }
    shapes: dict[str, list[Any]] = {}
    with run_gateway(config) as server:
        sdk = openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.api_key, max_retries=0)
        for provider in ("sandbox", "openai", "anthropic"):
            chunks = [
                chunk.model_dump(exclude_none=True)
                for chunk in sdk.chat.completions.create(
                    model=f"{provider}-tools",
                    messages=[{"role": "user", "content": "weather and time?"}],
                    tools=TOOLS,
                    stream=True,
                )
            ]
            calls: dict[int, dict[str, str]] = {}
            for chunk in chunks:
                for delta in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
                    call = calls.setdefault(delta["index"], {"name": "", "arguments": ""})
                    call["name"] += delta.get("function", {}).get("name", "")
                    call["arguments"] += delta.get("function", {}).get("arguments", "")
            assert [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())] == [
                ("get_weather", {"city": "Paris"}),
                ("get_time", {"tz": "Europe/Paris"}),
            ], provider
            assert chunks[-1]["object"] == "compose.receipt"
            chunks = chunks[:-1]  # the receipt frame differs by amount, not by shape
            for chunk in chunks:
                chunk.pop("id"), chunk.pop("created"), chunk.pop("model")
                # Token details are present only when a provider reports them (spec/chat.md §4.1).
                for optional in ("prompt_tokens_details", "completion_tokens_details"):
                    chunk.get("usage", {}).pop(optional, None)
            shapes[provider] = [_shape(chunk) for chunk in chunks]
    assert shapes["openai"] == shapes["anthropic"] == shapes["sandbox"]

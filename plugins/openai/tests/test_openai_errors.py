"""OpenAI error bodies -> ProviderError, and what the client finally sees (spec/models.md §2.3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from gateway_openai import errors, plugin
from gateway_openai.settings import provider_specs

from gateway_core import ProviderContext, ProviderError
from gateway_core.errors import provider_error_to_gateway

FIXTURES = Path(__file__).parent / "fixtures"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# (fixture, upstream status) -> (ProviderError status, code, param, retryable), then gateway (status, code, retried)
ERRORS = [
    pytest.param(
        "error_context_length.json",
        400,
        (400, "context_length_exceeded", "messages", None),
        (400, "context_length_exceeded", False),
        id="context-length",
    ),
    pytest.param(
        "error_invalid_request.json",
        400,
        (400, None, "temperature", None),
        (400, "invalid_request", False),
        id="invalid-request-param-kept",
    ),
    pytest.param(
        "error_invalid_prompt.json",
        400,
        (400, "content_filter", None, None),
        (400, "content_filter", False),
        id="usage-policy-flag",
    ),
    pytest.param(
        "error_content_filter.json",
        400,
        (400, "content_filter", "prompt", None),
        (400, "content_filter", False),
        id="content-filter",
    ),
    pytest.param(
        "error_invalid_api_key.json",
        401,
        (401, None, None, None),
        (502, "upstream_error", False),
        id="auth",
    ),
    pytest.param(
        "error_model_not_found.json",
        404,
        (404, None, None, None),
        (404, "model_not_found", False),
        id="model-not-found",
    ),
    pytest.param(
        "error_rate_limit.json",
        429,
        (429, "rate_limit_exceeded", None, True),
        (429, "rate_limit_exceeded", True),
        id="rate-limit",
    ),
    pytest.param(
        "error_insufficient_quota.json",
        429,
        (429, "insufficient_quota", None, False),
        (429, "rate_limit_exceeded", False),
        id="insufficient-quota-not-retried",
    ),
    pytest.param(
        "error_server.json",
        500,
        (500, None, None, None),
        (502, "upstream_error", True),
        id="server-error",
    ),
    pytest.param(
        "error_server.json",
        503,
        (503, None, None, None),
        (502, "upstream_error", True),
        id="overloaded",
    ),
]


@pytest.mark.parametrize(("fixture", "status", "mapped", "gateway"), ERRORS)
def test_error_bodies(
    fixture: str,
    status: int,
    mapped: tuple[int, str | None, str | None, bool | None],
    gateway: tuple[int, str, bool],
) -> None:
    error = errors.map_error_body(status, body(fixture))
    assert error is not None
    assert (error.status, error.code, error.param, error.retryable) == mapped
    client = provider_error_to_gateway(error)
    assert (client.status, client.code, client.retryable) == gateway


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="proxy-html"),
        pytest.param(b'{"detail": "Not Found"}', id="json-without-error"),
    ],
)
def test_bodies_that_are_not_openai_errors_are_left_to_the_fallback(raw: bytes) -> None:
    assert errors.map_error_body(502, raw) is None


def test_messages_are_capped() -> None:
    error = errors.map_error_body(400, b'{"error": {"message": "' + b"x" * 2000 + b'"}}')
    assert error is not None and len(error.message) == 500


def _provider() -> ProviderContext:
    spec = provider_specs({})[0]
    return ProviderContext(spec, spec.settings_model(api_key="sk-test"))


def test_hook_leaves_transport_failures_to_the_core() -> None:
    failure = httpx.ConnectError("connection refused")
    assert plugin.gateway_map_error(None, _provider(), None, b"", {}, failure) is None


def test_hook_maps_http_errors() -> None:
    error = plugin.gateway_map_error(None, _provider(), 429, body("error_insufficient_quota.json"), {}, None)
    assert isinstance(error, ProviderError) and error.retryable is False

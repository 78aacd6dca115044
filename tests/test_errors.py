"""Provider error mapping (spec/models.md §2.3) and the error envelope."""

from __future__ import annotations

import pytest

from gateway_core.errors import GatewayError, ProviderError, error_body, provider_error_to_gateway


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code", "retryable"),
    [
        pytest.param(400, None, 400, "invalid_request", False, id="400"),
        pytest.param(413, None, 400, "invalid_request", False, id="413"),
        pytest.param(422, None, 400, "invalid_request", False, id="422"),
        pytest.param(400, "content_filter", 400, "content_filter", False, id="400-plugin-code"),
        pytest.param(401, None, 502, "upstream_error", False, id="401"),
        pytest.param(403, None, 502, "upstream_error", False, id="403"),
        pytest.param(404, None, 404, "model_not_found", False, id="404"),
        pytest.param(408, None, 504, "upstream_timeout", True, id="408"),
        pytest.param(504, None, 504, "upstream_timeout", True, id="504"),
        pytest.param(429, None, 429, "rate_limit_exceeded", True, id="429"),
        pytest.param(500, None, 502, "upstream_error", True, id="500"),
        pytest.param(503, None, 502, "upstream_error", True, id="503"),
        pytest.param(529, None, 502, "upstream_error", True, id="529"),
        pytest.param(None, None, 502, "upstream_error", True, id="no-response"),
        pytest.param(409, None, 400, "invalid_request", False, id="other-4xx"),
    ],
)
def test_mapping_table(
    status: int | None, code: str | None, expected_status: int, expected_code: str, retryable: bool
) -> None:
    mapped = provider_error_to_gateway(ProviderError(status, "upstream said no", code=code))
    assert (mapped.status, mapped.code, mapped.retryable) == (expected_status, expected_code, retryable)


def test_auth_failures_hide_the_provider_message() -> None:
    mapped = provider_error_to_gateway(ProviderError(401, "invalid key sk-abc…"))
    assert mapped.message == "Provider authentication failed"


def test_plugin_can_override_retryable() -> None:
    assert provider_error_to_gateway(ProviderError(400, "overloaded", retryable=True)).retryable is True
    assert provider_error_to_gateway(ProviderError(500, "bad input", retryable=False)).retryable is False


def test_envelope() -> None:
    error = GatewayError(400, "missing_model", "model is required")
    assert error.envelope() == {
        "error": {
            "message": "model is required",
            "type": "invalid_request_error",
            "param": None,
            "code": "missing_model",
        }
    }
    assert GatewayError(502, "some_plugin_code", "x").type == "upstream_error"
    assert error_body("budget_exhausted", "m", details={"a": 1})["error"]["details"] == {"a": 1}

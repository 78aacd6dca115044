"""Errors the gateway raises and the one envelope they are rendered in.

Hierarchy::

    Exception
    ├── GatewayError          an error the client sees: status, code, message, param
    └── ProviderError         raised by plugins: what the *upstream* said, before mapping

A plugin never builds a :class:`GatewayError`; it raises (or returns from
``gateway_map_error``) a :class:`ProviderError`, and :func:`provider_error_to_gateway`
maps it with the table of spec/models.md §2.3. Routes raise :class:`GatewayError` and the
app renders it with :func:`error_body` in the OpenAI envelope (spec/errors-and-headers.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ERROR_TYPES",
    "GatewayError",
    "ProviderError",
    "error_body",
    "provider_error_to_gateway",
]

# code -> envelope ``type`` (spec/errors-and-headers.md §2). Codes not listed fall back to
# a type derived from the status, so a mapped provider code such as ``content_filter`` or a
# plugin-specific 400 code still gets a sensible type.
ERROR_TYPES: Mapping[str, str] = {
    "invalid_request_body": "invalid_request_error",
    "invalid_request": "invalid_request_error",
    "invalid_stream": "invalid_request_error",
    "missing_model": "invalid_request_error",
    "missing_messages": "invalid_request_error",
    "missing_input": "invalid_request_error",
    "missing_prompt": "invalid_request_error",
    "missing_image": "invalid_request_error",
    "missing_file": "invalid_request_error",
    "missing_model_id": "invalid_request_error",
    "missing_job_id": "invalid_request_error",
    "missing_response_id": "invalid_request_error",
    "invalid_modality": "invalid_request_error",
    "invalid_operation": "invalid_request_error",
    "invalid_provider": "invalid_request_error",
    "invalid_family": "invalid_request_error",
    "realtime_session_required": "invalid_request_error",
    "chain_not_supported": "invalid_request_error",
    "compose_key_chain_required": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "compose_key_required": "authentication_error",
    "invalid_compose_key": "authentication_error",
    "wallet_proof_required": "authentication_error",
    "invalid_wallet_signature": "authentication_error",
    "invalid_auth": "authentication_error",
    "budget_exhausted": "payment_error",
    "insufficient_balance": "payment_error",
    "insufficient_allowance": "payment_error",
    "settlement_failed": "payment_error",
    "payment_required": "payment_error",
    "insufficient_funds": "payment_error",
    "forbidden": "permission_error",
    "not_found": "invalid_request_error",
    "model_not_found": "invalid_request_error",
    "response_not_found": "invalid_request_error",
    "family_not_found": "invalid_request_error",
    "key_not_found": "invalid_request_error",
    "job_not_found": "invalid_request_error",
    "receipt_not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "chain_mismatch": "invalid_request_error",
    "request_entity_too_large": "invalid_request_error",
    "unsupported_media_type": "invalid_request_error",
    "rate_limit_exceeded": "rate_limit_error",
    "internal_error": "internal_error",
    "compose_key_validation_failed": "internal_error",
    "upstream_error": "upstream_error",
    "model_not_priced": "internal_error",
    "provider_unavailable": "upstream_error",
    "facilitator_unavailable": "payment_error",
    "chain_unavailable": "payment_error",
    "store_unavailable": "internal_error",
    "upstream_timeout": "upstream_error",
    "client_disconnected": "invalid_request_error",
}


def _type_for_status(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 402:
        return "payment_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status in (502, 504):
        return "upstream_error"
    if status >= 500:
        return "internal_error"
    return "invalid_request_error"


class GatewayError(Exception):
    """An error answered to the client in the OpenAI envelope.

    :param status: HTTP status of the response.
    :param code: a code of spec/errors-and-headers.md §2 (or a plugin code on a 400).
    :param message: human-readable text; never contains secrets.
    :param param: the offending request field or header, when one field is at fault.
    :param details: extra object, only for codes whose spec row has one.
    :param headers: extra response headers (for example ``Allow`` on a 405).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool = False,
        raw_body: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}
        self.retryable = retryable
        #: Upstream attempts made before this error (set by the retry loop).
        self.attempts = 1
        #: A body sent instead of the envelope: only the x402 challenge, whose body is the raw
        #: ``PaymentRequired`` object (spec/errors-and-headers.md §1, the single exception).
        self.raw_body = raw_body

    @property
    def type(self) -> str:
        return ERROR_TYPES.get(self.code) or _type_for_status(self.status)

    def envelope(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` body of this error."""
        return error_body(self.code, self.message, param=self.param, type_=self.type, details=self.details)

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.code!r}, {self.message!r}, param={self.param!r})"


def error_body(
    code: str,
    message: str,
    *,
    param: str | None = None,
    type_: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the OpenAI error envelope (spec/errors-and-headers.md §1)."""
    inner: dict[str, Any] = {
        "message": message,
        "type": type_ or ERROR_TYPES.get(code, "invalid_request_error"),
        "param": param,
        "code": code,
    }
    if details:
        inner["details"] = dict(details)
    return {"error": inner}


class ProviderError(Exception):
    """What went wrong upstream, as a plugin reports it (spec/models.md §2.3).

    :param status: the upstream HTTP status, or ``None`` when no response arrived
        (connection reset, DNS, TLS).
    :param message: text for the client; must never contain credentials.
    :param code: a specific gateway code (for example ``content_filter`` or
        ``context_length_exceeded``) that replaces the mapped code while the status stays 400.
    :param param: the request field at fault, when the upstream named one.
    :param retryable: ``None`` lets the core decide from ``status``.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        code: str | None = None,
        param: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProviderError({self.status!r}, {self.message!r}, code={self.code!r})"


def provider_error_to_gateway(error: ProviderError) -> GatewayError:
    """Map a :class:`ProviderError` to what the client sees (spec/models.md §2.3).

    Table-driven, most specific first: the plugin's ``code`` wins on 400-class errors, then
    the status decides the gateway status, code and whether a retry may help.
    """
    status = error.status
    if status is None:
        mapped = GatewayError(502, "upstream_error", error.message or "Provider connection failed", retryable=True)
    elif status in (400, 413, 422):
        mapped = GatewayError(400, error.code or "invalid_request", error.message, param=error.param)
    elif status in (401, 403):
        mapped = GatewayError(502, "upstream_error", "Provider authentication failed")
    elif status == 404:
        mapped = GatewayError(404, "model_not_found", error.message)
    elif status in (408, 504):
        mapped = GatewayError(504, "upstream_timeout", error.message, retryable=True)
    elif status == 429:
        mapped = GatewayError(429, "rate_limit_exceeded", error.message, retryable=True)
    elif 500 <= status <= 599:
        mapped = GatewayError(502, "upstream_error", error.message, retryable=True)
    else:
        # Statuses the table does not name (for example a 409 or 402 from upstream) are the
        # provider refusing this request: a client-side error that a retry will not fix.
        mapped = GatewayError(400, error.code or "invalid_request", error.message, param=error.param)
    if error.retryable is not None:
        mapped.retryable = error.retryable
    return mapped

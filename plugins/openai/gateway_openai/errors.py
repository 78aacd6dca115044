"""OpenAI error bodies -> :class:`~gateway_core.ProviderError`.

OpenAI answers every failure with ``{"error": {"message", "type", "param", "code"}}``, over
HTTP or, mid-stream, as one ``data:`` frame (without a status). Table-driven, most specific
first: an error ``code`` (or ``type``) that needs special treatment wins, then the status::

    insufficient_quota             -> 429, NOT retryable (money, not pace, is missing)
    rate_limit_exceeded            -> 429, retryable
    context_length_exceeded        -> 400, code kept, param kept
    content_filter / content_policy_violation / invalid_prompt
                                   -> 400, code ``content_filter``
    any other 4xx/5xx              -> same status, param kept (the core decides retries)

A frame without a status gets one from its ``type``/``code`` (:data:`STATUS_BY_KIND`).
Transport failures (no response at all) are left to the core's fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway_core import ProviderError

__all__ = ["STATUS_BY_KIND", "error_from_body", "error_object", "map_error_body"]

_MAX_MESSAGE = 500
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "invalid_prompt"})

#: error ``code`` or ``type`` -> HTTP status, for in-band stream errors that carry no status.
STATUS_BY_KIND: Mapping[str, int] = {
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "requests": 429,
    "tokens": 429,
    "context_length_exceeded": 400,
    "content_filter": 400,
    "content_policy_violation": 400,
    "invalid_prompt": 400,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "timeout": 408,
    "timeout_error": 408,
}


def error_object(data: Any) -> Mapping[str, Any] | None:
    """The ``error`` member of a parsed body: the object form, or ``{"message": text}`` for
    servers that send ``{"error": "text"}``; ``None`` when there is none."""
    if not isinstance(data, Mapping):
        return None
    error = data.get("error")
    if isinstance(error, Mapping):
        return error
    if isinstance(error, str) and error:
        return {"message": error}
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_body(status: int | None, error: Mapping[str, Any]) -> ProviderError:
    """Map one OpenAI error object; ``status`` is ``None`` for an in-band stream error."""
    code, kind, param = _text(error.get("code")), _text(error.get("type")), _text(error.get("param"))
    if status is None:
        status = STATUS_BY_KIND.get(code or "") or STATUS_BY_KIND.get(kind or "") or 500
    message = (_text(error.get("message")) or f"Provider returned HTTP {status}")[:_MAX_MESSAGE]
    if "insufficient_quota" in (code, kind):
        # Same status as a rate limit, but waiting will not help: fail at once.
        return ProviderError(429, message, code="insufficient_quota", retryable=False)
    if status == 429:
        return ProviderError(429, message, code="rate_limit_exceeded", retryable=True)
    if code == "context_length_exceeded":
        return ProviderError(400, message, code=code, param=param)
    if code in _CONTENT_FILTER_CODES or kind in _CONTENT_FILTER_CODES:
        return ProviderError(400, message, code="content_filter", param=param)
    return ProviderError(status, message, param=param)


def map_error_body(status: int, body: bytes) -> ProviderError | None:
    """An HTTP error answer -> :class:`ProviderError`; ``None`` when the body is not an OpenAI
    error (an HTML page from a proxy, an empty body), so the core's fallback maps the status."""
    try:
        error = error_object(orjson.loads(body)) if body else None
    except orjson.JSONDecodeError:
        return None
    return error_from_body(status, error) if error is not None else None

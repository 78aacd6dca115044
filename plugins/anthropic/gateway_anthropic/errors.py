"""Anthropic errors -> :class:`~gateway_core.errors.ProviderError`.

Every Anthropic error, an HTTP error body or an in-band ``event: error`` of a stream, has one
shape::

    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_…"}

The HTTP status, when there is one, stays the status (the core maps it, spec/models.md §2.3);
``error.type`` adds whether a retry may help and, for in-band errors that have no status, the
status the same error has over HTTP. Anything else (a body that is not this shape, a
transport failure) is left to the core's fallback mapper.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway_core import ProviderError

__all__ = ["ERROR_TYPES", "error_from_wire", "map_error"]

#: ``error.type`` -> (its HTTP status, whether a retry may help), from Anthropic's error docs.
ERROR_TYPES: Mapping[str, tuple[int, bool]] = {
    "invalid_request_error": (400, False),
    "authentication_error": (401, False),
    "billing_error": (402, False),
    "permission_error": (403, False),
    "not_found_error": (404, False),
    "request_too_large": (413, False),
    "rate_limit_error": (429, True),
    "api_error": (500, True),
    "timeout_error": (504, True),
    "overloaded_error": (529, True),
}


def error_from_wire(data: Any, status: int | None = None) -> ProviderError | None:
    """The error of an Anthropic error object (``{"type":"error","error":{…}}``), or ``None``
    when ``data`` is not one. In-band errors have no ``status``: the type's HTTP status is
    used, and an unknown type counts as a retryable 500 (like ``api_error``)."""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(error.get("type"), str):
        return None
    kind = str(error["type"])
    message = error.get("message")
    text = message if isinstance(message, str) and message else kind
    known = ERROR_TYPES.get(kind)
    if status is None:
        type_status, retryable = known or (500, True)
        return ProviderError(type_status, text, retryable=retryable)
    return ProviderError(status, text, retryable=known[1] if known else None)


def map_error(status: int | None, body: bytes) -> ProviderError | None:
    """``gateway_map_error`` for an HTTP error answer; ``None`` defers to the core's fallback."""
    if status is None or not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return error_from_wire(data, status)

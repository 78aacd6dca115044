"""The last-resort ``gateway_map_error`` impl: any upstream failure -> a ProviderError.

Registered ``trylast`` and as a cross-cutting plugin, so a provider plugin only maps what its
upstream does specially and returns ``None`` for the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import orjson

from gateway_core.errors import ProviderError
from gateway_core.hookspecs import hookimpl
from gateway_core.types import ProviderCall, ProviderContext

__all__ = ["error_message", "gateway_map_error"]

_MAX_MESSAGE = 500


def error_message(body: bytes) -> str | None:
    """The human text of an error body in the shapes providers commonly use:
    ``{"error": {"message"}}``, ``{"error": "…"}``, ``{"message"}``, ``{"detail"}``, plain text."""
    if not body:
        return None
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:_MAX_MESSAGE] or None
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])[:_MAX_MESSAGE]
        if isinstance(error, str):
            return error[:_MAX_MESSAGE]
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])[:_MAX_MESSAGE]
    return None


@functools.cache
def _exception_table() -> tuple[tuple[type[BaseException], int | None, str], ...]:
    """Transport failures, most specific first (httpx's hierarchy: timeouts are TransportErrors).

    Built on the first transport failure: httpx is imported here only then, as
    :func:`gateway_core.upstream_http.as_httpx_error` does, so a healthy gateway never loads it.
    """
    import httpx

    return (
        (httpx.TimeoutException, 408, "Provider request timed out"),
        (httpx.RemoteProtocolError, None, "Provider closed the connection unexpectedly"),
        (httpx.ConnectError, None, "Could not connect to the provider"),
        (httpx.TransportError, None, "Provider connection failed"),
    )


@hookimpl(trylast=True)
def gateway_map_error(
    call: ProviderCall | None,
    provider: ProviderContext,
    status: int | None,
    body: bytes,
    headers: Mapping[str, str],
    exception: BaseException | None,
) -> ProviderError | None:
    if status is None:
        for kind, mapped_status, message in _exception_table():
            if isinstance(exception, kind):
                return ProviderError(mapped_status, message)
        return ProviderError(None, "Provider connection failed")
    message = error_message(body) or f"Provider returned HTTP {status}"
    return ProviderError(status, message)

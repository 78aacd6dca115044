"""Pure-ASGI middleware for what every response carries (spec/errors-and-headers.md §4, §6):
CORS (and the ``OPTIONS`` 204 answer before routing), ``X-Request-Id``, ``Server-Timing``
(:mod:`gateway_core.timing`), and ``HEAD`` on GET routes. Pure ASGI rather than
``BaseHTTPMiddleware`` so streamed bodies pass through untouched.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

import orjson

from gateway_core import timing
from gateway_core.errors import error_body
from gateway_core.streaming import Message, Receive, Scope, Send

__all__ = ["ALLOW_HEADERS", "EXPOSE_HEADERS", "GatewayHTTPMiddleware", "public_origin", "request_id_of"]

log = logging.getLogger("gateway")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_LOCAL_ORIGINS = (
    r"^https?://localhost(:\d+)?$",
    r"^https?://127\.0\.0\.1(:\d+)?$",
    r"^https?://0\.0\.0\.0(:\d+)?$",
    r"^tauri://localhost$",
    r"^https://tauri\.localhost$",
)
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, Accept-Language, X-Chain-Id, X-Request-Id, X-Session-User-Address, "
    "X-Wallet-Signature, X-Wallet-Signature-Issued-At, PAYMENT-SIGNATURE, X-PAYMENT, X-X402-Max-Amount-Wei, "
    "X-Idempotency-Key, X-Run-Id, X-SDK, X-Client-Source"
)
EXPOSE_HEADERS = (
    "X-Request-Id, X-Transaction-Hash, X-Compose-Receipt, X-Receipt, PAYMENT-REQUIRED, PAYMENT-RESPONSE, "
    "X-PAYMENT-RESPONSE, x-payment-intent-id, x-key-budget-limit, x-key-budget-used, x-key-budget-reserved, "
    "x-key-budget-remaining, x-key-final-amount-wei, x-key-tx-hash, x-settlement, x-session-invalid, "
    "x-compose-response-id, x-response-id, x-routing-primary-model, x-routing-final-model, x-routing-attempts, "
    "x-routing-fallback-used, x-compose-public-model, x-public-model, x-compose-upstream-provider, "
    "x-upstream-provider, x-compose-upstream-model, x-upstream-model, "
    # Gateway extension: browsers hide Server-Timing from cross-origin scripts unless exposed.
    "Server-Timing"
)
_STATIC_CORS = [
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS"),
    (b"access-control-max-age", b"600"),
    (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
    (b"vary", b"Origin"),
    # Lets any page's Resource Timing API (PerformanceResourceTiming.serverTiming) read it too.
    (b"timing-allow-origin", b"*"),
]


def request_id_of(scope: Scope) -> str:
    """The request id the middleware assigned (spec/errors-and-headers.md §4)."""
    return str(scope.get("gateway.request_id") or "")


def public_origin(scope: Scope, configured: str | None) -> str:
    """``GATEWAY_PUBLIC_URL``, else ``X-Forwarded-Proto`` (or the scheme) + ``://`` +
    ``X-Forwarded-Host`` (or ``Host``) (spec/README.md § Base URL and transport)."""
    if configured:
        return configured
    proto = _header(scope, b"x-forwarded-proto")
    host = _header(scope, b"x-forwarded-host") or _header(scope, b"host")
    scheme = proto.decode("latin-1").split(",")[0].strip() if proto else str(scope.get("scheme") or "http")
    if host:
        return f"{scheme}://{host.decode('latin-1').split(',')[0].strip()}"
    server = scope.get("server") or ("localhost", None)
    return f"{scheme}://{server[0]}" + (f":{server[1]}" if server[1] else "")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


class GatewayHTTPMiddleware:
    def __init__(self, app: Any, credential_origins: Sequence[str] = ()) -> None:
        self.app = app
        self._credentialed = [re.compile(p, re.IGNORECASE) for p in (*_LOCAL_ORIGINS, *credential_origins)]

    def _cors(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        origin = _header(scope, b"origin")
        headers = list(_STATIC_CORS)
        text = origin.decode("latin-1") if origin else ""
        if text and any(p.match(text) for p in self._credentialed):
            headers.append((b"access-control-allow-origin", origin or b""))
            headers.append((b"access-control-allow-credentials", b"true"))
        else:
            headers.append((b"access-control-allow-origin", b"*"))
        allow = ALLOW_HEADERS
        requested = _header(scope, b"access-control-request-headers")
        if requested:
            allow = allow + ", " + requested.decode("latin-1")
        headers.append((b"access-control-allow-headers", allow.encode("latin-1")))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = _header(scope, b"x-request-id")
        candidate = raw_id.decode("latin-1").split(",")[0].strip() if raw_id else ""
        request_id = candidate if _REQUEST_ID.match(candidate) else "req_" + secrets.token_hex(16)
        scope["gateway.request_id"] = request_id
        extra = [*self._cors(scope), (b"x-request-id", request_id.encode())]

        if scope["method"] == "OPTIONS":
            record = timing.RequestTiming(scope.get(timing.RECEIVED_KEY), time.perf_counter_ns())
            extra.append((b"server-timing", record.header()))
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return
        record, token = timing.open_timing(scope.get(timing.RECEIVED_KEY))
        try:
            await self._respond(scope, receive, send, extra, record)
        finally:
            timing.reset(token)

    async def _respond(
        self, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]], record: timing.RequestTiming
    ) -> None:
        request_id: str = scope["gateway.request_id"]

        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # Rendered now: for a stream every phase up to the first upstream event is known.
                message["headers"] = [*message.get("headers", ()), *extra, (b"server-timing", record.header())]
            elif head and message["type"] == "http.response.body":
                message = dict(message, body=b"")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Rendered here, not by Starlette's outermost error middleware, so an unexpected
            # failure still gets the envelope, the request id and CORS headers.
            log.exception("request %s failed unexpectedly", request_id)
            if started:
                raise
            body = orjson.dumps(error_body("internal_error", "Internal server error", type_="internal_error"))
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json; charset=utf-8"), (b"cache-control", b"no-store")],
                }
            )
            await send_with_headers({"type": "http.response.body", "body": body})

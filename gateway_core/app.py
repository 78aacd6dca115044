"""The ASGI application: routers, error rendering, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.fast_routes import Endpoint, FastRoutes, fast_route_table, route_key
from gateway_core.http import GatewayHTTPMiddleware, request_id_of
from gateway_core.payments import PaymentGate
from gateway_core.routes import chat, facilitator, health, keys, models, receipts, responses
from gateway_core.routes._json import json_response
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.streaming import Receive, Scope, Send

__all__ = ["GatewayApp", "create_app"]

log = logging.getLogger("gateway")


def _error_response(error: GatewayError) -> Response:
    if error.raw_body is not None:
        return Response(error.raw_body, status_code=error.status, headers=error.headers, media_type="application/json")
    return json_response(error.envelope(), status=error.status, headers=error.headers)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        log.warning("request %s failed: %s %s", request_id_of(request.scope), exc.code, exc.message)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        error = GatewayError(
            405, "method_not_allowed", f"Method {method} is not allowed on {path}", headers={"Allow": allow}
        )
    elif exc.status_code == 404:
        error = GatewayError(404, "not_found", f"No route for {method} {path}")
    else:
        error = GatewayError(exc.status_code, "invalid_request", str(exc.detail))
    return _error_response(error)


class GatewayApp(FastAPI):
    """FastAPI, with the gateway's fast routes (:mod:`gateway_core.fast_routes`) answered in
    front of it.

    The fast routes already skip FastAPI's router inside the application's middleware stack,
    but reaching that stack costs its own layers (Starlette's error and exception middlewares,
    FastAPI's body-limit and telemetry middlewares and, on every request, FastAPI's check
    whether an OpenTelemetry provider is configured): ~3 % of a paid call's CPU at 64
    connections. So a request for a fast route goes straight to the same
    :class:`~gateway_core.http.GatewayHTTPMiddleware` and :class:`FastRoutes`, with the scope
    keys FastAPI would set (``app``, ``root_path``); every other request, and every request when
    FastAPI's own telemetry is on, takes the whole stack, where the same two middlewares run.

    FastAPI's telemetry (``fastapi>=0.160``: request spans and metrics once an OpenTelemetry SDK
    is configured in the process) is checked once, on the first request: a process that sets
    up OpenTelemetry gets spans for every route, the fast ones included, provided it does so
    before serving.
    """

    _fast_table: Mapping[tuple[str, str], Endpoint] = MappingProxyType({})
    _fast_front: GatewayHTTPMiddleware | None = None
    _telemetry_checked = False

    def add_gateway_middleware(self, table: dict[tuple[str, str], Endpoint], credential_origins: Sequence[str]) -> None:
        """:class:`GatewayHTTPMiddleware` around :class:`FastRoutes` for ``table``, twice from
        the same arguments: innermost in the middleware stack, and in front of FastAPI for the
        table's routes. Both hold the same dict (tests wrap its endpoints)."""
        # Added first, so it runs inside the gateway middleware (the last added is outermost).
        self.add_middleware(FastRoutes, table=table)
        self.add_middleware(GatewayHTTPMiddleware, credential_origins=credential_origins)
        self._fast_table = table
        # Its fallback is never taken (only the table's routes enter the front); the stack is
        # what would answer them anyway.
        self._fast_front = GatewayHTTPMiddleware(FastRoutes(self._stack, table), credential_origins)

    async def _stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def _front(self) -> GatewayHTTPMiddleware | None:
        """The front for fast routes, unless FastAPI's telemetry was on at the first request."""
        if not self._telemetry_checked:
            self._telemetry_checked = True
            native = getattr(self, "_native_telemetry", None)  # absent before FastAPI's telemetry
            if native is not None and native.enabled():
                self._fast_front = None
        return self._fast_front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._front() if scope["type"] == "http" else None
        if front is not None:
            if self.root_path:
                scope["root_path"] = self.root_path  # as FastAPI.__call__ does
            if route_key(scope) in self._fast_table:
                scope["app"] = self  # as Starlette.__call__ does: endpoints read app.state
                await front(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    runtime: Runtime | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    payments: PaymentGate | None = None,
) -> GatewayApp:
    """Build the gateway application.

    :param settings: defaults to the environment (and ``GATEWAY_CONFIG``).
    :param runtime: a pre-built runtime (the CLI builds it first to report start-up errors).
    :param extra_plugins: ``(name, plugin)`` pairs registered besides the discovered ones.
    """
    if runtime is None:
        runtime = build_runtime(settings or GatewaySettings.load(), extra_plugins=extra_plugins, payments=payments)
    built = runtime

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await built.start()
        try:
            yield
        finally:
            await built.stop()

    app = GatewayApp(title="Inference Gateway", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    routers = [health.router, models.router, chat.router, responses.router, keys.router, receipts.router]
    routers.append(facilitator.router)
    for router in routers:
        app.include_router(router)
    table = fast_route_table(route for router in routers for route in router.routes if isinstance(route, APIRoute))
    app.add_gateway_middleware(table, runtime.settings.cors_credential_origins)
    return app

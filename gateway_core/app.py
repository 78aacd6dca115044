"""The ASGI application: routers, error rendering, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import GatewayError
from gateway_core.fast_routes import FastRoutes, fast_route_table
from gateway_core.http import GatewayHTTPMiddleware, request_id_of
from gateway_core.payments import PaymentGate
from gateway_core.routes import chat, facilitator, health, keys, models, receipts, responses
from gateway_core.routes._json import json_response
from gateway_core.runtime import Runtime, build_runtime
from gateway_core.settings import GatewaySettings

__all__ = ["create_app"]

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


def create_app(
    settings: GatewaySettings | None = None,
    *,
    runtime: Runtime | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    payments: PaymentGate | None = None,
) -> FastAPI:
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

    app = FastAPI(title="Inference Gateway", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    routers = [health.router, models.router, chat.router, responses.router, keys.router, receipts.router]
    routers.append(facilitator.router)
    for router in routers:
        app.include_router(router)
    # Added first, so it runs inside the gateway middleware (the last added is outermost).
    table = fast_route_table(route for router in routers for route in router.routes if isinstance(route, APIRoute))
    app.add_middleware(FastRoutes, table=table)
    app.add_middleware(GatewayHTTPMiddleware, credential_origins=runtime.settings.cors_credential_origins)
    return app

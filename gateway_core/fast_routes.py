"""A direct dispatch for the gateway's static request-only routes (``POST /v1/chat/completions``).

FastAPI's per-request machinery — matching every included router in turn, its request/response
wrappers, the exception and async-exit-stack middlewares — costs ~0.1 ms of CPU a request, a
tenth of a whole paid call. Most gateway endpoints take nothing but the ``Request`` and return
a ``Response`` themselves, so for those on a path without parameters there is nothing for that
machinery to do: this ASGI middleware finds them in a dict by ``(method, path)`` and calls them,
rendering exceptions with the application's own exception handlers, exactly as the router
would. Anything else (parameterized paths, routes with dependencies) goes through FastAPI.

It sits inside :class:`~gateway_core.http.GatewayHTTPMiddleware`, so CORS, request ids,
``Server-Timing``, ``HEAD`` and the last-resort error envelope apply to both paths alike. The
pair sits in the application's middleware stack, and :class:`~gateway_core.app.GatewayApp`
also runs it in front of FastAPI for the table's routes, skipping the stack's other layers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.streaming import Receive, Scope, Send

__all__ = ["Endpoint", "FastRoutes", "fast_route_table", "route_key"]

Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def _request_only(route: APIRoute) -> bool:
    """Takes only the request, returns a Response, and has no path parameters or dependencies."""
    dependant = route.dependant
    params = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
        dependant.dependencies,
    )
    returns = route.endpoint.__annotations__.get("return")
    return (
        "{" not in route.path
        and dependant.request_param_name is not None
        and not any(params)  # route-level dependencies are among the dependant's too
        and returns in ("Response", Response)
    )


def fast_route_table(routes: Iterable[APIRoute]) -> dict[tuple[str, str], Endpoint]:
    """``(method, path) -> endpoint`` for the routes the router would pick for exactly that
    method and path: request-only static routes that no other route (declared earlier, with a
    parameter pattern) also matches."""
    ordered = list(routes)
    table: dict[tuple[str, str], Endpoint] = {}
    for index, route in enumerate(ordered):
        if not _request_only(route):
            continue
        for method in route.methods or ():
            shadowed = any(
                method in (earlier.methods or ()) and earlier.path_regex.match(route.path)
                for earlier in ordered[:index]
            )
            if not shadowed:
                table.setdefault((method, route.path), route.endpoint)
    return table


def route_key(scope: Scope) -> tuple[str, str]:
    """``(method, path)`` of an HTTP request as the table keys it: the path behind the mount
    point (``root_path``), as the router matches it."""
    path, root = scope["path"], scope.get("root_path")
    if root and path.startswith(root):
        path = path[len(root) :]
    return scope["method"], path


class FastRoutes:
    """ASGI middleware: calls the endpoints of ``table`` directly, anything else goes to ``app``."""

    def __init__(self, app: Any, table: dict[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self._table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._table.get(route_key(scope)) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise  # the outer middleware renders the 500 envelope
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler_for(handlers: dict[Any, ExceptionHandler], exc: Exception) -> ExceptionHandler | None:
    # As Starlette's exception middleware looks them up: the most specific class first. An
    # ``Exception`` handler is the server-error middleware's, which the outer middleware plays.
    for kind in type(exc).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None

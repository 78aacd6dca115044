"""The direct dispatch of static request-only routes (:mod:`gateway_core.fast_routes`): which
routes the table takes, and a real gateway app answering through it exactly as through
FastAPI (headers of the outer middleware, error rendering, ``HEAD``), with every fast-path
call recorded so a silent fallback to the router fails the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

import anyio
import httpx
import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_core.app import create_app
from gateway_core.errors import GatewayError
from gateway_core.fast_routes import Endpoint, FastRoutes, fast_route_table
from gateway_core.payments import NoPayment
from gateway_core.runtime import build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.streaming import Message
from gateway_core.timing import parse_server_timing

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- fast_route_table ----------------------------------------------------------------------------

router = APIRouter()


def _token() -> str:
    return "t"


class Body(BaseModel):
    name: str


@router.get("/static")
async def static(request: Request) -> Response:
    return Response("static")


@router.api_route("/both", methods=["GET", "POST"])
async def both(request: Request) -> Response:
    return Response("both")


@router.get("/items/{item_id}")
async def item(request: Request) -> Response:
    return Response("item")


@router.get("/guarded", dependencies=[Depends(_token)])
async def guarded(request: Request) -> Response:
    return Response("guarded")


@router.get("/injected")
async def injected(request: Request, token: str = Depends(_token)) -> Response:
    return Response(token)


@router.get("/query")
async def query(request: Request, limit: int = 10) -> Response:
    return Response(str(limit))


@router.post("/body")
async def body(request: Request, payload: Body) -> Response:
    return Response(payload.name)


@router.get("/json-response")
async def json_response(request: Request) -> JSONResponse:
    return JSONResponse({})


@router.get("/plain")
async def plain(request: Request) -> dict[str, str]:
    return {}


@router.get("/no-request")
async def no_request() -> Response:
    return Response("no request")


# A parameterized route shadows a later static path it matches, for its own methods only.
@router.get("/things/{name}")
async def thing(request: Request) -> Response:
    return Response("thing")


@router.api_route("/things/special", methods=["GET", "POST"])
async def special_thing(request: Request) -> Response:
    return Response("special")


# Declared after: a static route before a parameterized one is the router's pick.
@router.get("/later/static")
async def later_static(request: Request) -> Response:
    return Response("later static")


@router.get("/later/{name}")
async def later_param(request: Request) -> Response:
    return Response("later param")


def _table() -> dict[tuple[str, str], Endpoint]:
    return fast_route_table(route for route in router.routes if isinstance(route, APIRoute))


def test_table_holds_static_request_only_routes_by_method_and_path() -> None:
    table = _table()
    assert table[("GET", "/static")] is static
    assert table[("GET", "/both")] is both and table[("POST", "/both")] is both
    assert table[("GET", "/later/static")] is later_static
    assert table[("POST", "/things/special")] is special_thing, "the earlier parameterized route is GET only"
    assert sorted(table) == [
        ("GET", "/both"),
        ("GET", "/later/static"),
        ("GET", "/static"),
        ("POST", "/both"),
        ("POST", "/things/special"),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/items/{item_id}", id="path-parameter"),
        pytest.param("GET", "/guarded", id="route-dependency"),
        pytest.param("GET", "/injected", id="parameter-dependency"),
        pytest.param("GET", "/query", id="query-parameter"),
        pytest.param("POST", "/body", id="body-parameter"),
        pytest.param("GET", "/json-response", id="returns-a-response-subclass"),
        pytest.param("GET", "/plain", id="returns-data"),
        pytest.param("GET", "/no-request", id="takes-no-request"),
        pytest.param("GET", "/things/special", id="shadowed-by-earlier-parameterized-route"),
        pytest.param("GET", "/later/{name}", id="parameterized-after-static"),
    ],
)
def test_table_leaves_other_routes_to_fastapi(method: str, path: str) -> None:
    assert (method, path) not in _table()


def test_the_gateway_table_is_static_paths_only() -> None:
    table = _app_table(create_app(runtime=build_runtime(GatewaySettings.from_config({}), payments=NoPayment())))
    assert {("POST", "/v1/chat/completions"), ("POST", "/v1/responses"), ("GET", "/v1/models")} <= set(table)
    assert all("{" not in path for _, path in table)


# -- FastRoutes in the gateway app ---------------------------------------------------------------


def _app_table(app: FastAPI) -> dict[tuple[str, str], Endpoint]:
    (middleware,) = [m for m in app.user_middleware if getattr(m, "cls", None) is FastRoutes]
    return cast(dict[tuple[str, str], Endpoint], middleware.kwargs["table"])


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    table: dict[tuple[str, str], Endpoint]
    #: ``(method, path, router scope keys seen)`` of each call the fast path made.
    fast_calls: list[tuple[str, str, list[str]]] = field(default_factory=list)


def _recording(key: tuple[str, str], endpoint: Endpoint, calls: list[tuple[str, str, list[str]]]) -> Endpoint:
    async def recorded(request: Request) -> Response:
        # Starlette's router marks the scope it routed ("router"), FastAPI the route it chose.
        routed = [name for name in ("router", "route", "endpoint") if name in request.scope]
        calls.append((*key, routed))
        return await endpoint(request)

    return recorded


@asynccontextmanager
async def _gateway() -> AsyncIterator[Gateway]:
    """The gateway app (sandbox provider, no payments) with every fast-path endpoint recorded.
    The table is the dict the middleware holds, so wrapping its entries is what it calls."""
    runtime = build_runtime(GatewaySettings.from_config({}), payments=NoPayment())
    app = create_app(runtime=runtime)
    table = _app_table(app)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
            gateway = Gateway(app, client, table)
            for key, endpoint in list(table.items()):
                table[key] = _recording(key, endpoint, gateway.fast_calls)
            yield gateway
    finally:
        await runtime.stop()


def _assert_gateway_headers(response: httpx.Response, request_id: str | None = None) -> None:
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Server-Timing" in response.headers["access-control-expose-headers"]
    if request_id is None:
        assert response.headers["x-request-id"].startswith("req_")
    else:
        assert response.headers["x-request-id"] == request_id
    assert "total" in parse_server_timing(response.headers["server-timing"])


async def test_fast_route_answers_with_the_gateway_headers() -> None:
    async with _gateway() as gateway:
        response = await gateway.client.get("/v1/models", headers={"x-request-id": "fast-1"})
        credentialed = await gateway.client.get("/v1/models", headers={"origin": "http://localhost:5173"})
    assert response.status_code == 200
    assert any(row["modelId"] == "sandbox-echo" for row in response.json()["data"])
    _assert_gateway_headers(response, "fast-1")
    assert credentialed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert credentialed.headers["access-control-allow-credentials"] == "true"
    assert gateway.fast_calls == [("GET", "/v1/models", []), ("GET", "/v1/models", [])]


async def test_paid_call_through_the_fast_path_is_timed_by_phase() -> None:
    chat = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hello"}]}
    async with _gateway() as gateway:
        response = await gateway.client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello"
    _assert_gateway_headers(response)
    # The phases are recorded by the pipeline into the timing the outer middleware opened.
    assert {"auth", "translate", "upstream", "total"} <= set(parse_server_timing(response.headers["server-timing"]))
    assert gateway.fast_calls == [("POST", "/v1/chat/completions", [])]


async def test_gateway_error_of_a_fast_endpoint_is_the_error_envelope() -> None:
    chat = {"model": "no-such-model", "messages": [{"role": "user", "content": "hello"}]}
    async with _gateway() as gateway:
        response = await gateway.client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert response.json()["error"]["param"] == "model"
    _assert_gateway_headers(response)
    assert gateway.fast_calls == [("POST", "/v1/chat/completions", [])]


async def test_fast_routes_are_answered_in_front_of_fastapis_middleware_stack() -> None:
    # Starlette builds its middleware stack on the first request that reaches it.
    chat = {"model": "sandbox-echo", "messages": [{"role": "user", "content": "hello"}]}
    async with _gateway() as gateway:
        paid = await gateway.client.post("/v1/chat/completions", json=chat)
        models = await gateway.client.get("/v1/models")
        stack_after_fast_routes = gateway.app.middleware_stack
        routed = await gateway.client.get("/v1/models/sandbox-echo")
    assert paid.status_code == 200 and models.status_code == 200 and routed.status_code == 200
    assert stack_after_fast_routes is None, "a fast route went through FastAPI's stack"
    assert gateway.app.middleware_stack is not None
    for response in (paid, models, routed):
        _assert_gateway_headers(response)
        assert len(response.headers.get_list("x-request-id")) == 1  # one gateway middleware ran
    assert [call[:2] for call in gateway.fast_calls] == [("POST", "/v1/chat/completions"), ("GET", "/v1/models")]


async def test_with_fastapis_telemetry_on_fast_routes_take_the_whole_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    # FastAPI (>= 0.160) traces requests once an OpenTelemetry SDK is configured; its check is
    # replaced here rather than configuring one (the SDK is not a test dependency).
    async with _gateway() as gateway:
        native = getattr(gateway.app, "_native_telemetry", None)
        if native is None:
            pytest.skip("this FastAPI has no native telemetry")
        monkeypatch.setattr(native, "enabled", lambda: True)
        response = await gateway.client.get("/v1/models")
    assert response.status_code == 200
    assert gateway.app.middleware_stack is not None, "the request did not reach FastAPI"
    _assert_gateway_headers(response)
    assert len(response.headers.get_list("x-request-id")) == 1
    # Inside the stack the same table still answers it directly.
    assert gateway.fast_calls == [("GET", "/v1/models", [])]


class _Throttled(GatewayError):
    """A subclass: its handler is found along the MRO, as Starlette looks it up."""


async def _raise_throttled(request: Request) -> Response:
    raise _Throttled(429, "rate_limit_exceeded", "Slow down", headers={"Retry-After": "3"})


async def _raise_http_exception(request: Request) -> Response:
    raise HTTPException(409, "conflicting")


async def _raise_unexpected(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("endpoint", "status", "code", "headers"),
    [
        pytest.param(_raise_throttled, 429, "rate_limit_exceeded", {"retry-after": "3"}, id="gateway-error-subclass"),
        pytest.param(_raise_http_exception, 409, "invalid_request", {}, id="http-exception"),
        pytest.param(_raise_unexpected, 500, "internal_error", {}, id="unexpected-exception"),
    ],
)
async def test_exceptions_of_a_fast_endpoint_are_rendered_by_the_app(
    endpoint: Endpoint, status: int, code: str, headers: dict[str, str]
) -> None:
    async with _gateway() as gateway:
        gateway.table[("GET", "/v1/models")] = _recording(("GET", "/v1/models"), endpoint, gateway.fast_calls)
        response = await gateway.client.get("/v1/models")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert headers.items() <= dict(response.headers).items()
    _assert_gateway_headers(response)
    assert gateway.fast_calls == [("GET", "/v1/models", [])]


async def _asgi_messages(app: FastAPI, method: str, path: str) -> list[Message]:
    """What the app sends for a body-less request (httpx's ASGI transport drops the body of a
    ``HEAD`` answer itself, so it cannot show whether the app sent one)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"gateway.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


async def test_head_on_a_fast_get_route_has_an_empty_body() -> None:
    async with _gateway() as gateway:
        full = await _asgi_messages(gateway.app, "GET", "/v1/models")
        head = await _asgi_messages(gateway.app, "HEAD", "/v1/models")
    assert [m["type"] for m in head] == ["http.response.start", "http.response.body"]
    assert head[0]["status"] == 200
    varying = (b"x-request-id", b"server-timing")
    assert [h for h in head[0]["headers"] if h[0] not in varying] == [
        h for h in full[0]["headers"] if h[0] not in varying
    ], "the same head as GET"
    assert full[1]["body"] != b""
    assert head[1]["body"] == b""
    headers = dict(head[0]["headers"])
    assert headers[b"content-length"] == str(len(full[1]["body"])).encode()
    assert headers[b"x-request-id"].startswith(b"req_") and b"server-timing" in headers
    assert [call[:2] for call in gateway.fast_calls] == [("GET", "/v1/models"), ("GET", "/v1/models")]


async def test_paths_outside_the_table_still_go_through_fastapi() -> None:
    async with _gateway() as gateway:
        model = await gateway.client.get("/v1/models/sandbox-echo")
        unknown = await gateway.client.get("/v1/no-such-thing")
        wrong_method = await gateway.client.get("/v1/chat/completions")
    assert model.status_code == 200
    assert orjson.loads(model.content)["modelId"] == "sandbox-echo"
    _assert_gateway_headers(model)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    _assert_gateway_headers(unknown)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    assert gateway.fast_calls == []


@pytest.mark.anyio
async def test_behind_a_root_path_the_path_below_it_is_looked_up() -> None:
    # Mounted under a prefix (uvicorn --root-path), scope["path"] carries the prefix; the
    # router matches what is below it, and so does the table.
    called: list[str] = []

    async def endpoint(request: Request) -> Response:
        called.append(request.url.path)
        return Response(b"fast")

    async def fallback(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the fast route was not taken")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    middleware = FastRoutes(fallback, {("GET", "/health"): endpoint})
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/gw/health",
        "root_path": "/gw",
        "headers": [],
        "query_string": b"",
    }
    await middleware(scope, receive, send)
    assert called == ["/gw/health"]
    assert sent[-1]["body"] == b"fast"

"""The upstream pools (:mod:`gateway_core.upstream_http`): :class:`NetworkPool` against a raw
HTTP/1.1 server on loopback whose every byte the test writes (so truncated bodies, stalls and
garbage can be produced), :class:`InProcessPool` over an ``httpx.MockTransport``, and the
aiohttp -> httpx failure mapping."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import orjson
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway_core.types import ProviderSettings, UpstreamRequest
from gateway_core.upstream_http import InProcessPool, NetworkPool, OpenResponse, as_httpx_error, pool_for

pytestmark = pytest.mark.anyio

# Every wait in this file is bounded by this, so a regression fails instead of hanging.
BOUND_S = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a raw HTTP/1.1 server ---------------------------------------------------------------------


@dataclass
class Exchange:
    """One request as the server read it; the responder answers on :attr:`writer`."""

    method: str
    target: str
    headers: list[tuple[str, str]]  # names lowercased, in wire order
    body: bytes
    connection: int  # 0 for the server's first accepted connection, 1 for the next…
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_client_leaves(self) -> None:
        """Answer nothing more; return once the client closed the connection."""
        while await self.reader.read(65536):
            pass

    def reset(self) -> None:
        """Drop the connection with a TCP RST (not a FIN)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


Respond = Callable[[Exchange], Awaitable[None]]


def http_response(status: int = 200, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 answer with a ``content-length``."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunk(data: bytes) -> bytes:
    """One chunk of a ``transfer-encoding: chunked`` body (``b""`` is the last chunk)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _ok(exchange: Exchange) -> None:
    await exchange.send(http_response(200, b"ok"))


@dataclass
class RawServer:
    """Serves keep-alive connections on ``127.0.0.1``: reads each request (``content-length``
    or chunked body) and hands it to ``respond``, which writes whatever bytes it likes."""

    respond: Respond = _ok
    exchanges: list[Exchange] = field(default_factory=list)
    #: One event per accepted connection, set once the client closed (or reset) it.
    closed: list[asyncio.Event] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _handlers: list[asyncio.Task[None]] = field(default_factory=list)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.closed)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        # The handlers end on their own once their connection is gone (cancelling them makes
        # Python 3.11's stream callback log a spurious error).
        async with asyncio.timeout(BOUND_S):
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.append(task)
        self._writers.append(writer)
        number = len(self.closed)
        self.closed.append(asyncio.Event())
        try:
            while not writer.is_closing():
                exchange = await _read_request(reader, writer, number)
                if exchange is None:
                    break
                self.exchanges.append(exchange)
                await self.respond(exchange)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed[number].set()
            writer.transport.abort()


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> Exchange | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed the connection between requests
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)]
    named = dict(headers)
    body = b""
    if "content-length" in named:
        body = await reader.readexactly(int(named["content-length"]))
    elif named.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
    return Exchange(method, target, headers, body, number, reader, writer)


# -- helpers -----------------------------------------------------------------------------------


def _pool(base_url: str | None, **settings: object) -> NetworkPool:
    return NetworkPool(ProviderSettings(base_url=base_url, **settings), connect_timeout=BOUND_S)


@asynccontextmanager
async def _opened(base_url: str | None, **settings: object) -> AsyncIterator[NetworkPool]:
    """A pool for the test, closed however the test ends."""
    pool = _pool(base_url, **settings)
    try:
        yield pool
    finally:
        await pool.aclose()


async def _call(pool: NetworkPool, request: UpstreamRequest, read_timeout: float | None = BOUND_S) -> bytes:
    """Open, read the whole body, close."""
    response = await pool.open(request, read_timeout)
    try:
        return await response.read()
    finally:
        await response.aclose()


async def _drain(response: OpenResponse) -> list[bytes]:
    return [piece async for piece in response.chunks()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """``{field: (filename, content type, payload)}`` of a ``multipart/form-data`` body."""
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart(), content_type
    parts: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.walk():
        if part is message:
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts[str(name)] = (part.get_filename(), part.get_content_type(), payload)
    return parts


MULTIPART = UpstreamRequest(
    "POST",
    "/audio/transcriptions",
    data={"model": "whisper-1", "language": "fr"},
    files={"file": ("clip.wav", b"RIFF\x00\x01binary\xff", "audio/wav")},
)


def _assert_multipart_arrived(content_type: str, body: bytes) -> None:
    assert content_type.startswith("multipart/form-data; boundary=")
    parts = _multipart(content_type, body)
    assert parts["file"] == ("clip.wav", "audio/wav", b"RIFF\x00\x01binary\xff")
    assert parts["model"][0] is None and parts["model"][2] == b"whisper-1"
    assert parts["language"][0] is None and parts["language"][2] == b"fr"


# -- NetworkPool: the request on the wire ----------------------------------------------------------


@pytest.mark.parametrize(
    ("base_suffix", "url"),
    [
        pytest.param("/v1", "/chat/completions", id="slash-url"),
        pytest.param("/v1/", "/chat/completions", id="base-trailing-slash"),
        pytest.param("/v1", "chat/completions", id="bare-url"),
    ],
)
async def test_relative_url_is_joined_to_the_base_url_path(base_suffix: str, url: str) -> None:
    async with RawServer() as server:
        async with _opened(server.url + base_suffix) as pool:
            assert await _call(pool, UpstreamRequest("POST", url, json={})) == b"ok"
    assert [e.path for e in server.exchanges] == ["/v1/chat/completions"]


async def test_absolute_url_is_kept() -> None:
    async with RawServer() as server:
        # Joined to this base, the call would go to a closed port and fail.
        async with _opened(f"http://127.0.0.1:{_free_port()}/v1") as pool:
            assert await _call(pool, UpstreamRequest("GET", server.url + "/elsewhere/files")) == b"ok"
    (exchange,) = server.exchanges
    assert (exchange.method, exchange.path) == ("GET", "/elsewhere/files")


async def test_default_and_request_headers_json_body_and_params_are_sent() -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "é ✓"}], "n": 1.5}
    request = UpstreamRequest(
        "POST",
        "/chat/completions",
        headers={"x-request": "r", "x-both": "request"},
        json=payload,
        params={"api-version": "2024-10-01", "q": "a b&c"},
    )
    async with RawServer() as server:
        async with _opened(server.url + "/v1", headers={"x-default": "d", "x-both": "default"}) as pool:
            await _call(pool, request)
    (exchange,) = server.exchanges
    assert exchange.method == "POST"
    assert exchange.path == "/v1/chat/completions"
    assert exchange.query == {"api-version": ["2024-10-01"], "q": ["a b&c"]}
    assert exchange.header("x-default") == ["d"]
    assert exchange.header("x-request") == ["r"]
    assert exchange.header("x-both") == ["request"], "a request header overrides the provider default"
    assert exchange.header("content-type") == ["application/json"]
    assert exchange.body == orjson.dumps(payload)
    assert orjson.loads(exchange.body) == payload


async def test_a_plugins_own_content_type_for_a_json_body_wins_in_any_spelling() -> None:
    request = UpstreamRequest("POST", "/x", headers={"Content-Type": "application/vnd.acme+json"}, json={"a": 1})
    async with RawServer() as server:
        async with _opened(server.url) as pool:
            await _call(pool, request)
    (exchange,) = server.exchanges
    assert exchange.header("content-type") == ["application/vnd.acme+json"]


async def test_raw_content_is_sent_as_is() -> None:
    request = UpstreamRequest("PUT", "/blob", headers={"content-type": "application/octet-stream"}, content=b"\x00\xff")
    async with RawServer() as server:
        async with _opened(server.url) as pool:
            await _call(pool, request)
    (exchange,) = server.exchanges
    assert (exchange.method, exchange.body) == ("PUT", b"\x00\xff")
    assert exchange.header("content-type") == ["application/octet-stream"]


async def test_files_and_data_arrive_as_a_multipart_form() -> None:
    async with RawServer() as server:
        async with _opened(server.url + "/v1") as pool:
            await _call(pool, MULTIPART)
    (exchange,) = server.exchanges
    assert exchange.path == "/v1/audio/transcriptions"
    (content_type,) = exchange.header("content-type")
    _assert_multipart_arrived(content_type, exchange.body)


# -- NetworkPool: the answer -------------------------------------------------------------------


async def test_status_lowercased_headers_and_body() -> None:
    async def respond(exchange: Exchange) -> None:
        headers = [("Content-Type", "application/json"), ("X-Request-ID", "up-1"), ("Retry-After", "7")]
        await exchange.send(http_response(429, b'{"error":"slow down"}', headers))

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            response = await pool.open(UpstreamRequest("GET", "/x"), BOUND_S)
            try:
                assert response.status == 429
                assert response.headers["content-type"] == "application/json"
                assert response.headers["x-request-id"] == "up-1"
                assert response.headers["retry-after"] == "7"
                assert all(name == name.lower() for name in response.headers)
                assert await response.read() == b'{"error":"slow down"}'
            finally:
                await response.aclose()


async def test_chunks_yields_each_piece_as_it_arrives() -> None:
    first_seen = asyncio.Event()

    async def respond(exchange: Exchange) -> None:
        await exchange.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        await exchange.send(chunk(b"data: one\n\n"))
        # The second piece is only sent once the client holds the first: a pool that waited for
        # more (or for the end) before yielding would time out here.
        await first_seen.wait()
        await exchange.send(chunk(b"data: two\n\n") + chunk(b""))

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            response = await pool.open(UpstreamRequest("POST", "/stream", json={}), None)
            pieces: list[bytes] = []
            try:
                async with asyncio.timeout(BOUND_S):
                    async for piece in response.chunks():
                        pieces.append(piece)
                        first_seen.set()
            finally:
                await response.aclose()
    assert pieces == [b"data: one\n\n", b"data: two\n\n"]


@pytest.mark.parametrize("consume", ["read", "chunks"])
async def test_sequential_calls_reuse_one_connection(consume: str) -> None:
    async with RawServer() as server:
        async with _opened(server.url) as pool:
            for _ in range(3):
                response = await pool.open(UpstreamRequest("POST", "/x", json={}), BOUND_S)
                body = await response.read() if consume == "read" else b"".join(await _drain(response))
                await response.aclose()
                assert body == b"ok"
    assert [e.connection for e in server.exchanges] == [0, 0, 0]
    assert server.connections == 1


async def test_a_cookie_set_by_the_upstream_is_never_sent_back() -> None:
    # Calls of different callers share the pool: nothing one call received may go out on another.
    async def respond(exchange: Exchange) -> None:
        await exchange.send(http_response(200, b"ok", [("Set-Cookie", "session=caller-a; Path=/")]))

    async with RawServer(respond) as server:
        # By name: a cookie jar would ignore cookies from a bare IP address anyway.
        async with _opened(f"http://localhost:{server.port}") as pool:
            for _ in range(2):
                assert await _call(pool, UpstreamRequest("POST", "/x", json={})) == b"ok"
    assert [exchange.header("cookie") for exchange in server.exchanges] == [[], []]


async def test_closing_an_unread_response_closes_its_connection() -> None:
    async def respond(exchange: Exchange) -> None:
        if exchange.path == "/partial":
            # The head and part of the body: the rest never comes, the connection stays open.
            await exchange.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst bytes")
        else:
            await _ok(exchange)

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            response = await pool.open(UpstreamRequest("GET", "/partial"), BOUND_S)
            assert response.status == 200
            await response.aclose()
            async with asyncio.timeout(BOUND_S):
                await server.closed[0].wait()  # the pool closed it: the server read EOF
            assert await _call(pool, UpstreamRequest("GET", "/next")) == b"ok"
    assert [(e.path, e.connection) for e in server.exchanges] == [("/partial", 0), ("/next", 1)]


# -- NetworkPool: failures are httpx exceptions ----------------------------------------------


async def test_connection_refused_is_connect_error() -> None:
    async with _opened(f"http://127.0.0.1:{_free_port()}") as pool:
        with pytest.raises(httpx.ConnectError) as raised:
            await pool.open(UpstreamRequest("GET", "/x"), BOUND_S)
    assert isinstance(raised.value.__cause__, aiohttp.ClientConnectorError)


async def test_no_base_url_and_a_relative_url_is_unsupported_protocol() -> None:
    async with _opened(None) as pool:
        with pytest.raises(httpx.UnsupportedProtocol):
            await pool.open(UpstreamRequest("GET", "/chat"), BOUND_S)


async def test_no_head_within_read_timeout_is_read_timeout() -> None:
    async def respond(exchange: Exchange) -> None:
        await exchange.until_client_leaves()

    async with RawServer(respond) as server:
        pool = _pool(server.url)
        started = time.monotonic()
        try:
            with pytest.raises(httpx.ReadTimeout):
                async with asyncio.timeout(1):  # without a read timeout: TimeoutError, not ReadTimeout
                    await pool.open(UpstreamRequest("POST", "/x", json={}), 0.1)
        finally:
            await pool.aclose()
    assert 0.09 < time.monotonic() - started < BOUND_S / 2
    assert len(server.exchanges) == 1, "the request was sent; only the answer was missing"


@pytest.mark.parametrize("consume", ["read", "chunks"])
async def test_body_stalling_past_read_timeout_is_read_timeout(consume: str) -> None:
    async def respond(exchange: Exchange) -> None:
        await exchange.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nsome")
        await exchange.until_client_leaves()

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            response = await pool.open(UpstreamRequest("GET", "/x"), 0.1)
            try:
                with pytest.raises(httpx.ReadTimeout):
                    async with asyncio.timeout(1):  # without a read timeout: TimeoutError, not ReadTimeout
                        await (response.read() if consume == "read" else _drain(response))
            finally:
                await response.aclose()


async def test_server_closing_before_the_head_is_remote_protocol_error() -> None:
    async def respond(exchange: Exchange) -> None:
        exchange.writer.close()

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            with pytest.raises(httpx.RemoteProtocolError) as raised:
                await pool.open(UpstreamRequest("POST", "/x", json={}), BOUND_S)
    assert isinstance(raised.value.__cause__, aiohttp.ServerDisconnectedError)


@pytest.mark.parametrize(
    "head_and_part",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part", id="content-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunk(b"only part"), id="chunked"),
    ],
)
@pytest.mark.parametrize("consume", ["read", "chunks"])
async def test_server_closing_mid_body_is_remote_protocol_error(head_and_part: bytes, consume: str) -> None:
    async def respond(exchange: Exchange) -> None:
        await exchange.send(head_and_part)
        exchange.writer.close()

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            response = await pool.open(UpstreamRequest("GET", "/x"), BOUND_S)
            try:
                with pytest.raises(httpx.RemoteProtocolError) as raised:
                    await (response.read() if consume == "read" else _drain(response))
            finally:
                await response.aclose()
    assert isinstance(raised.value.__cause__, aiohttp.ClientPayloadError)


async def test_a_reply_that_is_not_http_is_remote_protocol_error() -> None:
    async def respond(exchange: Exchange) -> None:
        await exchange.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await exchange.until_client_leaves()

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            with pytest.raises(httpx.RemoteProtocolError) as raised:
                await pool.open(UpstreamRequest("GET", "/x"), BOUND_S)
    assert isinstance(raised.value.__cause__, aiohttp.ClientResponseError)


async def test_connection_reset_before_the_head_is_read_error() -> None:
    async def respond(exchange: Exchange) -> None:
        exchange.reset()

    async with RawServer(respond) as server:
        async with _opened(server.url) as pool:
            with pytest.raises(httpx.ReadError):
                await pool.open(UpstreamRequest("GET", "/x"), BOUND_S)


# -- as_httpx_error: the mapping table -----------------------------------------------------------

_KEY = ConnectionKey("upstream.test", 443, True, True, None, None, None, None)
_URL = URL("https://upstream.test/v1/chat")
_REQUEST_INFO = aiohttp.RequestInfo(_URL, "POST", CIMultiDictProxy(CIMultiDict()), _URL)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout, id="connection-timeout"),
        pytest.param(
            aiohttp.ClientConnectorError(_KEY, ConnectionRefusedError(111, "no")), httpx.ConnectError, id="connector"
        ),
        pytest.param(
            aiohttp.ClientConnectorSSLError(_KEY, ssl.SSLError("bad")), httpx.ConnectError, id="connector-ssl"
        ),
        pytest.param(aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout, id="socket-timeout"),
        pytest.param(aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout, id="server-timeout"),
        pytest.param(TimeoutError(), httpx.ReadTimeout, id="timeout-error"),
        pytest.param(aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, id="server-disconnected"),
        pytest.param(aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError, id="payload"),
        pytest.param(
            aiohttp.ClientResponseError(_REQUEST_INFO, (), status=400), httpx.RemoteProtocolError, id="response"
        ),
        pytest.param(aiohttp.InvalidURL("/chat"), httpx.UnsupportedProtocol, id="invalid-url"),
        pytest.param(aiohttp.InvalidUrlClientError("/chat"), httpx.UnsupportedProtocol, id="invalid-url-client"),
        pytest.param(aiohttp.ClientOSError(104, "reset"), httpx.ReadError, id="os-error"),
        # No closer httpx class: the base, which gateway_map_error's fallback still handles.
        pytest.param(aiohttp.ClientConnectionResetError("closing"), httpx.WriteError, id="connection-reset"),
        pytest.param(aiohttp.ClientConnectionError("closed"), httpx.NetworkError, id="connection-error"),
    ],
)
def test_as_httpx_error_most_specific_class_wins(failure: BaseException, expected: type[httpx.TransportError]) -> None:
    mapped = as_httpx_error(failure)
    assert type(mapped) is expected
    assert str(mapped) == (str(failure) or type(failure).__name__)


def test_as_httpx_error_message_falls_back_to_the_class_name() -> None:
    assert str(as_httpx_error(TimeoutError())) == "TimeoutError"


# -- InProcessPool ---------------------------------------------------------------------------


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


async def test_in_process_pool_round_trip() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        return httpx.Response(201, headers={"X-Upstream": "yes"}, content=b'{"id":"1"}')

    pool = InProcessPool(httpx.MockTransport(handler), connect_timeout=BOUND_S)
    request = UpstreamRequest("POST", "/chat", headers={"x-key": "k"}, json={"a": "é"}, params={"q": "1"})
    try:
        response = await pool.open(request, BOUND_S)
        try:
            assert (response.status, response.headers["x-upstream"]) == (201, "yes")
            assert await response.read() == b'{"id":"1"}'
        finally:
            await response.aclose()
    finally:
        await pool.aclose()
    (sent,) = seen
    assert (sent.method, str(sent.url)) == ("POST", "http://local.invalid/chat?q=1")
    assert sent.headers["x-key"] == "k"
    assert sent.headers["content-type"] == "application/json"
    assert sent.content == orjson.dumps({"a": "é"})


async def test_in_process_pool_chunks_and_multipart() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        return httpx.Response(200, stream=_Pieces([b"data: one\n\n", b"data: two\n\n"]))

    pool = InProcessPool(httpx.MockTransport(handler), connect_timeout=BOUND_S)
    try:
        response = await pool.open(MULTIPART, None)
        try:
            assert await _drain(response) == [b"data: one\n\n", b"data: two\n\n"]
        finally:
            await response.aclose()
    finally:
        await pool.aclose()
    (sent,) = seen
    _assert_multipart_arrived(sent.headers["content-type"], sent.content)


async def test_pool_for_picks_in_process_only_with_a_transport() -> None:
    in_process = pool_for(ProviderSettings(), httpx.MockTransport(lambda request: httpx.Response(200)), 1.0)
    network = pool_for(ProviderSettings(base_url="http://127.0.0.1:1"), None, 1.0)
    try:
        assert isinstance(in_process, InProcessPool)
        assert isinstance(network, NetworkPool)
    finally:
        await in_process.aclose()
        await network.aclose()

"""The HTTP clients behind :mod:`gateway_core.transport`: one connection pool per provider instance.

Two kinds, one interface (:class:`UpstreamPool` opening :class:`OpenResponse` objects):

* :class:`NetworkPool`, for real upstreams, is an ``aiohttp`` session. It replaced pooled
  ``httpx.AsyncClient`` objects because the upstream exchange is most of the gateway's own CPU
  per call: against the bench's mock upstream on one core, a keep-alive POST costs ~0.7-0.9 ms
  of CPU with httpx (httpcore, h11 and anyio's socket streams) and ~0.1 ms with aiohttp (C
  HTTP parser, asyncio protocol), at 1 and at 64 calls in flight alike. ``bench/README.md``
  (`upstream_client.py`) has the measurement.
* :class:`InProcessPool`, for offline providers (``ProviderSpec.transport``, such as
  ``sandbox``), stays an ``httpx.AsyncClient`` over the provider's in-process transport, so
  such a provider still needs no socket.

Failures keep the public contract of ``gateway_map_error``: the exception a hook receives is
an ``httpx`` exception whichever pool made the call (:func:`as_httpx_error`), so third-party
mappings written against httpx's hierarchy keep working.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import aiohttp
import orjson

from gateway_core.types import ProviderSettings, UpstreamRequest

if TYPE_CHECKING:
    import httpx

__all__ = ["InProcessPool", "NetworkPool", "OpenResponse", "UpstreamPool", "as_httpx_error", "pool_for"]

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
# Idle keep-alive connections are closed after this long (the upstream may close them first).
_KEEPALIVE_S = 30.0


class OpenResponse(Protocol):
    """An upstream answer whose head has arrived; the body is read with :meth:`read` or
    :meth:`chunks`, and :meth:`aclose` must always be awaited."""

    status: int
    headers: dict[str, str]  # lowercase names

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class UpstreamPool(Protocol):
    """The connection pool of one provider instance."""

    async def open(self, request: UpstreamRequest, read_timeout: float | None) -> OpenResponse:
        """Send ``request`` and wait for the answer's head. ``read_timeout`` bounds each wait
        for bytes from the upstream (``None``: no bound). Transport failures raise
        ``httpx`` exceptions (:func:`as_httpx_error`)."""
        ...

    async def aclose(self) -> None: ...


def _body_and_headers(request: UpstreamRequest) -> tuple[bytes | None, dict[str, str]]:
    headers = dict(request.headers)
    if request.json is not None:
        # A plugin's own Content-Type (any spelling) wins, as it did with httpx.
        if not any(name.lower() == "content-type" for name in headers):
            headers["content-type"] = "application/json"
        return orjson.dumps(request.json), headers
    return request.content, headers


# -- aiohttp, for the network ------------------------------------------------------------------


class _NetworkResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise as_httpx_error(exc) from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._response.content.iter_any():
                yield data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise as_httpx_error(exc) from exc

    async def aclose(self) -> None:
        response = self._response
        # A body read to its end has already given the connection back to the pool; one left
        # unread (a client that went away mid-stream) cannot be reused, so it is closed.
        if response.content.is_eof():
            response.release()
        else:
            response.close()


class NetworkPool:
    """An ``aiohttp`` session for one provider instance: its ``base_url``, default headers and
    at most ``max_connections`` connections, kept alive between calls."""

    def __init__(self, settings: ProviderSettings, connect_timeout: float) -> None:
        self._base = (settings.base_url or "").rstrip("/")
        self._settings = settings
        self._connect_timeout = connect_timeout
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop, as aiohttp requires.
        connector = aiohttp.TCPConnector(
            limit=self._settings.max_connections, limit_per_host=0, keepalive_timeout=_KEEPALIVE_S
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers=dict(self._settings.headers),
            # One session serves every caller of the gateway: a cookie an upstream sets on one
            # caller's call must never ride along on another's.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._timeout(None),
            # Like httpx's default: honour HTTP(S)_PROXY. Only switched on when one is set,
            # because aiohttp then re-reads the environment on every request.
            trust_env=any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES),
        )

    def _timeout(self, read_timeout: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(read_timeout)
        if timeout is None:
            # ``connect`` (which would include waiting for a free pooled connection) stays
            # unbounded like httpx's pool timeout; only the socket connect is bounded.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout, sock_read=read_timeout)
            self._timeouts[read_timeout] = timeout
        return timeout

    def _url(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        return f"{self._base}/{url.lstrip('/')}"

    async def open(self, request: UpstreamRequest, read_timeout: float | None) -> OpenResponse:
        session = self._session
        if session is None:
            session = self._session = self._open_session()
        body, headers = _body_and_headers(request)
        data: bytes | aiohttp.FormData | None = body
        if request.files is not None:
            form = aiohttp.FormData()
            for name, value in (request.data or {}).items():
                form.add_field(name, value)
            for name, (filename, content, content_type) in request.files.items():
                form.add_field(name, content, filename=filename, content_type=content_type)
            data = form
        try:
            response = await session.request(
                request.method,
                self._url(request.url),
                data=data,
                params=dict(request.params) if request.params else None,
                headers=headers,
                timeout=self._timeout(read_timeout),
                allow_redirects=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise as_httpx_error(exc) from exc
        return _NetworkResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# -- httpx, for in-process transports ------------------------------------------------------------


class _InProcessResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def read(self) -> bytes:
        return await self._response.aread()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_raw()

    async def aclose(self) -> None:
        await self._response.aclose()


class InProcessPool:
    """An ``httpx.AsyncClient`` over an offline provider's in-process transport."""

    _BASE = "http://local.invalid"

    def __init__(self, transport: httpx.AsyncBaseTransport, connect_timeout: float) -> None:
        import httpx

        self._httpx = httpx
        self._connect_timeout = connect_timeout
        self._client = httpx.AsyncClient(
            transport=transport, base_url=self._BASE, timeout=httpx.Timeout(None, connect=connect_timeout)
        )

    async def open(self, request: UpstreamRequest, read_timeout: float | None) -> OpenResponse:
        content, headers = _body_and_headers(request)
        http_request = self._client.build_request(
            request.method,
            request.url,
            content=content if request.files is None else None,
            data=dict(request.data) if request.files is not None and request.data else None,
            files=dict(request.files) if request.files is not None else None,
            params=dict(request.params) if request.params else None,
            headers=headers,
            timeout=self._httpx.Timeout(read_timeout, connect=self._connect_timeout),
        )
        return _InProcessResponse(await self._client.send(http_request, stream=True))

    async def aclose(self) -> None:
        await self._client.aclose()


# -- failures ----------------------------------------------------------------------------------


def as_httpx_error(exc: BaseException) -> httpx.TransportError:
    """The ``httpx`` exception that stands for an ``aiohttp`` failure (``gateway_map_error``
    hooks receive httpx's hierarchy): most specific first, as aiohttp's classes overlap."""
    import httpx  # only on a failure: a healthy gateway never imports httpx for its calls

    message = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, TimeoutError | asyncio.TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientConnectionResetError):
        kind = httpx.WriteError  # writing to a connection that is closing
    elif isinstance(exc, aiohttp.ClientOSError):
        kind = httpx.ReadError
    elif isinstance(exc, aiohttp.ClientConnectionError):
        kind = httpx.NetworkError
    else:
        kind = httpx.TransportError
    return kind(message)


def pool_for(
    settings: ProviderSettings, transport: httpx.AsyncBaseTransport | None, connect_timeout: float
) -> UpstreamPool:
    """The pool for a provider instance: in-process when it has a local transport."""
    if transport is not None:
        return InProcessPool(transport, connect_timeout)
    return NetworkPool(settings, connect_timeout)

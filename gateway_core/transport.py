"""The core's side of every upstream exchange: pooled clients, sending, failure mapping, retries.

Pooled ``httpx.AsyncClient`` objects per provider instance, created at start-up and reused by
every call (connection pooling is most of the hot-path win). Plugins never see these clients.

Each provider gets :data:`POOL_SHARDS` clients that split its connection limit, used in turn:
httpcore's pool scans all of its connections and waiting requests on every request and
response (encode/httpx#3215), so one client with 64 calls in flight spends more CPU in that
scan than in the request itself; eight pools of eight keep each scan short.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import orjson

from gateway_core import timing
from gateway_core.errors import GatewayError, provider_error_to_gateway
from gateway_core.plugins import Provider
from gateway_core.types import ProviderCall, UpstreamRequest, UpstreamResponse

__all__ = ["MAX_ATTEMPTS", "POOL_SHARDS", "UpstreamClients", "UpstreamStream", "retry_before_first_byte"]

#: Attempts per call when the failure is retryable (spec/chat.md §7).
MAX_ATTEMPTS = 3
_BACKOFF = (0.1, 0.3)
_LOCAL_BASE = "http://local.invalid"
#: Clients (connection pools) per provider instance; see the module docstring.
POOL_SHARDS = 8
T = TypeVar("T")


class UpstreamClients:
    """The pooled HTTP client of each provider instance."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self._clients: dict[str, itertools.cycle[httpx.AsyncClient]] = {}
        self._all: list[httpx.AsyncClient] = []
        self._connect_timeout = connect_timeout

    def start(self, providers: list[Provider]) -> None:
        for provider in providers:
            self._clients[provider.name] = self._build(provider)

    def _build(self, provider: Provider) -> itertools.cycle[httpx.AsyncClient]:
        settings = provider.context.settings
        transport = provider.local_transport()
        # Per-request timeouts are set on each send; this default only bounds connecting.
        timeout = httpx.Timeout(None, connect=self._connect_timeout)
        if transport is not None:
            clients = [httpx.AsyncClient(transport=transport, base_url=_LOCAL_BASE, timeout=timeout)]
        else:
            shards = max(1, min(POOL_SHARDS, settings.max_connections))
            per_shard = -(-settings.max_connections // shards)  # ceil: the limit is kept, not cut
            limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard, keepalive_expiry=30.0)
            clients = [
                httpx.AsyncClient(
                    base_url=settings.base_url or "", headers=settings.headers, limits=limits, timeout=timeout
                )
                for _ in range(shards)
            ]
        self._all += clients
        return itertools.cycle(clients)

    def client(self, provider: Provider) -> httpx.AsyncClient:
        """The next of the provider's clients (round robin)."""
        clients = self._clients.get(provider.name)
        if clients is None:
            clients = self._clients[provider.name] = self._build(provider)
        return next(clients)

    async def aclose(self) -> None:
        clients, self._all, self._clients = self._all, [], {}
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    def _build_request(
        self, client: httpx.AsyncClient, request: UpstreamRequest, read_timeout: float | None
    ) -> httpx.Request:
        content = request.content
        headers = dict(request.headers)
        if request.json is not None:
            content = orjson.dumps(request.json)
            headers.setdefault("content-type", "application/json")
        timeout = httpx.Timeout(read_timeout, connect=self._connect_timeout)
        return client.build_request(
            request.method,
            request.url,
            content=content if request.files is None else None,
            data=dict(request.data) if request.files is not None and request.data else None,
            files=dict(request.files) if request.files is not None else None,
            params=dict(request.params) if request.params else None,
            headers=headers,
            timeout=timeout,
        )

    async def send(
        self, provider: Provider, call: ProviderCall | None, request: UpstreamRequest, *, read_timeout: float | None
    ) -> UpstreamResponse:
        """Send a non-stream request; a non-2xx answer or a transport failure raises the
        mapped, retry-classified :class:`GatewayError`."""
        client = self.client(provider)
        http_request = self._build_request(client, request, read_timeout)
        started = time.perf_counter_ns()
        try:
            # Streamed, then read whole (what ``send(stream=False)`` does), so the header
            # arrival can be timed apart from the body: Server-Timing ``upstream``.
            response = await client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        finally:
            timing.add("upstream", started)
        try:
            content = await response.aread()
        except httpx.HTTPError as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        finally:
            await response.aclose()
        headers = {k.lower(): v for k, v in response.headers.items()}
        if not 200 <= response.status_code < 300:
            raise _map(provider, call, response.status_code, content, headers, None)
        return UpstreamResponse(response.status_code, headers, content)

    async def open_stream(self, provider: Provider, call: ProviderCall, request: UpstreamRequest) -> UpstreamStream:
        """Start a streamed request. Its deadlines are the caller's: the first event within the
        upstream timeout, then at most the idle timeout between events (spec/chat.md §5.5, §7),
        which are frame-level and so cannot be socket read timeouts."""
        client = self.client(provider)
        try:
            response = await client.send(self._build_request(client, request, None), stream=True)
        except httpx.HTTPError as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        headers = {k.lower(): v for k, v in response.headers.items()}
        if not 200 <= response.status_code < 300:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            raise _map(provider, call, response.status_code, body, headers, None)
        return UpstreamStream(provider, call, response, headers)

    def map_failure(self, provider: Provider, call: ProviderCall | None, exc: BaseException) -> GatewayError:
        """Map a failure while reading a started stream."""
        return _map(provider, call, None, b"", {}, exc)


@dataclass
class UpstreamStream:
    """An open upstream stream; iterate :meth:`chunks`, always :meth:`aclose`."""

    provider: Provider
    call: ProviderCall
    response: httpx.Response
    headers: dict[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        return self.response.aiter_raw()

    async def aclose(self) -> None:
        await self.response.aclose()


def _map(
    provider: Provider,
    call: ProviderCall | None,
    status: int | None,
    body: bytes,
    headers: dict[str, str],
    exception: BaseException | None,
) -> GatewayError:
    error = provider.hooks.map_error(call, provider.context, status, body, headers, exception)
    return provider_error_to_gateway(error)


async def retry_before_first_byte(
    attempt: Callable[[int], Awaitable[T]], *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> tuple[T, int]:
    """Run ``attempt(n)`` up to :data:`MAX_ATTEMPTS` times while it fails retryably.

    Backoff before retry 1 is 100 ms, before retry 2 300 ms, each plus 0-50 ms of jitter
    (spec/chat.md §7). Callers only use this before any byte reached the client.

    :returns: the result and the number of attempts made.
    :raises GatewayError: the last failure, with ``attempts`` recorded on it.
    """
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt(number), number
        except GatewayError as exc:
            exc.attempts = number
            if not exc.retryable or number == MAX_ATTEMPTS:
                raise
        await sleep(_BACKOFF[number - 1] + random.uniform(0, 0.05))
    raise AssertionError("unreachable")

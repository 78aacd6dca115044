"""The core's side of every upstream exchange: pooled clients, sending, failure mapping, retries.

One connection pool per provider instance (:mod:`gateway_core.upstream_http`), created at
start-up and reused by every call. Plugins never see the pools: they describe requests
(:class:`~gateway_core.types.UpstreamRequest`) and read answers.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway_core import timing
from gateway_core.errors import GatewayError, provider_error_to_gateway
from gateway_core.plugins import Provider
from gateway_core.types import ProviderCall, UpstreamRequest, UpstreamResponse
from gateway_core.upstream_http import OpenResponse, UpstreamPool, pool_for

__all__ = ["MAX_ATTEMPTS", "UpstreamClients", "UpstreamStream", "retry_before_first_byte", "transport_errors"]

#: Attempts per call when the failure is retryable (spec/chat.md §7).
MAX_ATTEMPTS = 3
_BACKOFF = (0.1, 0.3)
T = TypeVar("T")


def transport_errors() -> tuple[type[Exception], ...]:
    """What a pool raises for a transport failure: ``httpx.HTTPError`` (upstream_http turns
    aiohttp's failures into those), for an ``except`` clause.

    Looked up rather than imported: a gateway without in-process providers only loads httpx
    (~3 MiB resident) once a call fails, and no httpx error can exist before httpx is loaded,
    so an empty tuple (which catches nothing) is then exact. An ``except`` expression is only
    evaluated when something is raised, so a successful call pays nothing for the look-up.
    """
    httpx = sys.modules.get("httpx")
    return () if httpx is None else (httpx.HTTPError,)


class UpstreamClients:
    """The connection pool of each provider instance (:mod:`gateway_core.upstream_http`)."""

    def __init__(self, connect_timeout: float = 10.0) -> None:
        self._pools: dict[str, UpstreamPool] = {}
        self._connect_timeout = connect_timeout

    def start(self, providers: list[Provider]) -> None:
        for provider in providers:
            # An in-process provider's pool (an httpx client: ~3 MiB of modules) is made on its
            # first call instead; a network pool costs nothing to make now and keeps the first call fast.
            if not provider.in_process:
                self.pool(provider)

    def pool(self, provider: Provider) -> UpstreamPool:
        pool = self._pools.get(provider.name)
        if pool is None:
            settings = provider.context.settings
            pool = self._pools[provider.name] = pool_for(settings, provider.local_transport(), self._connect_timeout)
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.aclose() for p in pools), return_exceptions=True)

    async def send(
        self, provider: Provider, call: ProviderCall | None, request: UpstreamRequest, *, read_timeout: float | None
    ) -> UpstreamResponse:
        """Send a non-stream request; a non-2xx answer or a transport failure raises the
        mapped, retry-classified :class:`GatewayError`."""
        started = time.perf_counter_ns()
        try:
            response = await self.pool(provider).open(request, read_timeout)
        except transport_errors() as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        finally:
            # Server-Timing ``upstream``: sending to the answer's head.
            timing.add("upstream", started)
        try:
            content = await response.read()
        except transport_errors() as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        finally:
            await response.aclose()
        if not 200 <= response.status < 300:
            raise _map(provider, call, response.status, content, response.headers, None)
        return UpstreamResponse(response.status, response.headers, content)

    async def open_stream(self, provider: Provider, call: ProviderCall, request: UpstreamRequest) -> UpstreamStream:
        """Start a streamed request. Its deadlines are the caller's: the first event within the
        upstream timeout, then at most the idle timeout between events (spec/chat.md §5.5, §7),
        which are frame-level and so cannot be socket read timeouts."""
        try:
            response = await self.pool(provider).open(request, None)
        except transport_errors() as exc:
            raise _map(provider, call, None, b"", {}, exc) from exc
        if not 200 <= response.status < 300:
            try:
                body = await response.read()
            except transport_errors():
                body = b""
            finally:
                await response.aclose()
            raise _map(provider, call, response.status, body, response.headers, None)
        return UpstreamStream(provider, call, response, response.headers)

    def map_failure(self, provider: Provider, call: ProviderCall | None, exc: BaseException) -> GatewayError:
        """Map a failure while reading a started stream."""
        return _map(provider, call, None, b"", {}, exc)


@dataclass
class UpstreamStream:
    """An open upstream stream; iterate :meth:`chunks`, always :meth:`aclose`."""

    provider: Provider
    call: ProviderCall
    response: OpenResponse
    headers: dict[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        return self.response.chunks()

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

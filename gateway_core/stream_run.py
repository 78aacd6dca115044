"""One streamed call, from opening the upstream to settling: the streaming half of the pipeline.

:class:`EventStream` opens the upstream with retries until the first canonical event exists
(so a failing upstream still gets a plain JSON error and the client sees no partial stream),
then yields events as the decoder produces them, never holding one back. It tracks what was
delivered so the call can be metered however it ends: completed, failed, or abandoned by the
client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import TYPE_CHECKING

from gateway_core import timing
from gateway_core.accumulate import OutputAccumulator, output_events
from gateway_core.errors import GatewayError, ProviderError, provider_error_to_gateway
from gateway_core.payments import Receipt
from gateway_core.pipeline import untranslatable
from gateway_core.streaming import iter_frame_batches
from gateway_core.transport import UpstreamStream, retry_before_first_byte, transport_errors
from gateway_core.types import Done, StreamDecoder, StreamEvent, UpstreamFrame, UpstreamRequest, Usage

if TYPE_CHECKING:
    from gateway_core.pipeline import CallPlan, Pipeline

__all__ = ["EventStream"]


class EventStream:
    """Iterate the canonical events of a started stream; then :meth:`finish`, :meth:`fail`
    or :meth:`disconnected` exactly once."""

    def __init__(self, pipeline: Pipeline, plan: CallPlan) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self.accumulated = OutputAccumulator()
        self.usage: Usage | None = None
        self.usage_source = "estimated"
        self._pending: list[StreamEvent] = []
        self._upstream: UpstreamStream | None = None
        self._batches: AsyncGenerator[list[UpstreamFrame], None] | None = None
        self._decoder: StreamDecoder | None = None
        self._failure: Exception | None = None  # decoded after the first events of their read

    @property
    def attempts(self) -> int:
        return self.plan.attempts

    async def start(self) -> None:
        """Open the upstream and read until the first event, retrying retryable failures."""
        plan, pipeline = self.plan, self.pipeline
        if not plan.call.stream:
            # The provider cannot stream this operation: run it whole, emit it as events.
            self._pending = output_events(await pipeline.run(plan))
            return
        settings = pipeline.runtime.settings

        async def attempt(_number: int) -> None:
            started = time.perf_counter_ns()
            try:
                await self._open(upstream_request)
            finally:
                # Server-Timing ``upstream`` of a stream: sending to the first canonical event.
                timing.add("upstream", started)

        async with pipeline.released_on_failure(plan):
            upstream_request = await pipeline.build_upstream_request(plan)
            upstream_request.stream = True
            async with asyncio.timeout(settings.upstream_timeout):
                _, plan.attempts = await retry_before_first_byte(attempt)

    async def _open(self, upstream_request: UpstreamRequest) -> None:
        """One attempt: open the upstream and read until its first event."""
        plan = self.plan
        stream = await self.pipeline.runtime.clients.open_stream(plan.provider, plan.call, upstream_request)
        try:
            decoder = plan.provider.hooks.stream_decoder(plan.call, plan.provider.context, stream.headers)
            if decoder is None:
                raise GatewayError(502, "upstream_error", "Provider stream could not be translated")
            batches = iter_frame_batches(stream.chunks(), upstream_request.stream_format)
            first, self._failure = await self._first_events(decoder, batches)
        except BaseException as exc:
            await stream.aclose()
            raise self._mapped(exc) from exc
        self._upstream, self._batches, self._decoder, self._pending = stream, batches, decoder, first

    @staticmethod
    async def _first_events(
        decoder: StreamDecoder, batches: AsyncIterator[list[UpstreamFrame]]
    ) -> tuple[list[StreamEvent], Exception | None]:
        """The events of the first read that has any, and the failure that came after them in
        that read (raised once they are delivered, as a mid-stream failure)."""
        async for frames in batches:
            events, failure = _decode(decoder, frames)
            if events:
                return events, failure
            if failure is not None:
                raise failure
        return list(decoder.close()), None

    def _mapped(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ProviderError):
            return provider_error_to_gateway(exc)
        if isinstance(exc, transport_errors()):
            return self.pipeline.runtime.clients.map_failure(self.plan.provider, self.plan.call, exc)
        if isinstance(exc, Exception) and not isinstance(exc, GatewayError):
            return untranslatable(self.plan, exc)  # a decoder choked on what the upstream sent
        return exc

    def _take(self, events: Iterable[StreamEvent]) -> tuple[list[StreamEvent], bool]:
        """``events`` up to and including a :class:`Done`, recorded as delivered; and whether
        the Done was among them."""
        out = []
        for event in events:
            self.accumulated.add(event)
            out.append(event)
            if type(event) is Done:
                return out, True
        return out, False

    async def batches(self) -> AsyncGenerator[list[StreamEvent], None]:
        """Events in arrival order, grouped by the upstream read that carried them (never an
        empty group); the last event is always a :class:`Done`. Routes answer a group with
        one write: what arrived together leaves together, nothing waits for more."""
        try:
            batch, done = self._take(self._pending)
            self._pending = []
            if batch:
                yield batch
            if done or self._batches is None or self._decoder is None:
                return
            if self._failure is not None:
                raise self._failure
            decoder = self._decoder
            while (frames := await self._next_frames(self._batches)) is not None:
                events, failure = _decode(decoder, frames)
                batch, done = self._take(events)
                if batch:
                    yield batch
                if done:
                    return
                if failure is not None:
                    raise failure
            batch, done = self._take(decoder.close())
            if batch:
                yield batch
            if not done:
                yield self._take([Done()])[0]
        except GatewayError:
            raise
        except Exception as exc:
            raise self._mapped(exc) from exc
        finally:
            await self.aclose()

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        """Events in arrival order, one at a time (:meth:`batches`, ungrouped)."""
        batches = self.batches()
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def _next_frames(self, batches: AsyncIterator[list[UpstreamFrame]]) -> list[UpstreamFrame] | None:
        """The frames of the next upstream read, or ``None`` at the end; at most the idle
        timeout apart. The timeout wraps only the read, never a ``yield``, so a slow client is
        not an idle upstream."""
        idle = self.pipeline.runtime.settings.stream_idle_timeout
        try:
            async with asyncio.timeout(idle):
                return await anext(batches)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise GatewayError(
                504, "upstream_timeout", f"upstream_timeout: no upstream event within {int(idle * 1000)}ms"
            ) from None

    async def aclose(self) -> None:
        """Close the upstream connection (idempotent)."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await upstream.aclose()

    def final_usage(self) -> tuple[Usage, str]:
        """Usage of what the stream produced: the provider's, completed by estimation."""
        usage, source = self.pipeline.usage_of(self.plan, self.accumulated.output())
        self.usage, self.usage_source = usage, source
        return usage, source

    async def finish(self) -> Receipt | None:
        """The stream completed: settle its metered usage."""
        if self.usage is None:
            self.final_usage()
        assert self.usage is not None
        return await self.pipeline.settle(self.plan, self.usage, self.usage_source)

    async def fail(self) -> None:
        """The stream failed after it started: nothing is charged."""
        await self.aclose()
        await self.pipeline.release(self.plan)

    async def disconnected(self) -> Receipt | None:
        """The client left (or the run was cancelled): close the upstream, settle what was
        delivered, or release when nothing was (spec/chat.md §5.6). The receipt of a settlement;
        :attr:`usage` is then what was billed."""
        await self.aclose()
        if self.accumulated.has_content:
            usage, source = self.final_usage()
            return await self.pipeline.settle(self.plan, usage, source)
        await self.pipeline.release(self.plan)
        return None


def _decode(decoder: StreamDecoder, frames: list[UpstreamFrame]) -> tuple[list[StreamEvent], Exception | None]:
    """The events of one read's frames, and the failure that stopped decoding, if any: the
    events before it are still delivered (the client sees the text, then the error)."""
    events: list[StreamEvent] = []
    try:
        for frame in frames:
            events.extend(decoder.feed(frame))
    except Exception as exc:  # noqa: BLE001 - re-raised by the caller once the events are out
        return events, exc
    return events, None

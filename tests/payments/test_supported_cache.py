"""The facilitator's ``/supported`` is read in the background and retried until it answers
(spec/payments.md §6.10: until read, raw x402 answers 503)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from x402.schemas import SupportedResponse

from gateway_core.payments.service import _SupportedCache
from gateway_core.payments.x402.errors import FacilitatorUnavailable

SUPPORTED = SupportedResponse(kinds=[], extensions=[], signers={})


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def supported(self) -> SupportedResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise FacilitatorUnavailable("down")
        return SUPPORTED

    async def verify(self, *args: Any) -> Any: ...

    async def settle(self, *args: Any) -> Any: ...


def test_a_facilitator_down_at_start_up_is_read_once_it_answers() -> None:
    async def scenario() -> None:
        facilitator = Flaky(failures=2)
        cache = _SupportedCache(facilitator)  # type: ignore[arg-type]
        await cache.refresh()  # start-up: down
        for _ in range(2):
            with pytest.raises(FacilitatorUnavailable):
                cache.get()  # 503 for this request, a retry in the background
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert cache.get() is SUPPORTED
        assert facilitator.calls == 3

    asyncio.run(scenario())


def test_concurrent_requests_start_one_refresh() -> None:
    async def scenario() -> None:
        facilitator = Flaky(failures=1)
        cache = _SupportedCache(facilitator)  # type: ignore[arg-type]
        for _ in range(10):
            with pytest.raises(FacilitatorUnavailable):
                cache.get()
        await asyncio.sleep(0.01)
        assert facilitator.calls == 1  # ten requests, one /supported call in flight

    asyncio.run(scenario())

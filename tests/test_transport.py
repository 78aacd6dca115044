"""Retries before the first byte (spec/chat.md §7)."""

from __future__ import annotations

import asyncio

import pytest

from gateway_core.errors import GatewayError
from gateway_core.transport import MAX_ATTEMPTS, retry_before_first_byte


def _run(failures: list[GatewayError]) -> tuple[object, int, list[float]]:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def attempt(number: int) -> str:
        if failures:
            raise failures.pop(0)
        return f"ok on {number}"

    async def main() -> tuple[object, int]:
        return await retry_before_first_byte(attempt, sleep=sleep)

    result, attempts = asyncio.run(main())
    return result, attempts, sleeps


def test_retryable_failures_are_retried_with_backoff() -> None:
    retryable = [GatewayError(502, "upstream_error", "x", retryable=True) for _ in range(2)]
    result, attempts, sleeps = _run(retryable)
    assert (result, attempts) == ("ok on 3", 3)
    assert 0.1 <= sleeps[0] <= 0.15 and 0.3 <= sleeps[1] <= 0.35


def test_gives_up_after_max_attempts_and_records_them() -> None:
    with pytest.raises(GatewayError) as raised:
        _run([GatewayError(429, "rate_limit_exceeded", "x", retryable=True) for _ in range(MAX_ATTEMPTS)])
    assert raised.value.attempts == MAX_ATTEMPTS == 3


def test_non_retryable_is_not_retried() -> None:
    with pytest.raises(GatewayError) as raised:
        _run([GatewayError(400, "invalid_request", "x")])
    assert raised.value.attempts == 1

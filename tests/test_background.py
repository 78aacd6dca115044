"""The background task registry: one cancel per run, the first reason wins, shutdown waits."""

from __future__ import annotations

import asyncio

import pytest

from gateway_core.background import BackgroundRuns

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_cancel_reaches_a_run_once_with_the_first_reason() -> None:
    runs = BackgroundRuns()
    stops: list[str | None] = []

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stops.append(runs.reason("r1"))
            # Winding down must not be interrupted by a second cancel.
            await asyncio.sleep(0.05)
            stops.append("wound down")

    task = runs.start("r1", work())
    await asyncio.sleep(0)
    assert len(runs) == 1
    assert runs.cancel("r1", "cancelled") is True
    await asyncio.sleep(0)
    assert runs.cancel("r1", "shutdown") is True  # still running: acknowledged, not re-cancelled
    await task
    assert stops == ["cancelled", "wound down"]
    assert len(runs) == 0 and runs.reason("r1") is None
    assert runs.cancel("r1") is False  # finished runs are forgotten


async def test_stop_cancels_every_run_as_shutdown_and_waits() -> None:
    runs = BackgroundRuns()
    reasons: list[str | None] = []

    async def work(run_id: str) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            reasons.append(runs.reason(run_id))

    for run_id in ("a", "b"):
        runs.start(run_id, work(run_id))
    await asyncio.sleep(0)
    await runs.stop(grace=1)
    assert reasons == ["shutdown", "shutdown"] and len(runs) == 0

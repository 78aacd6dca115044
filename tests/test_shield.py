""":func:`gateway_core.shield.shield_now`: no task when the work finishes at once, and
``asyncio.shield``'s guarantees when it suspends."""

from __future__ import annotations

import asyncio

import pytest

from gateway_core.shield import shield_now


async def _where_it_ran() -> asyncio.Task[object] | None:
    return asyncio.current_task()


def test_work_that_never_suspends_runs_in_the_callers_task() -> None:
    async def caller() -> tuple[object, object]:
        return asyncio.current_task(), await shield_now(_where_it_ran())

    mine, theirs = asyncio.run(caller())
    assert theirs is mine  # asyncio.shield would have run it in a task of its own


def test_an_error_before_any_suspension_is_raised_to_the_caller() -> None:
    async def failing() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        asyncio.run(shield_now(failing()))


@pytest.mark.parametrize("pause", [pytest.param(0, id="bare-yield"), pytest.param(0.01, id="future")])
def test_work_that_suspends_finishes_with_its_result(pause: float) -> None:
    async def work() -> str:
        await asyncio.sleep(pause)
        await asyncio.sleep(pause)
        return "done"

    assert asyncio.run(shield_now(work())) == "done"


def test_an_error_after_a_suspension_is_raised_to_the_caller() -> None:
    async def work() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("late")

    with pytest.raises(ValueError, match="late"):
        asyncio.run(shield_now(work()))


def test_a_failed_future_is_thrown_into_the_work() -> None:
    async def work() -> str:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.001, future.set_exception, KeyError("gone"))
        try:
            await future
        except KeyError:
            return "handled"
        return "not raised"

    assert asyncio.run(shield_now(work())) == "handled"


def test_cancelling_the_caller_does_not_cancel_suspended_work() -> None:
    finished: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.02)
        finished.append("settled")

    async def main() -> None:
        caller = asyncio.ensure_future(shield_now(work()))
        await asyncio.sleep(0.005)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert finished == []
        await asyncio.sleep(0.05)
        assert finished == ["settled"]

    asyncio.run(main())

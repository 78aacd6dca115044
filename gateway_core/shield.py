"""``asyncio.shield`` for work that usually finishes without suspending.

A paid call's settlement must run to its end even when the client leaves meanwhile (a charge
rolled back half-way, or a hold left for the sweeper, would be wrong either way), so it is
shielded. ``asyncio.shield`` runs the coroutine as a task of its own: on a SQLite store, where
the settlement finishes without ever suspending, that task only costs its creation and three
turns of the event loop before the caller resumes (the task's first step, its completion
callback, the caller's wake-up): under load, three waits behind every other ready callback.

:func:`shield_now` starts the coroutine in the caller instead. Until it first suspends nothing
can cancel it (cancellation is only delivered at a suspension point); if it finishes there, its
result is returned with no task at all. If it suspends (a PostgreSQL round trip), the rest of it
runs as a task, shielded as ``asyncio.shield`` would: the caller's cancellation is raised in
the caller, the task carries on.

So the work must not hold anything bound to its task across a suspension: an anyio cancel
scope (an HTTP client's request) or ``asyncio.timeout`` entered in the caller's task and left
in the new one fails. Callers use it only for work they know (a payment gate says so with
``PaymentGate.settles_in_place``), and ``asyncio.shield`` for the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["shield_now"]

T = TypeVar("T")


class _Continue(Awaitable[T]):
    """Awaiting it carries on a coroutine that was started outside any task and suspended on
    ``first`` (what it yielded: a future, or None for a bare yield to the loop)."""

    __slots__ = ("_coroutine", "_first")

    def __init__(self, coroutine: Coroutine[Any, Any, T], first: Any) -> None:
        self._coroutine = coroutine
        self._first = first

    def __await__(self) -> Generator[Any, Any, T]:
        coroutine, yielded = self._coroutine, self._first
        while True:
            # Handed to the task driving this: it waits on it exactly as if the coroutine had
            # yielded it to that task in the first place.
            try:
                sent = yield yielded
            except GeneratorExit:  # closed unfinished (its task was garbage-collected)
                coroutine.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - what the task throws in: the future's error, a cancellation
                try:
                    yielded = coroutine.throw(exc)
                except StopIteration as finished:
                    return finished.value  # type: ignore[no-any-return]
            else:
                try:
                    yielded = coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value  # type: ignore[no-any-return]


async def _rest(continuation: _Continue[T]) -> T:
    return await continuation


async def shield_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """``await asyncio.shield(coroutine)``, with no task unless the coroutine suspends."""
    try:
        first = coroutine.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    return await asyncio.shield(_rest(_Continue(coroutine, first)))

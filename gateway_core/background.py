"""Work that outlives the request that started it (background responses).

:class:`BackgroundRuns` keeps a strong reference to every running task (an unreferenced
asyncio task can be garbage-collected mid-run), lets a later request of the same process stop
one by id, and stops them all when the gateway shuts down. Each task learns why it was stopped
from :meth:`BackgroundRuns.reason`, so it can record ``cancelled`` (a client asked) apart from
an interrupted run (the gateway is stopping).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal

__all__ = ["BackgroundRuns", "StopReason"]

log = logging.getLogger("gateway")

#: Why a run was stopped: a client's cancel request, or the gateway shutting down.
StopReason = Literal["cancelled", "shutdown"]


class BackgroundRuns:
    """The background tasks of one process, by id."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._reasons: dict[str, StopReason] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, run_id: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` in its own task, known as ``run_id`` until it ends."""
        task = asyncio.create_task(work, name=f"gateway-background-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda done: self._finished(run_id, done))
        return task

    def _finished(self, run_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)
        self._reasons.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("background run %s failed", run_id, exc_info=task.exception())

    def reason(self, run_id: str) -> StopReason | None:
        """Why ``run_id`` was asked to stop; ``None`` while nobody asked."""
        return self._reasons.get(run_id)

    def cancel(self, run_id: str, reason: StopReason = "cancelled") -> bool:
        """Ask ``run_id`` to stop (the first reason given wins); False when this process does
        not run it."""
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        if run_id not in self._reasons:
            # Once only: a second cancel would interrupt the run while it winds down (settles
            # what it delivered, writes its record).
            self._reasons[run_id] = reason
            task.cancel()
        return True

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every run and wait up to ``grace`` seconds for them to record how they ended."""
        tasks = list(self._tasks.items())
        for run_id, _ in tasks:
            self.cancel(run_id, "shutdown")
        if tasks:
            await asyncio.wait([task for _, task in tasks], timeout=grace)

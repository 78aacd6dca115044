"""Waiting, in tests, for something another process or task does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Call ``probe()`` every ``interval`` seconds until it returns something other than
    ``None``, and return that; :class:`TimeoutError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached within {timeout} s")
        time.sleep(interval)
    return value

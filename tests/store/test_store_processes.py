"""Real processes sharing one store: holds from several OS processes, and a SQLite writer
that waits for another process's write lock instead of failing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from store_helpers import NOW, Target, make_key

from gateway_core.store import Store

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("store_worker.py")


@pytest.mark.slow
async def test_holds_from_several_processes_never_exceed_the_budget(tmp_path: Path) -> None:
    # SQLite only: there the processes share nothing but the file and its locks. (PostgreSQL
    # sees each Store's pool as separate sessions anyway; see the two-store tests.)
    target = Target("sqlite", f"sqlite:///{tmp_path / 'gateway.db'}")
    store = await target.open(migrate=True)
    await store.create_key(make_key("k1", limit=2000))
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            target.url,
            "-",
            "k1",
            "40",
            str(seed),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for seed in range(2)
    ]

    async def here(i: int) -> int:
        outcome = await store.hold("k1", 30, 1, f"req_{i}", NOW)
        return 0 if outcome.hold is None else outcome.hold.amount

    try:
        for worker in workers:
            assert worker.stdout is not None
            ready = await worker.stdout.readline()
            assert ready == b"ready\n", (await worker.communicate())[1].decode()
        for worker in workers:  # everybody starts holding at once
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        granted = list(await asyncio.gather(*(here(i) for i in range(40))))
        for worker in workers:
            out, err = await worker.communicate()
            assert worker.returncode == 0, err.decode()
            granted += json.loads(out.splitlines()[-1])
        key = await store.get_key("k1")
        assert key is not None
        # 120 holds of 20-60 want more than 2000: every unit is granted once, never more.
        assert sum(granted) == key.budget_reserved == 2000
        assert await store.release_stale_holds(NOW + 1) == sum(1 for g in granted if g)
    finally:
        await store.close()


async def test_sqlite_writer_waits_for_another_process_lock(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = await Store.open(f"sqlite:///{path}")
    await store.create_key(make_key("k1", limit=100))
    locked, release = threading.Event(), threading.Event()

    def other_connection() -> None:
        # A separate sqlite3 connection takes the file lock exactly as another process would.
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(5)
        raw.execute("COMMIT")
        raw.close()

    holder = threading.Thread(target=other_connection)
    holder.start()
    try:
        assert await asyncio.to_thread(locked.wait, 5)
        started = time.monotonic()
        threading.Timer(0.3, release.set).start()
        outcome = await store.hold("k1", 10, 1, "req_1", NOW)
        assert outcome.hold is not None
        assert time.monotonic() - started >= 0.25  # it waited for the lock rather than failing
    finally:
        release.set()
        holder.join()
        await store.close()

"""A separate process for the multi-process store tests: holds on one key, prints the grants.

Usage: ``python store_worker.py <url> <schema or -> <key id> <count> <seed>``. It prints
``ready`` once connected and starts when a line arrives on stdin, so all processes hold at
the same time; the last line it prints is the JSON list of granted amounts.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from gateway_core.store import Store


async def main(url: str, schema: str | None, key_id: str, count: int, seed: int) -> list[int]:
    store = await Store.open(url, migrate=False, schema=schema)
    rng = random.Random(seed)
    try:
        await store.ping()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.readline)

        async def one(i: int) -> int:
            wanted = rng.randint(20, 60)
            outcome = await store.hold(key_id, wanted, 1, f"req_{seed}_{i}", 1_767_225_600_000)
            return 0 if outcome.hold is None else outcome.hold.amount

        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        await store.close()


if __name__ == "__main__":
    url, schema, key_id, count, seed = sys.argv[1:6]
    grants = asyncio.run(main(url, None if schema == "-" else schema, key_id, int(count), int(seed)))
    sys.stdout.write(json.dumps(grants) + "\n")

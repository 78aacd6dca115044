"""The upstream HTTP client alone: CPU per call of httpx and aiohttp against the bench's mock.

    .venv/bin/python bench/upstream_client.py [--calls 5000] [--concurrency 1 64]

Why the gateway's upstream pool is aiohttp (``gateway_core/upstream_http.py``): each client
sends ``--calls`` keep-alive ``POST /v1/chat/completions`` (the bench's non-stream request) to
``bench/mock_server.py`` and reads each answer whole, ``C`` calls in flight, on uvloop; the
client process is pinned to CPU 0 and the mock to CPU 1 (when the machine has two). Reported:
the client process's CPU time per call and calls per second. httpx gets what the gateway gave
it before: eight ``AsyncClient`` pools of eight connections (httpcore scans its whole pool on
every request, encode/httpx#3215); aiohttp one session with a 256-connection connector.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from procs import LOAD_CPU, PROXY_CPU, pinning_possible, start_mock, stop

BODY = orjson.dumps({"model": "mock-c50", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64})
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}
WARMUP = 200


async def _closed_loop(call: Callable[[], Awaitable[None]], calls: int, concurrency: int) -> tuple[float, float]:
    for _ in range(WARMUP):
        await call()
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu) / calls, calls / (time.perf_counter() - wall)


async def _httpx(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    import httpx

    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    clients = [httpx.AsyncClient(limits=limits) for _ in range(8)]
    turn = 0

    async def call() -> None:
        nonlocal turn
        turn += 1
        client = clients[turn % len(clients)]
        response = await client.send(client.build_request("POST", url, content=BODY, headers=HEADERS), stream=True)
        await response.aread()
        await response.aclose()
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")

    try:
        return await _closed_loop(call, calls, concurrency)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _aiohttp(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, limit_per_host=0))

    async def call() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")

    try:
        return await _closed_loop(call, calls, concurrency)
    finally:
        await session.close()


CLIENTS = {"httpx": _httpx, "aiohttp": _aiohttp}


def _one(client: str, url: str, calls: int, concurrency: int) -> None:
    """Child process: one client, one concurrency; prints CPU µs per call and calls/s."""
    import uvloop

    per_call, rate = uvloop.run(CLIENTS[client](url, calls, concurrency))
    print(orjson.dumps({"cpu_us": per_call * 1e6, "rate": rate}).decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/upstream_client.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--child", nargs=3, metavar=("CLIENT", "URL", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _one(args.child[0], args.child[1], args.calls, int(args.child[2]))
        return 0
    pinning = pinning_possible({PROXY_CPU, LOAD_CPU})
    with tempfile.TemporaryDirectory(prefix="gateway-client-") as tmp, open(Path(tmp) / "mock.log", "wb") as log:
        mock, port = start_mock({LOAD_CPU} if pinning else None, log, 15.0)
        try:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            print("| client | in flight | CPU per call (µs) | calls/s |\n|---|---:|---:|---:|")
            for concurrency in args.concurrency:
                for client in CLIENTS:
                    command = [sys.executable, __file__, "--calls", str(args.calls)]
                    command += ["--child", client, url, str(concurrency)]
                    if pinning:
                        command = ["taskset", "-c", str(PROXY_CPU), *command]
                    out = subprocess.run(command, capture_output=True, check=True, timeout=600, env=os.environ)
                    result = orjson.loads(out.stdout.splitlines()[-1])
                    print(f"| {client} | {concurrency} | {result['cpu_us']:.0f} | {result['rate']:.0f} |")
        finally:
            stop(mock)
    return 0


if __name__ == "__main__":
    sys.exit(main())

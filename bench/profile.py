"""The gateway alone under the bench's load, for working on its speed: quick figures and a profile.

    .venv/bin/python bench/profile.py [--seconds 10] [--requests 500] [--py-spy FILE] [--hold]

Starts the mock upstream and the gateway exactly as :mod:`compare` does (same catalog, Compose
Key, pinning), then measures: non-stream latency at one connection (p50, p99), non-stream
throughput with wrk at ``--concurrency`` connections, the gateway's CPU per request during that
run, stream time to first chunk at one connection, and the median of each ``Server-Timing``
metric over the sequential requests. Every answer is checked, as in the comparison.

``--py-spy FILE`` records the gateway during the wrk run (``py-spy record --gil``; ``.svg`` is a
flame graph, ``.txt`` the collapsed stacks, anything else speedscope JSON). ``--hold`` keeps
both servers running after the measurements and prints a ``curl`` line until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from load import Sample, Tally, Workload
from measure import FAST, Plan, percentile, throughput, warm_up
from procs import (
    LOAD_CPU,
    PROXY_CPU,
    cpu_seconds,
    pinned,
    pinning_possible,
    rss_kib,
    start_mock,
    stop,
    stop_servers_on_sigterm,
)
from servers import start_gateway
from wrk import find_wrk

MOCK_STARTUP_S = 15.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/profile.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk run length (10)")
    parser.add_argument("--requests", type=int, default=500, help="sequential requests for latency (500)")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--py-spy", type=Path, help="record the gateway during the wrk run into FILE")
    parser.add_argument("--streams", type=int, default=32, help="connections for the stream throughput run (32)")
    parser.add_argument("--profile-streams", action="store_true", help="record the stream run instead of wrk")
    parser.add_argument("--hold", action="store_true", help="keep the servers up afterwards, until Ctrl-C")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway workers (1); more than one spreads it over the CPUs"
    )
    return parser.parse_args(argv)


def _server_timing(header: str) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                metrics[name] = float(value)
    return metrics


async def _sequential(workload: Workload, count: int) -> tuple[list[float], dict[str, list[float]]]:
    """``count`` requests one after another on one connection: latencies and Server-Timing."""
    latencies: list[float] = []
    timings: dict[str, list[float]] = defaultdict(list)
    connection = await workload.connect()
    try:
        for _ in range(count):
            request, expected = workload.make()
            exchange = await connection.request(request, 30.0)
            sample = Sample()
            workload.check(exchange, expected, sample)
            latencies.extend(sample.latencies)
            for name, value in _server_timing(exchange.headers.get("server-timing", "")).items():
                timings[name].append(value)
    finally:
        connection.close()
    return latencies, timings


async def _measure(args: argparse.Namespace, plan: Plan, workload: Workload, pid: int) -> None:
    tally = workload.tally
    await warm_up(workload.target, tally, plan)
    latencies, timings = await _sequential(workload, args.requests)
    print(f"non-stream c=1: p50 {percentile(latencies, 50) * 1e3:.3f} ms, p99 {percentile(latencies, 99) * 1e3:.3f} ms")
    print("Server-Timing medians (ms): " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in timings.items()))
    print("Server-Timing p99 (ms): " + ", ".join(f"{k} {percentile(v, 99):.3f}" for k, v in timings.items()))
    spy = None
    if args.py_spy is not None and not args.profile_streams:
        spy = _start_py_spy(args.py_spy, pid, args.seconds)
    before = cpu_seconds(pid)
    rate, errors, answered = await throughput(workload.target, tally, plan, args.seconds)
    cpu = cpu_seconds(pid) - before
    per_request = cpu / max(answered, 1) * 1e3
    print(f"non-stream c={args.concurrency}: {rate:.0f} req/s, {errors} errors, CPU {per_request:.3f} ms/request")
    if spy is not None:
        spy.wait()
        print(f"profile written to {args.py_spy}")
    stream = Workload(workload.target, FAST, True, tally)
    sample = await stream.closed_loop(1, count=args.requests)
    print(f"stream c=1: time to first chunk p50 {percentile([t.ttfc for t in sample.timings], 50) * 1e3:.3f} ms")
    if args.profile_streams and args.py_spy is not None:
        spy = _start_py_spy(args.py_spy, pid, args.seconds)
    before = cpu_seconds(pid)
    sample = await stream.closed_loop(args.streams, seconds=args.seconds, defer=False)
    cpu = cpu_seconds(pid) - before
    answered = max(sample.good + sample.errors, 1)
    print(
        f"stream c={args.streams}: {sample.good / sample.wall:.0f} streams/s, CPU {cpu / answered * 1e3:.3f} ms/stream"
    )
    if args.profile_streams and spy is not None:
        spy.wait()
        print(f"profile written to {args.py_spy}")
    rss = rss_kib(pid)
    print(
        f"RSS after load: {rss / 1024 if rss else float('nan'):.1f} MiB; wrong answers {tally.errors}/{tally.requests}"
    )
    for message in tally.samples:
        print(f"  {message}", file=sys.stderr)


def _start_py_spy(out: Path, pid: int, seconds: float) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    kind = {".svg": "flamegraph", ".txt": "raw"}.get(out.suffix, "speedscope")
    command = [py_spy, "record", "--subprocesses", "--gil", "-r", "500", "-d", str(max(1, round(seconds))), "-f", kind]
    return subprocess.Popen([*command, "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    stop_servers_on_sigterm()
    wrk = find_wrk(install=True)
    if wrk is None:
        print("wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 1
    pinning = pinning_possible({PROXY_CPU, LOAD_CPU})
    proxy_cpus, load_cpus = ({PROXY_CPU}, {LOAD_CPU}) if pinning else (None, None)
    with tempfile.TemporaryDirectory(prefix="gateway-profile-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        mock, port = start_mock(load_cpus, stack.enter_context(open(scratch / "mock.log", "wb")), MOCK_STARTUP_S)
        stack.callback(stop, mock)
        if args.workers > 1:
            # As compare.py --workers: every CPU but the load's first, the load's own last.
            order = [c for c in range(os.cpu_count() or 1) if c != LOAD_CPU] + [LOAD_CPU]
            proxy_cpus = set(order[: args.workers]) if pinning_possible(order[: args.workers]) else None
        gateway = start_gateway(stack, f"http://127.0.0.1:{port}", scratch / "gateway", proxy_cpus, args.workers)
        if load_cpus is not None:
            os.sched_setaffinity(0, load_cpus)
        time.sleep(1.0)
        idle = rss_kib(gateway.process.pid)
        print(f"RSS idle: {idle / 1024 if idle else float('nan'):.1f} MiB")
        plan = Plan(
            requests=args.requests,
            concurrency=args.concurrency,
            stream_concurrency=32,
            duration=args.seconds,
            paced_streams=8,
            paced_concurrency=8,
            many_streams=64,
            wrk=pinned([wrk], load_cpus),
            scratch=scratch,
            request_timeout=30.0,
        )
        workload = Workload(gateway.target, FAST, False, Tally())
        asyncio.run(_measure(args, plan, workload, gateway.process.pid))
        if args.hold:
            target = gateway.target
            auth = target.headers["Authorization"]
            body = target.body(FAST, False, "hello").decode()
            print(
                f"curl -si http://127.0.0.1:{target.port}{target.path} -H 'Authorization: {auth}' "
                f"-H 'Content-Type: application/json' -d '{body}'   # gateway pid {gateway.process.pid}"
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 1 if workload.tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())

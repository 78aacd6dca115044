"""This gateway against LiteLLM's proxy, with the upstream direct as the floor: one command, one run.

    .venv/bin/python bench/compare.py [--rounds 3] [--requests 500] [--duration 10] [--out FILE]
                                      [--no-litellm] [--soak SECONDS] [--workers 2] [--smoke]

Starts the mock upstream (:mod:`mock_server`), this gateway (one worker, SQLite store, paid with
a Compose Key, its ``openai`` plugin pointed at the mock) and LiteLLM's proxy (installed into a
virtualenv under ``~/.cache/gateway-bench`` on first use, one worker, no database, pointed at the
same mock), pins them (proxies on CPU 0; mock, wrk and the asyncio client on CPU 1), measures
each the same way for ``--rounds`` rounds, and prints one markdown table of medians, also written
to ``--out`` (default ``bench/results/compare-<time>.md``). See ``bench/README.md``.

Every answer is checked; the exit code is 1 when any was wrong, a server failed to start, or the
run overran ``--timeout``. ``--smoke`` is a seconds-long correctness run without LiteLLM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from litellm_setup import DEFAULT_VERSION, default_venv, ensure_litellm
from load import Tally, Target, Workload, mixed_soak
from measure import FAST, Plan, round_for, throughput, warm_up
from procs import LOAD_CPU, PROXY_CPU, pinned, pinning_possible, rss_kib, start_mock, stop, stop_servers_on_sigterm
from report import Results, render
from servers import direct_target, start_gateway, start_litellm
from wrk import find_wrk

BENCH = Path(__file__).resolve().parent
MOCK_STARTUP_S = 15.0
DEFAULT_TIMEOUT_S = 3 * 3600.0
SMOKE_TIMEOUT_S = 90.0
SOAK_FIRST_S = 60.0
_T = TypeVar("_T")


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/compare.py", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--rounds", type=_positive, default=3, help="rounds; the table shows medians (default 3)")
    add("--requests", type=_positive, default=500, help="sequential requests per latency measurement (500)")
    add("--duration", type=float, default=10.0, help="seconds per throughput measurement (10)")
    add("--concurrency", type=_positive, default=64, help="connections for non-stream throughput (64)")
    add("--stream-concurrency", type=_positive, default=32, help="connections for stream throughput (32)")
    add("--paced-streams", type=_positive, default=64, help="streams in the 5 ms pacing test (64)")
    add("--paced-concurrency", type=_positive, default=8, help="connections in the pacing test (8)")
    add("--many-streams", type=_positive, default=512, help="streams started at once (512)")
    add("--out", type=Path, help="markdown report (default bench/results/compare-<time>.md)")
    add("--no-litellm", action="store_true", help="skip LiteLLM (no install, no network)")
    add("--litellm-version", default=DEFAULT_VERSION, help=f"LiteLLM release (default {DEFAULT_VERSION})")
    add("--litellm-venv", type=Path, help="its virtualenv (default ~/.cache/gateway-bench/litellm-<version>)")
    add("--no-wrk", action="store_true", help="non-stream throughput with the asyncio client, not wrk")
    add("--soak", type=float, metavar="SECONDS", help="also a mixed-load soak per proxy: RSS after 1 min vs end")
    add("--workers", type=_positive, default=1, help="also measure the gateway's throughput with N workers")
    add("--timeout", type=float, help="bound on the whole measurement, seconds (default 3 h; smoke 90 s)")
    add("--smoke", action="store_true", help="seconds-long correctness run, no LiteLLM")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.requests, args.duration = 1, 20, 2.0
        args.paced_streams, args.paced_concurrency, args.many_streams = 8, 4, 64
        args.no_litellm = True
    if args.timeout is None:
        args.timeout = SMOKE_TIMEOUT_S if args.smoke else DEFAULT_TIMEOUT_S
    return args


def _say(message: str) -> None:
    print(f"compare: {message}", file=sys.stderr, flush=True)


def _run_loop(main: Coroutine[Any, Any, _T], seconds: float) -> _T:
    """The load client on uvloop when importable (a cheaper client measures the servers, not
    itself), bounded by ``seconds``."""

    async def bounded() -> _T:
        async with asyncio.timeout(seconds):
            return await main

    try:
        import uvloop
    except ImportError:
        return asyncio.run(bounded())
    return uvloop.run(bounded())


async def _rounds(targets: list[Target], tallies: dict[str, Tally], plan: Plan, rounds: int) -> dict[str, Any]:
    for target in targets:
        _say(f"warming up {target.name}")
        await warm_up(target, tallies[target.name], plan)
    per_round: dict[str, dict[str, list[float]]] = {t.name: {} for t in targets}
    for number in range(1, rounds + 1):
        # Every target inside every round, so slow drift of a shared machine hits them alike.
        for target in targets:
            _say(f"round {number}/{rounds}: {target.name}")
            for key, value in (await round_for(target, tallies[target.name], plan)).items():
                per_round[target.name].setdefault(key, []).append(value)
    return per_round


async def _soak(target: Target, seconds: float, concurrency: int, run_tally: Tally) -> list[str]:
    """One row of the soak table; the soak's answers also count in ``run_tally`` (exit code)."""
    tally = Tally()
    first: list[int | None] = [None]
    pid = target.pid
    assert pid is not None

    def at(elapsed: float) -> None:
        if first[0] is None and elapsed >= min(SOAK_FIRST_S, seconds / 2):
            first[0] = rss_kib(pid)

    half = max(1, concurrency // 2)
    workloads = [Workload(target, FAST, False, tally), Workload(target, FAST, True, tally)]
    _say(f"soak {seconds:g} s: {target.name}")
    await mixed_soak(workloads, half, seconds, at)
    end = rss_kib(pid)

    def mib(kib: int | None) -> str:
        return "n/a" if kib is None else f"{kib / 1024:.1f}"

    run_tally.requests += tally.requests
    run_tally.errors += tally.errors
    run_tally.samples += tally.samples[: max(0, 5 - len(run_tally.samples))]
    return [f"| {target.name} | {mib(first[0])} | {mib(end)} | {tally.errors}/{tally.requests} |"]


async def _scaling(targets: list[Target], plan: Plan, rounds: int) -> list[list[float]]:
    """Non-stream throughput of each target, one after another in every round: rates per target."""
    tallies = [Tally() for _ in targets]
    for target, tally in zip(targets, tallies, strict=True):
        await warm_up(target, tally, plan)
    rates: list[list[float]] = [[] for _ in targets]
    for _ in range(rounds):
        for target, tally, rate in zip(targets, tallies, rates, strict=True):
            rate.append((await throughput(target, tally, plan, plan.duration))[0])
    for target, tally in zip(targets, tallies, strict=True):
        if tally.errors:
            raise RuntimeError(f"{target.name}: {tally.errors} wrong answer(s), e.g. {tally.samples[:2]}")
    return rates


def _header(args: argparse.Namespace, pinning: bool, wrk: str | None, load: tuple[str, str], litellm: bool) -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    where = (
        f"proxy under test on CPU {PROXY_CPU}; mock upstream, wrk and the asyncio client on CPU {LOAD_CPU}"
        if pinning
        else "none (needs taskset and CPUs 0 and 1)"
    )
    return (
        f"{'Gateway vs LiteLLM' if litellm else 'Gateway overhead'}{' (smoke)' if args.smoke else ''}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"median of {args.rounds} round(s); {args.requests} sequential requests per latency measurement; "
        f"{args.duration:g} s per throughput measurement "
        f"({'wrk' if wrk else 'asyncio client'} for non-stream, asyncio client for streams); "
        f"mock upstream `bench/mock_server.py` on {loop}, replies of 50 chunks; "
        f"pinning: {where}; load average at start {load[0]}, at end {load[1]}; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs."
    )


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    stop_servers_on_sigterm()
    # 512 streams hold three sockets each across the client, the proxy and the mock.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    try:
        return _main(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        _say(str(exc) or f"the run overran --timeout {args.timeout:g} s")
        return 1


def _main(args: argparse.Namespace) -> int:
    litellm_exe: Path | None = None
    if not args.no_litellm:
        venv = args.litellm_venv or default_venv(args.litellm_version)
        _say(f"LiteLLM {args.litellm_version} in {venv} (installed on first use, a minute or two)")
        venv.parent.mkdir(parents=True, exist_ok=True)
        litellm_exe = ensure_litellm(venv, args.litellm_version, venv.parent / f"{venv.name}.install.log")
    wrk = None if args.no_wrk else find_wrk(install=not args.smoke)
    pinning = pinning_possible({PROXY_CPU, LOAD_CPU})
    proxy_cpus, load_cpus = ({PROXY_CPU}, {LOAD_CPU}) if pinning else (None, None)
    load_start = _loadavg()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        mock_log = stack.enter_context(open(scratch / "mock.log", "wb"))
        mock, port = start_mock(load_cpus, mock_log, MOCK_STARTUP_S)
        stack.callback(stop, mock)
        upstream = f"http://127.0.0.1:{port}"
        targets = [direct_target(port, mock.pid)]
        gateway = start_gateway(stack, upstream, scratch / "gateway", proxy_cpus)
        targets.append(gateway.target)
        litellm_name = None
        if litellm_exe is not None:
            server = start_litellm(stack, litellm_exe, args.litellm_version, upstream, scratch / "litellm", proxy_cpus)
            targets.append(server.target)
            litellm_name = server.name
        if load_cpus is not None:
            os.sched_setaffinity(0, load_cpus)  # the asyncio client
        time.sleep(1.0)  # let start-up work settle before the idle RSS
        rss_idle = {t.name: rss_kib(t.pid) if t.pid else None for t in targets}
        plan = Plan(
            requests=args.requests,
            concurrency=args.concurrency,
            stream_concurrency=args.stream_concurrency,
            duration=args.duration,
            paced_streams=args.paced_streams,
            paced_concurrency=args.paced_concurrency,
            many_streams=args.many_streams,
            wrk=None if wrk is None else pinned([wrk], load_cpus),
            scratch=scratch,
            request_timeout=30.0,
        )
        tallies = {t.name: Tally() for t in targets}
        deadline = time.monotonic() + args.timeout
        per_round = _run_loop(_rounds(targets, tallies, plan, args.rounds), args.timeout)
        rss_loaded = {t.name: rss_kib(t.pid) if t.pid else None for t in targets}
        extra: list[str] = []
        if args.soak:
            extra += [
                f"Soak, {args.soak:g} s of mixed load (non-stream and 50-chunk streams, "
                f"{args.stream_concurrency // 2} connections each):",
                "",
                f"| proxy | RSS at {min(SOAK_FIRST_S, args.soak / 2):g} s (MiB) | RSS at end (MiB) "
                "| wrong answers / requests |",
                "|---|---:|---:|---:|",
            ]
            for target in targets[1:]:
                remaining = deadline - time.monotonic()
                soak = _soak(target, args.soak, args.stream_concurrency, tallies[target.name])
                extra += _run_loop(soak, remaining)
            extra.append("")
        if args.workers > 1:
            extra += _scale(args, upstream, scratch, plan, per_round, deadline)
        load_end = _loadavg()
    results = Results(
        columns=[t.name for t in targets],
        gateway=gateway.name,
        litellm=litellm_name,
        per_round=per_round,
        rss_idle=rss_idle,
        rss_loaded=rss_loaded,
        tallies={name: (t.errors, t.requests) for name, t in tallies.items()},
        extra=extra,
    )
    header = _header(args, pinning, wrk, (load_start, load_end), litellm_name is not None)
    report = render(results, header, args.concurrency, args.stream_concurrency, args.many_streams)
    sys.stdout.write(report)
    out = args.out or (None if args.smoke else BENCH / "results" / f"compare-{datetime.now():%Y%m%d-%H%M%S}.md")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        _say(f"report written to {out}")
    wrong = [(name, t) for name, t in tallies.items() if t.errors]
    for name, tally in wrong:
        _say(f"{tally.errors} wrong answer(s) from {name}, e.g.:")
        for sample in tally.samples:
            print(f"  {sample}", file=sys.stderr)
    return 1 if wrong else 0


def _scale(
    args: argparse.Namespace, upstream: str, scratch: Path, plan: Plan, per_round: dict[str, Any], deadline: float
) -> list[str]:
    """The gateway with ``--workers N`` against a fresh one-worker gateway, non-stream
    throughput only, their rounds alternating: the machine drifts over a run, and the main
    rounds' one-worker figure was measured many minutes earlier (before the soaks)."""
    # Proxy CPUs first; with fewer CPUs than workers + 1 the load CPU has to be shared.
    order = [c for c in range(os.cpu_count() or 1) if c != LOAD_CPU] + [LOAD_CPU]
    cpus = set(order[: args.workers]) if pinning_possible(order[: args.workers]) else None
    single_cpus = {PROXY_CPU} if pinning_possible({PROXY_CPU, LOAD_CPU}) else None
    with ExitStack() as stack:
        single = start_gateway(stack, upstream, scratch / "gateway-1w", single_cpus)
        server = start_gateway(stack, upstream, scratch / f"gateway-{args.workers}w", cpus, args.workers)
        _say(f"scaling: {server.name}, rounds alternating with a gateway of 1 worker")
        targets = [single.target, server.target]
        one_rates, many_rates = _run_loop(_scaling(targets, plan, args.rounds), deadline - time.monotonic())
    one, many = statistics.median(one_rates), statistics.median(many_rates)
    earlier = statistics.median(per_round["gateway"]["throughput"])
    where = f"CPUs {','.join(map(str, sorted(cpus)))}" if cpus else "unpinned CPUs"
    note = " (shares the load CPU: too few CPUs for a clean scaling figure)" if cpus and LOAD_CPU in cpus else ""
    ratio = f"{many / one:.2f}x" if one > 0 and not math.isnan(one) else "n/a"
    return [
        f"Scaling: non-stream throughput at c={plan.concurrency}, gateway with {args.workers} workers on "
        f"{where}{note}: {many:.0f} req/s, {ratio} of 1 worker measured in alternate rounds beside it "
        f"({one:.0f} req/s; {earlier:.0f} req/s in the rounds above).",
    ]


if __name__ == "__main__":
    raise SystemExit(main())

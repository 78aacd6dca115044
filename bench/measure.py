"""One round of measurements against one target, and the warm-up before the rounds.

What each key of a round's result means (seconds for times, per-second for rates):

``latency_p50`` / ``latency_p99``
    non-stream, one connection, ``requests`` sequential requests: send to full body.
``throughput`` / ``throughput_errors``
    non-stream at ``concurrency`` connections for ``duration`` seconds (wrk, else the asyncio
    client): correct answers per second; wrong answers + socket errors + timeouts.
``cpu_per_request``
    the target process tree's user+system CPU during that run / requests answered.
``ttfc_p50`` / ``stream_total_p50``
    50-chunk streams, one connection, ``requests`` sequential: to the first content chunk, to
    the end of the response.
``stream_throughput`` / ``cpu_per_stream``
    50-chunk streams at ``stream_concurrency`` connections for ``duration`` seconds.
``paced_gap_p50`` / ``paced_gap_p99``
    streams whose chunks the mock sends 5 ms apart: the gaps the client sees between content
    chunks (all streams' gaps pooled).
``many_completed`` / ``many_errors`` / ``many_max_gap``
    ``many_streams`` streams started at once (50 chunks 20 ms apart, 1 s each), each on a
    connection opened beforehand: correct streams, wrong ones, the largest gap seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from answers import expected_for
from load import Tally, Target, Workload
from mock_wire import parse_scenario
from procs import cpu_seconds
from wrk import run_wrk, write_script

__all__ = ["FAST", "MANY", "PACED", "Plan", "percentile", "round_for", "throughput", "warm_up"]

FAST = "mock-c50"
PACED = "mock-c50-p5"
MANY = "mock-c50-p20"
WRK_TEXT = "wrk"  # wrk sends one fixed body, so its answers share one expected text


@dataclass(frozen=True)
class Plan:
    requests: int
    concurrency: int
    stream_concurrency: int
    duration: float
    paced_streams: int
    paced_concurrency: int
    many_streams: int
    wrk: list[str] | None  # the wrk command (behind taskset when pinned), None: asyncio fallback
    scratch: Path  # where wrk scripts go
    request_timeout: float


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN without values (every request failed)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _cpu(target: Target) -> float:
    return cpu_seconds(target.pid) if target.pid is not None else math.nan


async def throughput(target: Target, tally: Tally, plan: Plan, seconds: float) -> tuple[float, int, int]:
    """(correct answers per second, errors, requests answered) of non-stream load at c=concurrency."""
    if plan.wrk is None:
        sample = await Workload(target, FAST, False, tally).closed_loop(plan.concurrency, seconds=seconds, defer=False)
        return sample.good / sample.wall, sample.errors, sample.good + sample.errors
    expected = expected_for(WRK_TEXT, parse_scenario(FAST).chunks)
    script = write_script(
        plan.scratch / f"wrk-{target.port}.lua",
        target.path,
        target.all_headers,
        target.body(FAST, False, WRK_TEXT),
        expected.text,
        expected.prompt_tokens,
        expected.completion_tokens,
    )
    url = f"http://{target.host}:{target.port}{target.path}"
    result = await run_wrk(plan.wrk, url, script, plan.concurrency, seconds, plan.request_timeout)
    tally.requests += result.requests
    tally.errors += result.errors
    if result.errors and len(tally.samples) < 5:
        tally.samples.append(f"{target.name}: wrk: {result.errors} error(s), e.g. {result.sample}")
    return result.throughput, result.errors, result.requests


async def warm_up(target: Target, tally: Tally, plan: Plan) -> None:
    """Checked but unreported: first-request code paths, the proxies' upstream pools, and a
    pool grown by a burst at the measured concurrency, as in production."""
    await Workload(target, FAST, False, tally).closed_loop(plan.concurrency, count=plan.concurrency * 2)
    await Workload(target, FAST, True, tally).closed_loop(plan.stream_concurrency, count=plan.stream_concurrency * 2)
    await Workload(target, PACED, True, tally).closed_loop(1, count=1)
    if plan.wrk is not None:
        await throughput(target, tally, plan, 1)


async def round_for(target: Target, tally: Tally, plan: Plan) -> dict[str, float]:
    result: dict[str, float] = {}
    fast = Workload(target, FAST, False, tally)
    # Checked, not reported: as many requests again, at one connection, right before. A round
    # starts after the target sat idle while the others were measured, and after a minute idle
    # the gateway's first ~300 requests ran ~30 % slower, server time included (the loop, the
    # mock and the client each wake on another CPU; a CPU-bound loop shows no such ramp), which
    # made its p99 that warm-up: 2.2 ms against 1.1 with it (bench/profile.py after 30-60 s idle).
    await fast.closed_loop(1, count=plan.requests)
    sample = await fast.closed_loop(1, count=plan.requests)
    result["latency_p50"] = percentile(sample.latencies, 50)
    result["latency_p99"] = percentile(sample.latencies, 99)

    before = _cpu(target)
    rate, errors, answered = await throughput(target, tally, plan, plan.duration)
    result["throughput"], result["throughput_errors"] = rate, errors
    result["cpu_per_request"] = (_cpu(target) - before) / answered if answered else math.nan

    stream = Workload(target, FAST, True, tally)
    sample = await stream.closed_loop(1, count=plan.requests)
    result["ttfc_p50"] = percentile([t.ttfc for t in sample.timings], 50)
    result["stream_total_p50"] = percentile([t.total for t in sample.timings], 50)

    before = _cpu(target)
    # Checked as they come and not kept: at thousands of streams per second for the direct
    # column, keeping every body until the end would hold hundreds of MB.
    sample = await stream.closed_loop(plan.stream_concurrency, seconds=plan.duration, defer=False)
    answered = sample.good + sample.errors
    result["stream_throughput"] = sample.good / sample.wall
    result["cpu_per_stream"] = (_cpu(target) - before) / answered if answered else math.nan

    sample = await Workload(target, PACED, True, tally).closed_loop(plan.paced_concurrency, count=plan.paced_streams)
    gaps = [gap for timing in sample.timings for gap in timing.gaps]
    result["paced_gap_p50"] = percentile(gaps, 50)
    result["paced_gap_p99"] = percentile(gaps, 99)

    sample = await Workload(target, MANY, True, tally).burst(plan.many_streams)
    result["many_completed"] = sample.good
    result["many_errors"] = sample.errors
    result["many_max_gap"] = max((max(t.gaps, default=0.0) for t in sample.timings), default=math.nan)
    return result

"""What the gateway adds: the same load sent to the mock upstream directly and through the gateway.

    python bench/overhead.py [--requests N] [--concurrency C] [--rounds R] [--out results.md] [--smoke]

Starts the mock upstream (``gateway_core.testing.mock_upstream``, uvloop when importable) and a
gateway (``python -m gateway_core serve``) whose ``sandbox`` provider points at it, then drives both
with an asyncio + httpx load client (one keep-alive ``AsyncClient`` per concurrent worker, see
:func:`_drive`) and prints a markdown table: metric | upstream direct | gateway | gateway added.
See ``bench/README.md`` for how to read it.

Every answer is checked (status 200, non-empty content; streams carry content, no error frame,
and end with ``data: [DONE]``); the exit code is 1 when any answer was wrong, a process failed to
start, or the load overran ``--timeout``. ``--smoke`` is a few-second run for CI: it asserts
correctness, never speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import math
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

import httpx
import orjson

from gateway_core.testing.keys import mint_test_key
from gateway_core.testing.mock_upstream import MockUpstream, start_mock_upstream

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_MODEL = "mock/text?chunks=50"
PUBLIC_MODEL = "bench-text"
MESSAGES = [{"role": "user", "content": "hi"}]
MAX_TOKENS = 64
CATALOG_ROW: dict[str, Any] = {
    "modelId": PUBLIC_MODEL,
    "provider": "sandbox",
    "upstreamModelId": UPSTREAM_MODEL,
    "type": "chat",
    "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]},
}
# Server pinning: each server gets a CPU of its own so neither steals the other's time slices;
# the client stays unpinned (see bench/README.md).
GATEWAY_CPU = 0
MOCK_CPU = 1
STARTUP_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0
REQUEST_TIMEOUT_S = 30.0
DEFAULT_TIMEOUT_S = 900.0
SMOKE_REQUESTS = 30
SMOKE_TIMEOUT_S = 90.0
DIRECT = "upstream direct"
GATEWAY = "gateway"
_JSON = {"content-type": "application/json"}
# The gateway's Compose Key secret for this run (a throwaway store in a temp dir).
KEY_SECRET = "bench-" + "0" * 32
_T = TypeVar("_T")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: str  # "latency" (seconds; added = difference) or "throughput" (req/s; added = ratio)


METRICS = (
    Metric("latency_p50", "non-stream latency p50, c=1 (ms)", "latency"),
    Metric("latency_p99", "non-stream latency p99, c=1 (ms)", "latency"),
    Metric("throughput", "non-stream throughput, c={c} (req/s)", "throughput"),
    Metric("ttfc_p50", "stream time to first chunk p50, c=1 (ms)", "latency"),
    Metric("stream_throughput", "stream throughput, c={sc} (req/s)", "throughput"),
)


class WrongAnswer(Exception):
    """An answer the benchmark must not count as a success."""


@dataclass(frozen=True)
class Target:
    """One side of the comparison: where to send, what to send, where the content is."""

    name: str
    url: str
    nonstream_body: bytes
    stream_body: bytes
    message_text: Callable[[Any], Any]
    frame_text: Callable[[Any], Any]
    headers: Mapping[str, str] = field(default_factory=lambda: dict(_JSON))


def _body(model: str, *, stream: bool) -> bytes:
    # Both sides get the same messages and max_tokens, so only the gateway's own work differs.
    return orjson.dumps({"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": stream})


def _direct_target(base_url: str) -> Target:
    return Target(
        name=DIRECT,
        url=base_url + "/chat",
        nonstream_body=_body(UPSTREAM_MODEL, stream=False),
        stream_body=_body(UPSTREAM_MODEL, stream=True),
        message_text=lambda body: body["text"],
        frame_text=lambda frame: frame.get("text") if frame.get("type") == "text" else None,
    )


def _gateway_target(base_url: str, api_key: str) -> Target:
    # Paid with a Compose Key, so the key's hold and settlement are on the measured path.
    return Target(
        name=GATEWAY,
        url=base_url + "/v1/chat/completions",
        nonstream_body=_body(PUBLIC_MODEL, stream=False),
        stream_body=_body(PUBLIC_MODEL, stream=True),
        message_text=lambda body: body["choices"][0]["message"]["content"],
        frame_text=lambda frame: (frame.get("choices") or [{}])[0].get("delta", {}).get("content"),
        headers={**_JSON, "authorization": f"Bearer {api_key}"},
    )


@dataclass
class Tally:
    """Answers per target; the first few failures are kept verbatim for the report."""

    requests: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def ok(self) -> None:
        self.requests += 1

    def fail(self, exc: BaseException) -> None:
        self.requests += 1
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(f"{type(exc).__name__}: {exc}"[:300])


# --- one request ---------------------------------------------------------------------------

# Everything that means "this answer is wrong" rather than "the benchmark is broken".
_ANSWER_ERRORS = (WrongAnswer, httpx.HTTPError, orjson.JSONDecodeError, LookupError, TypeError, AttributeError)


async def _nonstream(client: httpx.AsyncClient, target: Target, tally: Tally) -> float | None:
    """Latency in seconds of one checked non-stream request, or None when the answer was wrong."""
    start = time.perf_counter()
    try:
        response = await client.post(target.url, content=target.nonstream_body, headers=target.headers)
        # The clock stops once the body is in; checking it is the client's cost, not the server's.
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise WrongAnswer(f"status {response.status_code}: {response.text[:200]}")
        text = target.message_text(orjson.loads(response.content))
        if not isinstance(text, str) or not text:
            raise WrongAnswer(f"empty content: {response.text[:200]}")
    except _ANSWER_ERRORS as exc:
        tally.fail(exc)
        return None
    tally.ok()
    return elapsed


async def _stream(client: httpx.AsyncClient, target: Target, tally: Tally) -> float | None:
    """Time to the first ``data:`` frame with content of one checked stream, or None when wrong."""
    start = time.perf_counter()
    first: float | None = None
    last = ""
    try:
        async with client.stream("POST", target.url, content=target.stream_body, headers=target.headers) as response:
            if response.status_code != 200:
                await response.aread()
                raise WrongAnswer(f"status {response.status_code}: {response.text[:200]}")
            async for line in response.aiter_lines():
                if line.startswith("event:") and "error" in line:
                    raise WrongAnswer(f"error event in the stream: {line[:200]!r}")
                if not line.startswith("data:"):
                    continue  # blank separators, comments, keep-alives
                last = line[5:].strip()
                # The gateway reports an upstream failure in-band and still ends with [DONE]. An
                # unescaped "error" token is a key or value, never text: text would be \"error\".
                if '"error"' in last:
                    raise WrongAnswer(f"error frame in the stream: {last[:200]!r}")
                # Frames are parsed only until the first content: later ones just need to exist,
                # and parsing them all would make the client, not the server, the bottleneck.
                if first is None and last != "[DONE]" and target.frame_text(orjson.loads(last)):
                    first = time.perf_counter() - start
        if first is None:
            raise WrongAnswer("the stream carried no content")
        if last != "[DONE]":
            raise WrongAnswer(f"the stream ended with {last[:200]!r}, not [DONE]")
    except _ANSWER_ERRORS as exc:
        tally.fail(exc)
        return None
    tally.ok()
    return first


# --- load ----------------------------------------------------------------------------------

_Request = Callable[[httpx.AsyncClient, Target, Tally], Awaitable[float | None]]
# One keep-alive connection per client: see _drive for why each worker has a client of its own.
_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)
# Shared because httpx builds a TLS context per client otherwise (~18 ms each, dozens of clients
# per measurement); the benchmark only speaks plain HTTP on loopback, so it is never used.
_TLS = ssl.create_default_context()


async def _drive(
    one: _Request, target: Target, tally: Tally, requests: int, concurrency: int
) -> tuple[list[float], float]:
    """``requests`` checked calls of ``one`` on ``concurrency`` workers: (good samples, wall seconds).

    Each worker owns one ``httpx.AsyncClient`` holding one keep-alive connection. A single
    client shared by all workers is not usable as a load generator: httpcore's pool scans every
    connection for every waiting request, so at 64 in flight the client itself burns ~5 ms of CPU
    per request (encode/httpx#3215) and caps both columns at ~190 req/s; per-worker clients cost
    ~0.6 ms. The clients are opened and warmed (one checked request each) before the clock starts,
    so connection set-up is never measured.
    """
    workers = max(1, min(concurrency, requests))
    remaining = requests
    samples: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        # Workers pull from a shared count (rather than one task per request) so exactly
        # ``concurrency`` requests are in flight until the tail.
        while remaining > 0:
            remaining -= 1
            sample = await one(client, target, tally)
            if sample is not None:
                samples.append(sample)

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            # trust_env=False: a proxy from the environment must never sit between client and loopback.
            await stack.enter_async_context(
                httpx.AsyncClient(limits=_ONE_CONNECTION, timeout=REQUEST_TIMEOUT_S, trust_env=False, verify=_TLS)
            )
            for _ in range(workers)
        ]
        await asyncio.gather(*(one(client, target, tally) for client in clients))
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        return samples, time.perf_counter() - start


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN when every request failed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def _round(target: Target, tally: Tally, args: argparse.Namespace) -> dict[str, float]:
    latencies, _ = await _drive(_nonstream, target, tally, args.requests, 1)
    done, seconds = await _drive(_nonstream, target, tally, args.requests, args.concurrency)
    ttfcs, _ = await _drive(_stream, target, tally, args.requests, 1)
    streamed, stream_seconds = await _drive(_stream, target, tally, args.requests, args.stream_concurrency)
    return {
        "latency_p50": _percentile(latencies, 50),
        "latency_p99": _percentile(latencies, 99),
        # Only good answers count: a fast error must not look like throughput.
        "throughput": len(done) / seconds,
        "ttfc_p50": _percentile(ttfcs, 50),
        "stream_throughput": len(streamed) / stream_seconds,
    }


async def _measure(
    targets: Sequence[Target], tallies: dict[str, Tally], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Per target, per metric, one value per round."""
    results: dict[str, dict[str, list[float]]] = {t.name: {m.key: [] for m in METRICS} for t in targets}
    for target in targets:
        # Warm-up (checked, not reported): runs the servers' first-request paths (imports,
        # caches, their own upstream pools) outside the measurement.
        tally = tallies[target.name]
        await _drive(_nonstream, target, tally, min(args.requests, args.concurrency), args.concurrency)
        await _drive(_stream, target, tally, min(args.requests, args.stream_concurrency), args.stream_concurrency)
    for _ in range(args.rounds):
        # Targets alternate inside each round so drift (thermal, noisy neighbours) hits both alike.
        for target in targets:
            for key, value in (await _round(target, tallies[target.name], args)).items():
                results[target.name][key].append(value)
    return results


def _run_client(main: Coroutine[Any, Any, _T]) -> _T:
    """Run the load client on uvloop when importable: a cheaper client measures the servers, not itself."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# --- processes -----------------------------------------------------------------------------


def _free_port() -> int:
    # The port is released before the gateway binds it; a collision in that window fails the
    # health wait loudly rather than measuring the wrong server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin(pid: int, cpu: int) -> bool:
    """Pin every thread of ``pid`` to ``cpu``; False where affinity is unsupported or the CPU is absent."""
    if not hasattr(os, "sched_setaffinity") or cpu not in os.sched_getaffinity(0):
        return False
    # sched_setaffinity(pid) sets only the main thread; threads that already exist are pinned
    # one by one, threads created later inherit from their creator.
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(p.name) for p in tasks.iterdir()] if tasks.is_dir() else [pid]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(tid, {cpu})
    return True


def _rss_kib(pid: int) -> int | None:
    """VmRSS of ``pid`` in KiB, None where /proc is unavailable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _store_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'gateway.db'}"


def _start_gateway(upstream_url: str, workdir: Path, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    catalog = workdir / "catalog.yaml"
    # JSON is YAML; the catalog loader takes a list of rows.
    catalog.write_bytes(orjson.dumps([CATALOG_ROW]))
    # Inherited GATEWAY_* settings (a developer's config, a real provider) would change what is
    # measured, so the gateway sees only the two it needs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_CATALOG"] = str(catalog)
    env["GATEWAY_PROVIDER_SANDBOX_BASE_URL"] = upstream_url
    env["GATEWAY_STORE_URL"] = _store_url(workdir)
    env["GATEWAY_KEY_SECRET"] = KEY_SECRET
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    port = _free_port()
    command = [sys.executable, "-m", "gateway_core", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning"]
    # cwd is the temp dir so nothing the gateway writes (a default sqlite store) lands in the repo.
    process = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return process, f"http://127.0.0.1:{port}"


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if client.get(base_url + "/health").status_code == 200:
                    return
            time.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the gateway did not become healthy (exit code {process.poll()}); its log:\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE_S."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turned into an exception so the ``finally`` that stops the servers runs.
    raise KeyboardInterrupt


# --- report --------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def _cell(metric: Metric, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value * 1000:.2f}" if metric.kind == "latency" else f"{value:.0f}"


def _added(metric: Metric, direct: float, gateway: float) -> str:
    if math.isnan(direct) or math.isnan(gateway) or (metric.kind == "throughput" and direct == 0):
        return "n/a"
    if metric.kind == "latency":
        return f"{(gateway - direct) * 1000:+.2f} ms"
    return f"{gateway / direct:.2f}x"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def render(
    results: dict[str, dict[str, list[float]]],
    tallies: dict[str, Tally],
    rss: tuple[int | None, int | None],
    args: argparse.Namespace,
    notes: str,
) -> str:
    """The report: a one-paragraph context line, then the markdown table."""
    lines = [
        f"{notes}\n",
        "| metric | upstream direct | gateway | gateway added |",
        "|---|---:|---:|---:|",
    ]
    for metric in METRICS:
        direct = _median(results[DIRECT][metric.key])
        gateway = _median(results[GATEWAY][metric.key])
        label = metric.label.format(c=args.concurrency, sc=args.stream_concurrency)
        lines.append(
            f"| {label} | {_cell(metric, direct)} | {_cell(metric, gateway)} | {_added(metric, direct, gateway)} |"
        )
    d, g = tallies[DIRECT], tallies[GATEWAY]
    lines.append(f"| wrong answers / requests | {d.errors}/{d.requests} | {g.errors}/{g.requests} | |")
    idle, loaded = rss
    grown = f"{(loaded - idle) / 1024:+.1f} MiB" if idle is not None and loaded is not None else "n/a"
    lines.append(f"| gateway RSS idle (MiB) | | {_mib(idle)} | |")
    lines.append(f"| gateway RSS after load (MiB) | | {_mib(loaded)} | {grown} |")
    return "\n".join(lines) + "\n"


# --- command -------------------------------------------------------------------------------


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/overhead.py", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=_positive, default=500, help="requests per measurement (default 500)")
    parser.add_argument("--concurrency", type=_positive, default=64, help="non-stream throughput concurrency")
    parser.add_argument("--stream-concurrency", type=_positive, default=32, help="stream throughput concurrency")
    parser.add_argument("--rounds", type=_positive, default=3, help="rounds; the table shows medians (default 3)")
    parser.add_argument("--out", type=Path, help="also write the report to this markdown file")
    parser.add_argument(
        "--timeout", type=float, help=f"bound on the whole load, seconds (default {DEFAULT_TIMEOUT_S:.0f})"
    )
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_REQUESTS} requests, 1 round: a correctness check")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.rounds = SMOKE_REQUESTS, 1
    if args.timeout is None:
        args.timeout = SMOKE_TIMEOUT_S if args.smoke else DEFAULT_TIMEOUT_S
    return args


async def _bounded(main: Coroutine[Any, Any, _T], seconds: float) -> _T:
    async with asyncio.timeout(seconds):
        return await main


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    tallies = {DIRECT: Tally(), GATEWAY: Tally()}
    mock: MockUpstream | None = None
    gateway: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp, open(Path(tmp) / "gateway.log", "wb") as log:
        try:
            # The mock falls back to asyncio by itself when uvloop is not importable.
            mock = start_mock_upstream(uvloop=True, timeout=STARTUP_TIMEOUT_S)
            pinned = _pin(mock.process.pid, MOCK_CPU)
            gateway, gateway_url = _start_gateway(mock.base_url, Path(tmp), log)
            _wait_healthy(gateway, gateway_url, Path(log.name))
            pinned = _pin(gateway.pid, GATEWAY_CPU) and pinned
            rss_idle = _rss_kib(gateway.pid)
            api_key = mint_test_key(_store_url(Path(tmp)), KEY_SECRET)
            targets = (_direct_target(mock.base_url), _gateway_target(gateway_url, api_key))
            started = time.monotonic()
            results = _run_client(_bounded(_measure(targets, tallies, args), args.timeout))
            wall = time.monotonic() - started
            rss_loaded = _rss_kib(gateway.pid)
        except (RuntimeError, TimeoutError) as exc:
            print(f"overhead: {str(exc) or f'the load overran --timeout {args.timeout:g} s'}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("overhead: interrupted", file=sys.stderr)
            return 130
        finally:
            if gateway is not None:
                _stop(gateway)
            if mock is not None:
                mock.close()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    pinning = (
        f"mock upstream on CPU {MOCK_CPU}, gateway on CPU {GATEWAY_CPU}, client unpinned"
        if pinned
        else "none (needs os.sched_setaffinity and CPUs 0 and 1)"
    )
    notes = (
        f"Gateway overhead{' (smoke)' if args.smoke else ''}: {args.requests} requests per measurement, "
        f"median of {args.rounds} round(s), {wall:.1f} s of load; upstream scenario `{UPSTREAM_MODEL}`; "
        f"pinning: {pinning}; event loops: {loop}; Python {sys.version.split()[0]}."
    )
    report = render(results, tallies, (rss_idle, rss_loaded), args, notes)
    sys.stdout.write(report)
    if args.out is not None:
        args.out.write_text(report)
    wrong = [(name, t) for name, t in tallies.items() if t.errors]
    for name, tally in wrong:
        print(f"overhead: {tally.errors} wrong answer(s) from {name}, e.g.:", file=sys.stderr)
        for sample in tally.samples:
            print(f"  {sample}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())

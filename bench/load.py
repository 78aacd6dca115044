"""The asyncio load client: who to ask, how many at once, and what came back.

Each measurement returns raw :class:`~http_client.Exchange` objects plus what was expected of
each; :mod:`answers` checks them afterwards. Checking after the clock stops matters for the
timing tests: on a shared CPU, parsing JSON while other streams are still arriving would show up
as gaps that the server under test never caused.

Every request carries a unique user message (``q<n>``), which the mock echoes as the first
chunk, so an answer routed to the wrong request is caught, not just an empty one.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from answers import Expected, StreamTiming, WrongAnswer, check_completion, check_stream, expected_for
from http_client import Connection, Exchange, request_bytes
from mock_wire import parse_scenario

__all__ = ["Sample", "Tally", "Target", "Workload"]

REQUEST_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MAX_TOKENS = 64
_SEQUENCE = itertools.count()


@dataclass(frozen=True)
class Target:
    """One column of the table: where to send, with which credentials and model names.

    ``models`` maps a scenario (``mock-c50``) to the name this target knows it by (the mock
    takes scenarios directly; the gateways have a catalog or model-list entry for each).
    """

    name: str
    host: str
    port: int
    path: str
    models: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the process whose CPU and memory are reported

    def body(self, scenario: str, stream: bool, text: str) -> bytes:
        body: dict[str, object] = {
            "model": self.models[scenario],
            "messages": [{"role": "user", "content": text}],
            "max_tokens": MAX_TOKENS,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    @property
    def all_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", **self.headers}

    def request(self, scenario: str, stream: bool, text: str) -> bytes:
        body = self.body(scenario, stream, text)
        return request_bytes(self.host, self.port, self.path, self.all_headers, body)


@dataclass
class Tally:
    """Answers of one target over the whole run; the first few failures are kept verbatim."""

    requests: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(message[:300])


@dataclass
class Sample:
    """Checked results of one measurement."""

    latencies: list[float] = field(default_factory=list)
    timings: list[StreamTiming] = field(default_factory=list)
    good: int = 0
    errors: int = 0
    wall: float = 0.0
    keep: bool = True  # False: count only (a soak would otherwise hold every timing)


@dataclass
class Workload:
    """A target, a scenario, stream or not: makes requests and checks their answers."""

    target: Target
    scenario: str
    stream: bool
    tally: Tally

    def make(self) -> tuple[bytes, Expected]:
        text = f"q{next(_SEQUENCE)}"
        chunks = parse_scenario(self.scenario).chunks
        return self.target.request(self.scenario, self.stream, text), expected_for(text, chunks)

    def check(self, exchange: Exchange, expected: Expected, sample: Sample) -> None:
        self.tally.requests += 1
        try:
            if self.stream:
                timing = check_stream(exchange, expected)
                if sample.keep:
                    sample.timings.append(timing)
            else:
                latency = check_completion(exchange, expected)
                if sample.keep:
                    sample.latencies.append(latency)
        except WrongAnswer as exc:
            sample.errors += 1
            self.tally.fail(f"{self.target.name}: {exc}")
            return
        sample.good += 1

    async def connect(self) -> Connection:
        return await Connection.open(self.target.host, self.target.port, CONNECT_TIMEOUT_S)

    async def closed_loop(
        self, concurrency: int, *, count: int | None = None, seconds: float | None = None, defer: bool = True
    ) -> Sample:
        """``concurrency`` workers, each on its own keep-alive connection, each sending its next
        request as soon as the previous answer is in, until ``count`` requests were sent or
        ``seconds`` passed. With ``defer`` the answers are checked after the clock stops (and kept);
        without, as they come (and only counted)."""
        sample = Sample(keep=defer)
        kept: list[tuple[Exchange, Expected]] = []
        remaining = count if count is not None else -1
        deadline = time.perf_counter() + seconds if seconds is not None else None

        def more() -> bool:
            nonlocal remaining
            if deadline is not None and time.perf_counter() >= deadline:
                return False
            if remaining == 0:
                return False
            remaining -= 1
            return True

        connections = await asyncio.gather(*(self.connect() for _ in range(concurrency)))

        async def worker(connection: Connection) -> None:
            while more():
                if not connection.usable:
                    connection = await self.connect()
                    if not connection.usable:
                        await asyncio.sleep(0.01)  # counted as a wrong answer below; no hot spin
                data, expected = self.make()
                exchange = await connection.request(data, REQUEST_TIMEOUT_S)
                if defer:
                    kept.append((exchange, expected))
                else:
                    self.check(exchange, expected, sample)
            connection.close()

        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        sample.wall = time.perf_counter() - start
        for exchange, expected in kept:
            self.check(exchange, expected, sample)
        return sample

    async def burst(self, streams: int) -> Sample:
        """``streams`` requests at the same instant, each on a connection opened beforehand."""
        sample = Sample()
        connections = await asyncio.gather(*(self.connect() for _ in range(streams)))
        requests = [self.make() for _ in connections]
        start = time.perf_counter()
        exchanges = await asyncio.gather(
            *(c.request(data, REQUEST_TIMEOUT_S) for c, (data, _) in zip(connections, requests, strict=True))
        )
        sample.wall = time.perf_counter() - start
        for connection in connections:
            connection.close()
        for exchange, (_, expected) in zip(exchanges, requests, strict=True):
            self.check(exchange, expected, sample)
        return sample


async def mixed_soak(workloads: list[Workload], concurrency: int, seconds: float, at: Callable[[float], None]) -> int:
    """Every workload on ``concurrency`` connections for ``seconds``, checked as it goes (nothing
    is kept: a soak is long). ``at(elapsed)`` is called about once a second. Returns errors."""
    errors = 0

    async def run(workload: Workload) -> None:
        nonlocal errors
        sample = await workload.closed_loop(concurrency, seconds=seconds, defer=False)
        errors += sample.errors

    async def tick() -> None:
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            at(elapsed)
            await asyncio.sleep(1.0)

    await asyncio.gather(tick(), *(run(w) for w in workloads))
    return errors

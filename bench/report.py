"""The comparison table: medians over rounds, what each proxy adds to the direct column, and
LiteLLM against this gateway as one ratio per row where greater than 1 means the gateway is
better (LiteLLM / gateway for added times and for costs, gateway / LiteLLM for throughputs)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["STALL_S", "Results", "Row", "render"]

#: A gap between two chunks longer than this is a stall (a user sees the text stop).
STALL_S = 0.250


_FOOTNOTE = (
    "*added*: proxy minus direct for times, proxy / direct for throughputs. *LiteLLM vs gateway*: "
    "LiteLLM / gateway for times, CPU and memory, gateway / LiteLLM for throughputs, so above 1.00x "
    "the gateway is better. CPU per request in the direct column is the mock upstream's own."
)


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    kind: str  # ms | rate | cpu | count | mib
    total: bool = False  # summed over rounds (error counts) instead of the median


def rows(concurrency: int, stream_concurrency: int, many: int) -> list[Row]:
    return [
        Row("latency_p50", "non-stream latency p50, c=1 (ms)", "ms"),
        Row("latency_p99", "non-stream latency p99, c=1 (ms)", "ms"),
        Row("throughput", f"non-stream throughput, c={concurrency} (req/s)", "rate"),
        Row("throughput_errors", f"non-stream errors at c={concurrency} (all rounds)", "count", total=True),
        Row("cpu_per_request", "CPU per non-stream request (ms)", "cpu"),
        Row("ttfc_p50", "stream time to first chunk p50, c=1 (ms)", "ms"),
        Row("stream_total_p50", "stream total time p50, c=1 (ms)", "ms"),
        Row("stream_throughput", f"stream throughput, c={stream_concurrency} (streams/s)", "rate"),
        Row("cpu_per_stream", "CPU per stream (ms)", "cpu"),
        Row("paced_gap_p50", "paced stream (5 ms) chunk gap p50 (ms)", "ms"),
        Row("paced_gap_p99", "paced stream (5 ms) chunk gap p99 (ms)", "ms"),
        Row("many_completed", f"{many} streams at once: completed", "count"),
        Row("many_errors", f"{many} streams at once: errors (all rounds)", "count", total=True),
        Row("many_max_gap", f"{many} streams at once: max chunk gap (ms)", "ms"),
    ]


@dataclass
class Results:
    """Everything the table shows; ``columns`` in order, the first is the direct column."""

    columns: list[str]
    gateway: str
    litellm: str | None
    per_round: dict[str, dict[str, list[float]]]
    rss_idle: dict[str, int | None]
    rss_loaded: dict[str, int | None]
    tallies: dict[str, tuple[int, int]]  # errors, requests
    extra: list[str] = field(default_factory=list)  # markdown after the table (soak, scaling)


def _value(values: Sequence[float], row: Row) -> float:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan
    return float(sum(finite)) if row.total else float(statistics.median(finite))


def _cell(value: float, kind: str) -> str:
    if math.isnan(value):
        return "n/a"
    if kind == "ms":
        return f"{value * 1000:.2f}"
    if kind == "cpu":
        return f"{value * 1000:.3f}"
    if kind == "mib":
        return f"{value / 1024:.1f}"
    return f"{value:.0f}"


def _added(direct: float, value: float, kind: str) -> str:
    if math.isnan(direct) or math.isnan(value):
        return "n/a"
    if kind == "ms":
        return f"{(value - direct) * 1000:+.2f} ms"
    if kind == "rate" and direct > 0:
        return f"{value / direct:.3g}x"
    return ""


def _ratio(gateway: float, litellm: float, kind: str) -> str:
    """LiteLLM / gateway for times and costs, gateway / LiteLLM for throughputs: >1 favours the
    gateway either way. Of the measured values, not of the added ones: an added time near zero
    (a gap p50 that is the mock's own 5 ms either way) would turn noise into huge ratios."""
    if any(math.isnan(v) for v in (gateway, litellm)):
        return "n/a"
    if kind == "rate":
        return f"{gateway / litellm:.2f}x" if litellm > 0 else "n/a"
    if kind in ("ms", "cpu", "mib"):
        return f"{litellm / gateway:.2f}x" if gateway > 0 else "n/a"
    return ""


def _stall_note(values: Sequence[float]) -> str:
    stalls = sum(1 for v in values if v > STALL_S)
    return f" (stall in {stalls}/{len(values)} rounds)" if stalls else ""


def render(results: Results, header: str, concurrency: int, stream_concurrency: int, many: int) -> str:
    direct, gateway, litellm = results.columns[0], results.gateway, results.litellm
    names = list(results.columns)
    titles = ["metric", *names, "gateway added"]
    if litellm is not None:
        titles += ["LiteLLM added", "LiteLLM vs gateway"]
    lines = [header, "", "| " + " | ".join(titles) + " |", "|---" + "|---:" * (len(titles) - 1) + "|"]
    for row in rows(concurrency, stream_concurrency, many):
        values = {name: _value(results.per_round[name][row.key], row) for name in names}
        cells = [_cell(values[name], row.kind) for name in names]
        if row.key == "many_max_gap":
            cells = [c + _stall_note(results.per_round[n][row.key]) for c, n in zip(cells, names, strict=True)]
        cells.append(_added(values[direct], values[gateway], row.kind))
        if litellm is not None:
            cells.append(_added(values[direct], values[litellm], row.kind))
            cells.append(_ratio(values[gateway], values[litellm], row.kind))
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    for label, source in (("RSS idle (MiB)", results.rss_idle), ("RSS after load (MiB)", results.rss_loaded)):
        values = {name: math.nan if source.get(name) is None else float(source[name] or 0) for name in names}
        cells = [_cell(values[name], "mib") for name in names] + [""]
        if litellm is not None:
            cells += ["", _ratio(values[gateway], values[litellm], "mib")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"{results.tallies[n][0]}/{results.tallies[n][1]}" for n in names] + [""]
    if litellm is not None:
        cells += ["", ""]
    lines.append("| wrong answers / requests (whole run) | " + " | ".join(cells) + " |")
    if litellm is not None:
        lines += ["", _FOOTNOTE]
    if results.extra:
        lines += ["", *results.extra]
    return "\n".join(lines) + "\n"

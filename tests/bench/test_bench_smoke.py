"""``bench/compare.py --smoke`` end to end: real processes, real sockets, correctness only."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    "| metric | upstream direct | gateway | gateway added |",
    "| non-stream latency p50, c=1 (ms) |",
    "| non-stream latency p99, c=1 (ms) |",
    "| non-stream throughput, c=64 (req/s) |",
    "| non-stream errors at c=64 (all rounds) | 0 | 0 |",
    "| CPU per non-stream request (ms) |",
    "| stream time to first chunk p50, c=1 (ms) |",
    "| stream total time p50, c=1 (ms) |",
    "| stream throughput, c=32 (streams/s) |",
    "| CPU per stream (ms) |",
    "| paced stream (5 ms) chunk gap p50 (ms) |",
    "| paced stream (5 ms) chunk gap p99 (ms) |",
    "| 64 streams at once: completed | 64 | 64 |",
    "| 64 streams at once: errors (all rounds) | 0 | 0 |",
    "| 64 streams at once: max chunk gap (ms) |",
    "| RSS idle (MiB) |",
    "| RSS after load (MiB) |",
    "| wrong answers / requests (whole run) |",
]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gateway_openai") is None,
    reason="the benchmark drives the gateway through the openai plugin (pip install ./plugins/openai)",
)
def test_smoke_run_answers_everything_correctly() -> None:
    process = subprocess.Popen(
        # Two workers too: the scaling phase, its rounds alternating with a one-worker gateway.
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--smoke", "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the bench turns it into a clean stop of the servers it started.
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"the smoke run took over 120 s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    assert process.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    for row in ROWS:
        assert row in stdout, f"missing {row!r} in:\n{stdout}"
    assert "LiteLLM" not in stdout, "smoke runs never start LiteLLM"
    scaling = next((line for line in stdout.splitlines() if line.startswith("Scaling:")), None)
    assert scaling is not None and "gateway with 2 workers" in scaling, stdout
    assert "of 1 worker measured in alternate rounds beside it" in scaling, scaling
    # Every answer was checked and none was wrong: "0/<n>" in both columns, n > 0.
    wrong = next(line for line in stdout.splitlines() if line.startswith("| wrong answers"))
    direct, gateway = (cell.strip() for cell in wrong.split("|")[2:4])
    assert direct.startswith("0/") and gateway.startswith("0/"), wrong
    assert int(direct[2:]) > 0 and int(gateway[2:]) > 0, wrong

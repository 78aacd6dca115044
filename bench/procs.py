"""Process management for the benchmark: start pinned, wait until ready, measure, stop by PID.

Every server runs in a session of its own (``start_new_session``), so stopping it signals its
process group by the PID this module started: a uvicorn supervisor and the workers it forked go
together, and nothing else on the machine is touched.

Pinning uses ``taskset -c`` (the command is exec'd, so the PID stays the one we started; every
thread and child inherits the CPU set). It is applied only when ``taskset`` exists and the
requested CPUs are in this process's affinity mask; the report says which it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

__all__ = [
    "LOAD_CPU",
    "PROXY_CPU",
    "clean_env",
    "cpu_seconds",
    "free_port",
    "pinned",
    "pinning_possible",
    "rss_kib",
    "start",
    "start_mock",
    "stop",
    "stop_servers_on_sigterm",
    "wait_http",
]

BENCH = Path(__file__).resolve().parent
#: The proxy under test gets CPU 0 to itself; the mock upstream, wrk and the asyncio client share
#: CPU 1, so whatever the proxy burns is never taken from the load or the upstream, and the
#: reverse.
PROXY_CPU = 0
LOAD_CPU = 1
STOP_GRACE_S = 5.0
# urllib would otherwise honour *_proxy variables even for loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Settings of the calling shell that would change what a server does: its own configuration
# (GATEWAY_*, LITELLM_*, OPENAI_*), a database, a proxy between it and loopback.
_DROPPED_PREFIXES = ("GATEWAY_", "LITELLM_", "OPENAI_", "ANTHROPIC_", "DATABASE_", "REDIS_")
_DROPPED_NAMES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "pythonpath"}


# Taken at import, before the benchmark pins itself to the load CPU.
_ALLOWED = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def pinning_possible(cpus: Iterable[int]) -> bool:
    return shutil.which("taskset") is not None and set(cpus) <= _ALLOWED


def pinned(command: Sequence[str], cpus: Iterable[int] | None) -> list[str]:
    """``command`` under ``taskset -c CPUS``, or unchanged when ``cpus`` is None."""
    if cpus is None:
        return list(command)
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus)), *command]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k.lower() not in _DROPPED_NAMES
    }
    env.update(extra)
    return env


def free_port() -> int:
    # Released before the server binds it; a collision fails the readiness wait loudly.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(command: Sequence[str], env: Mapping[str, str], cwd: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def wait_http(process: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path, name: str) -> None:
    """Poll ``url`` until it answers 200; RuntimeError (with the log's tail) when the process
    exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            with _OPENER.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-3000:]
    state = f"exit code {process.poll()}" if process.poll() is not None else f"no answer within {timeout:g} s"
    raise RuntimeError(f"{name} did not become ready ({state}); its log {log_path}:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group started with ``process``, SIGKILL after STOP_GRACE_S."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_GRACE_S)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # Fields after the ")" that ends the command name: state, ppid, ...
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (uvicorn workers, multiprocessing helpers)."""
    children = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``'s process tree so far (``/proc/<pid>/stat``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_kib(pid: int) -> int | None:
    """Summed VmRSS of ``pid``'s process tree in KiB; None where /proc has no answer."""
    total, seen = 0, False
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    seen = True
    return total if seen else None


def start_mock(cpus: Iterable[int] | None, log: IO[bytes], timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    """``bench/mock_server.py`` (uvloop when importable) on a free port: (process, port).

    Its stdin is a pipe we hold, so it also exits if this process dies without stopping it.
    """
    command = [sys.executable, str(BENCH / "mock_server.py"), "--uvloop", "--exit-on-stdin-eof", "--port", "0"]
    process = subprocess.Popen(
        pinned(command, cpus),
        cwd=BENCH,
        env=clean_env({}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else b""
    try:
        port = int(json.loads(line)["port"])
    except (ValueError, KeyError, TypeError):
        stop(process)
        raise RuntimeError(f"the mock upstream did not report its port (exit code {process.poll()})") from None
    return process, port


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_servers_on_sigterm() -> None:
    """Make ``SIGTERM`` (``timeout``, ``kill``) unwind like Ctrl-C, so the ``ExitStack`` that
    stops the servers runs: they live in sessions of their own and would outlive this process."""
    signal.signal(signal.SIGTERM, _interrupt)

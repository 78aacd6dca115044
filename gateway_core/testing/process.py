"""Run ``gateway serve`` as a real separate process (several workers, installed plugins, the
CLI's own start-up checks), for tests that need exactly what an operator runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServedGateway", "free_port", "serve_process"]

# urllib would otherwise honour *_proxy variables even for loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServedGateway:
    base_url: str
    process: subprocess.Popen[str]
    #: What the process wrote to stderr; filled in when it has stopped.
    stderr: list[str] = field(default_factory=list)


def _healthy(base_url: str) -> bool:
    try:
        with _OPENER.open(base_url + "/health", timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop(process: subprocess.Popen[str]) -> str:
    # The whole group: a uvicorn supervisor and the workers it spawned.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    _out, err = process.communicate()
    return err


@contextmanager
def serve_process(
    env: Mapping[str, str],
    *,
    args: Sequence[str] = (),
    cwd: str | Path | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[ServedGateway]:
    """Start ``python -m gateway_core serve`` on a free loopback port and wait for ``/health``.

    :param env: the complete environment of the process.
    :param args: extra ``serve`` arguments (``--workers 2``).
    :raises AssertionError: the process exited or did not answer in time (with its stderr).
    """
    port = free_port()
    command = [sys.executable, "-m", "gateway_core", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    served = ServedGateway(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(served.base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gateway did not start (exit code {process.poll()}): {_stop(process)}")
            time.sleep(0.05)
        yield served
    finally:
        served.stderr.append(_stop(process))

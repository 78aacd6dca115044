"""A real upstream provider process for tests and benchmarks, standard library only.

The server (``python -m gateway_core.testing.mock_upstream``) speaks provider wire formats
on loopback and plays the scenario named by each request's ``model`` (grammar in
:mod:`.scenarios`, log format in :mod:`.log`). :func:`start_mock_upstream` runs it as a
subprocess and returns a :class:`MockUpstream` handle::

    with start_mock_upstream() as upstream:
        httpx.post(upstream.base_url + "/v1/chat", json={"model": "mock/text?chunks=3", ...})
        assert upstream.requests()[0]["outcome"] == "completed"
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .scenarios import scenario_model

__all__ = ["MockUpstream", "scenario_model", "start_mock_upstream"]

# urllib would otherwise honour *_proxy variables even for loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MockUpstream:
    """Handle on a running mock upstream subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.base_url + path, method=method, data=b"" if method == "POST" else None)
        with _OPENER.open(request, timeout=10) as response:
            return json.loads(response.read())

    def requests(self) -> list[dict[str, Any]]:
        """Every provider request since the last reset, oldest first (format: :mod:`.log`)."""
        entries: list[dict[str, Any]] = self._call("GET", "/_mock/requests")
        return entries

    def reset(self) -> None:
        """Clear the request log and the ``fail_first`` counters."""
        self._call("POST", "/_mock/reset")

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """Poll the log until an entry satisfies ``predicate``; returns it or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.requests()
            for entry in entries:
                if predicate(entry):
                    return entry
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no mock upstream request matched within {timeout}s; log: {entries!r}")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after 5 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def start_mock_upstream(host: str = "127.0.0.1", *, uvloop: bool = False, timeout: float = 10.0) -> MockUpstream:
    """Start the server subprocess on a free port and wait (up to ``timeout``) until it listens."""
    # The child must import this package even when the caller's cwd is elsewhere.
    root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-P", "-m", "gateway_core.testing.mock_upstream", "--host", host, "--port", "0"]
    command += ["--exit-on-stdin-eof", *(["--uvloop"] if uvloop else [])]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    lines: queue.Queue[bytes] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    handle = MockUpstream(process, host, 0)
    try:
        line = lines.get(timeout=timeout)
        port = int(json.loads(line)["port"])
    except (queue.Empty, ValueError, KeyError, TypeError) as exc:
        handle.close()
        raise RuntimeError(f"mock upstream did not report its port (exit code {process.poll()})") from exc
    return MockUpstream(process, host, port)

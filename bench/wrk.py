"""Non-stream throughput with wrk: a C load generator, so the client is never the bottleneck.

wrk (Debian package ``wrk``) is looked up on PATH; :func:`find_wrk` can install it with
``apt-get`` when it is absent and this process may (root, apt-get present). Without wrk the
caller falls back to the asyncio client (``load.Workload.closed_loop``) and says so.

A Lua script posts one fixed body and checks every answer in wrk's ``response`` callback:
status 200, the expected content, and the expected usage numbers. Counts are per wrk thread;
``done`` sums them and prints one ``BENCH {...}`` JSON line that :func:`run_wrk` parses.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "find_wrk", "run_wrk"]

APT_TIMEOUT_S = 300.0

_SCRIPT = """
wrk.method = "POST"
wrk.path = {path}
wrk.body = {body}
{headers}
local expected = {content}
local prompt_pattern = '"prompt_tokens"%s*:%s*{prompt}[,}}]'
local completion_pattern = '"completion_tokens"%s*:%s*{completion}[,}}]'
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  bad = 0
  sample = ""
end

function response(status, headers, body)
  if status == 200 and string.find(body, expected, 1, true)
      and string.find(body, prompt_pattern) and string.find(body, completion_pattern) then
    good = good + 1
  else
    bad = bad + 1
    -- Only characters that need no escaping survive, so done() can print it inside JSON.
    if sample == "" then
      sample = status .. " " .. string.gsub(string.sub(body, 1, 200), "[^%w %-%.:,_{{}}%[%]]", ".")
    end
  end
end

function done(summary, latency, requests)
  local g, b, s = 0, 0, ""
  for _, thread in ipairs(threads) do
    g = g + thread:get("good")
    b = b + thread:get("bad")
    if s == "" then s = thread:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests":%d,"duration_us":%d,"good":%d,"bad":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"sample":%q}}\\n',
    summary.requests, summary.duration, g, b, e.connect, e.read, e.write, e.status, e.timeout, s))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    good: int
    errors: int  # wrong answers + socket errors + timeouts
    seconds: float
    sample: str

    @property
    def throughput(self) -> float:
        """Correct answers per second: a fast error must not look like throughput."""
        return self.good / self.seconds if self.seconds else 0.0


def find_wrk(install: bool) -> str | None:
    """wrk's path; with ``install``, ``apt-get install wrk`` first when it is missing and possible."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"]):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=APT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return None
        if shutil.which("wrk"):
            return shutil.which("wrk")
    # The package lists may have been stale: install once more after the update.
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True, timeout=APT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    return shutil.which("wrk")


def _lua(value: str) -> str:
    # A JSON string literal is a valid Lua string literal for the ASCII we send.
    return json.dumps(value)


def write_script(
    file: Path, path: str, headers: dict[str, str], body: bytes, content: str, prompt: int, completion: int
) -> Path:
    lines = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
    script = _SCRIPT.format(
        path=_lua(path),
        body=_lua(body.decode()),
        headers=lines,
        content=_lua(content),
        prompt=prompt,
        completion=completion,
    )
    file.write_text(script)
    return file


async def run_wrk(
    prefix: list[str], url: str, script: Path, connections: int, seconds: float, request_limit_s: float
) -> WrkResult:
    """One wrk run: one thread (it shares the load CPU with the mock), ``connections`` keep-alive
    connections, ``seconds`` long. ``prefix`` is the wrk command (behind ``taskset`` when pinned)."""
    command = [*prefix, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", f"{request_limit_s:g}s"]
    process = await asyncio.create_subprocess_exec(
        *command, "-s", str(script), url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(seconds + request_limit_s + 10):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"wrk did not finish within {seconds + request_limit_s + 10:g} s") from None
    line = next((x for x in out.decode(errors="replace").splitlines() if x.startswith("BENCH ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit code {process.returncode}): {err.decode(errors='replace')[-500:]}")
    data = json.loads(line[6:])
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return WrkResult(
        requests=data["requests"],
        good=data["good"],
        errors=data["bad"] + socket_errors,
        seconds=data["duration_us"] / 1e6,
        sample=data["sample"],
    )

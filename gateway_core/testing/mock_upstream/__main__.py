"""``python -m gateway_core.testing.mock_upstream [--host H] [--port P] [--uvloop] [--exit-on-stdin-eof]``

Prints exactly one line, ``{"port": N}``, once listening, then serves until SIGTERM/SIGINT.
``--exit-on-stdin-eof`` also stops when stdin closes, so a parent that dies without
cleaning up (a killed test run) does not leave the server behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from .server import MockServer


async def _serve(host: str, port: int, exit_on_stdin_eof: bool) -> None:
    server = MockServer()
    bound = await server.start(host, port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows event loops
            loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:

        def watch_stdin() -> None:
            # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader
            # aborts interpreter shutdown.
            with contextlib.suppress(OSError):
                while os.read(sys.stdin.fileno(), 4096):
                    pass
            with contextlib.suppress(RuntimeError):  # the loop already closed on a signal
                loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()
    sys.stdout.write(json.dumps({"port": bound}) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway_core.testing.mock_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--uvloop", action="store_true", help="use uvloop when it is importable")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args(argv)
    serve = _serve(args.host, args.port, args.exit_on_stdin_eof)
    if args.uvloop:
        try:
            # Imported by name: uvloop is optional and has no place in the type-checked deps.
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            print("mock_upstream: uvloop is not importable; using asyncio", file=sys.stderr)
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(serve)
            return 0
    asyncio.run(serve)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""uvicorn HTTP/1.1 protocols that stamp when the server read a request's first byte.

ASGI has no scope key for that moment, so without help an application can only time from
when it is called, missing what a loaded server adds: parsing, and the wait for the event loop
to run the request's task. ``gateway serve`` passes these protocols to uvicorn (``http=``), and
they put ``time.perf_counter_ns()`` of the first byte into the scope under
:data:`~gateway_core.timing.RECEIVED_KEY`; the middleware turns it into Server-Timing ``queue``.
Under any other server the key is absent and ``queue`` is 0.

- httptools (the fast C parser, preferred): stamped in ``on_message_begin``, the parser's
  callback for the first byte of a message, where uvicorn creates the scope.
- h11 (the pure-Python fallback): stamped when data arrives while the connection waits for a
  new request (h11's ``IDLE``), and put into the scope ``handle_events`` creates from it. The
  request's task only runs after ``handle_events`` returns, so it sees the key. A pipelined
  request, parsed from data that arrived during the previous one, is stamped when parsed.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from typing import Any, Literal, cast

from gateway_core.timing import RECEIVED_KEY

__all__ = ["HAS_HTTPTOOLS", "HttpChoice", "protocol_path"]

HttpChoice = Literal["auto", "httptools", "h11"]

HAS_HTTPTOOLS = importlib.util.find_spec("httptools") is not None


# The classes are built on first use (module ``__getattr__``): a server on httptools never
# imports h11 (nor one on h11 httptools).


@functools.cache
def _stamping_h11() -> type:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class StampingH11Protocol(H11Protocol):
        _began: int | None = None

        def data_received(self, data: bytes) -> None:
            if self._began is None and self.conn.their_state is h11.IDLE:
                self._began = time.perf_counter_ns()
            super().data_received(data)

        def handle_events(self) -> None:
            parsed = time.perf_counter_ns()
            before = self.scope
            super().handle_events()
            if self.scope is not before:
                cast("dict[str, Any]", self.scope)[RECEIVED_KEY] = self._began or parsed
                self._began = None

    StampingH11Protocol.__module__ = __name__
    return StampingH11Protocol


@functools.cache
def _stamping_httptools() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class StampingHttpToolsProtocol(HttpToolsProtocol):
        def on_message_begin(self) -> None:
            received = time.perf_counter_ns()
            super().on_message_begin()
            cast("dict[str, Any]", self.scope)[RECEIVED_KEY] = received

    StampingHttpToolsProtocol.__module__ = __name__
    return StampingHttpToolsProtocol


def __getattr__(name: str) -> type:
    """``StampingH11Protocol`` and (with httptools installed) ``StampingHttpToolsProtocol``:
    what :func:`protocol_path` names for uvicorn to import."""
    if name == "StampingH11Protocol":
        return _stamping_h11()
    if name == "StampingHttpToolsProtocol" and HAS_HTTPTOOLS:
        return _stamping_httptools()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def protocol_path(choice: HttpChoice = "auto") -> str:
    """The ``module:Class`` of the stamping protocol for ``choice`` (a string, not the class,
    so uvicorn can hand it to worker processes). ``auto`` is httptools when installed.

    :raises ValueError: ``httptools`` was asked for and is not installed.
    """
    if choice == "httptools" and not HAS_HTTPTOOLS:
        raise ValueError("--http httptools: the httptools package is not installed")
    use_httptools = choice == "httptools" or (choice == "auto" and HAS_HTTPTOOLS)
    name = "StampingHttpToolsProtocol" if use_httptools else "StampingH11Protocol"
    return f"{__name__}:{name}"

"""Scenario grammar, the canonical scenario objects, and the wire-renderer contract.

A request selects a scenario with its ``model`` field::

    model   := "mock/" name [ "?" params ]
    name    := "text" | "tool" | "tools_parallel" | "error" | "reset"
             | "midstream_error" | "midstream_reset" | "hang" | "echo"
    params  := key "=" value { "&" key "=" value }     (URL query syntax, values URL-decoded)

Scenarios:

- ``text``: the reply text in word chunks (``\\s*\\S+\\s*`` pieces), then a finish event.
- ``echo``: like ``text`` with the text ``echo: <last user message text>`` (string content, or
  the ``text`` / ``input_text`` parts of list content joined; a Responses ``input`` string is
  the message).
- ``tool``: ``get_weather`` ``{"city":"Paris"}``; finish ``tool_calls``.
- ``tools_parallel``: ``get_weather`` and ``get_time`` ``{"tz":"Europe/Paris"}``; each call's
  start and first argument fragment, then the remaining fragments interleaved (call 0, call 1,
  call 0, ...); arguments are split in 3 fragments. ``tool`` and ``tools_parallel`` send a
  text delta before the calls only when ``text`` is given.
- ``error``: an HTTP error; ``reset``: read the request, then RST the connection.
- ``midstream_error``: the first two chunks of the text, then an in-band error (a non-stream
  request gets that error as an HTTP error instead).
- ``midstream_reset``: the first two chunks of the text, then the connection is aborted with
  an RST (no finish, no closing frames); a non-stream request is reset without an answer.
- ``hang``: text chunks (cycled) every ``pace_ms`` (default 50) until the client leaves, or
  :data:`HANG_LIMIT_S` (10 min) passes, then finish ``length``.

Keys (every scenario accepts every key; unknown keys and malformed values are a 400):

- ``text``: reply text (default ``Hello from the mock upstream.``).
- ``chunks``: split the text into N near-equal pieces instead of words (0 = words).
- ``finish``: ``stop`` (default; ``tool_calls`` for the tool scenarios) | ``length`` |
  ``content_filter`` | ``tool_calls``.
- ``usage``: ``0`` omits usage everywhere; ``1`` (default) includes it.
- ``pace_ms``: delay between streamed events, non-stream answers wait the same total.
- ``first_ms``: delay before the first event (default 0).
- ``status`` (400..599): status of ``error`` (default 500), of ``fail_first`` failures
  (default 503) and the in-band status of ``midstream_error`` (default 500).
- ``message``: error message (default ``mock error <status>``).
- ``fail_first``: the first K requests with this exact model string fail with ``status``
  (counted per exact string, cleared by ``POST /_mock/reset``).

A scenario becomes a *plan*: :class:`Answer` (a lazy sequence of :class:`Step`, each a
delay then one canonical :data:`Event`), :class:`ErrorReply` or :class:`ResetReply`.
Wire modules turn the events into bytes; see :class:`WireFormat`.

Usage numbers are deterministic: ``input_tokens`` = ceil(bytes of the compact JSON of the
request's ``messages`` (its ``input`` on the Responses wire) / 4); ``output_tokens`` = number
of content events (text deltas plus tool-argument fragments) actually produced.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "DEFAULT_TEXT",
    "HANG_LIMIT_S",
    "SCENARIOS",
    "Answer",
    "Completion",
    "ErrorReply",
    "Event",
    "Finish",
    "Plan",
    "RequestContext",
    "ResetReply",
    "Scenario",
    "ScenarioError",
    "Step",
    "StreamError",
    "StreamRenderer",
    "TextDelta",
    "ToolCall",
    "ToolCallArgs",
    "ToolCallStart",
    "Usage",
    "WireFormat",
    "build_plan",
    "collect",
    "dumps",
    "parse_model",
    "scenario_model",
    "sse_data",
]

DEFAULT_TEXT = "Hello from the mock upstream."
SCENARIOS = frozenset(
    {"text", "tool", "tools_parallel", "error", "reset", "midstream_error", "midstream_reset", "hang", "echo"}
)
FINISH_REASONS = frozenset({"stop", "length", "content_filter", "tool_calls"})
_INT_PARAMS = frozenset({"chunks", "usage", "pace_ms", "first_ms", "status", "fail_first"})
_KNOWN_PARAMS = _INT_PARAMS | {"text", "finish", "message"}
#: ``hang`` stops on its own after this long so a leaked test never pins a process forever.
HANG_LIMIT_S = 600.0
_WORD = re.compile(r"\s*\S+\s*")


class ScenarioError(ValueError):
    """The ``model`` string does not name a valid scenario; rendered as a 400."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON, the form every frame and body uses."""
    # A shared encoder skips json.dumps' per-call setup; this is the hot path of a stream.
    return _ENCODER.encode(obj)


def sse_data(obj: Any) -> bytes:
    """One ``data:`` server-sent-event frame."""
    payload = obj if isinstance(obj, str) else dumps(obj)
    return b"data: " + payload.encode() + b"\n\n"


# --- grammar -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed ``mock/<name>?k=v`` model string."""

    model: str
    name: str
    params: Mapping[str, str]

    def text(self, default: str | None = DEFAULT_TEXT) -> str | None:
        return self.params.get("text", default)

    def number(self, key: str, default: int) -> int:
        # Values were checked in parse_model, so int() cannot fail here.
        return int(self.params[key]) if key in self.params else default

    @property
    def status(self) -> int:
        return self.number("status", 503 if self.name not in ("error", "midstream_error") else 500)

    @property
    def message(self) -> str:
        return self.params.get("message", f"mock error {self.status}")


def parse_model(model: object) -> Scenario:
    """Parse a ``model`` field; raises :class:`ScenarioError` with a client-facing message."""
    if not isinstance(model, str) or not model.startswith("mock/"):
        raise ScenarioError(f"Unknown scenario: model must look like 'mock/<scenario>', got {model!r}")
    name, _, query = model[len("mock/") :].partition("?")
    if name not in SCENARIOS:
        raise ScenarioError(f"Unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    params = dict(parse_qsl(query, keep_blank_values=True))
    for key, value in params.items():
        if key not in _KNOWN_PARAMS:
            raise ScenarioError(f"Unknown scenario parameter {key!r}")
        if key in _INT_PARAMS and not (value.isdigit() and len(value) < 10):
            raise ScenarioError(f"Scenario parameter {key!r} must be a non-negative integer, got {value!r}")
    if params.get("finish", "stop") not in FINISH_REASONS:
        raise ScenarioError(f"Scenario parameter 'finish' must be one of {sorted(FINISH_REASONS)}")
    scenario = Scenario(model=model, name=name, params=params)
    if not 400 <= scenario.status <= 599:
        raise ScenarioError("Scenario parameter 'status' must be in 400..599")
    return scenario


def scenario_model(name: str, **params: object) -> str:
    """Build a model string, e.g. ``scenario_model("text", chunks=3)`` -> ``mock/text?chunks=3``."""
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"mock/{name}?{query}" if query else f"mock/{name}"


# --- canonical events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArgs:
    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str
    usage: Usage | None


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error after the 200 head: in-band in a stream, the HTTP status of a non-stream."""

    status: int
    message: str


Event = TextDelta | ToolCallStart | ToolCallArgs | Finish | StreamError


@dataclass(frozen=True, slots=True)
class Step:
    delay_s: float
    event: Event


@dataclass(frozen=True, slots=True)
class Answer:
    """A 200 answer. ``steps`` is single-use and may be long (``hang``). ``reset``: after the
    steps, abort the connection with an RST instead of ending the answer (``midstream_reset``)."""

    steps: Iterator[Step]
    reset: bool = False


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class ResetReply:
    """Read the request, then abort the connection with an RST."""


Plan = Answer | ErrorReply | ResetReply


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass(slots=True)
class Completion:
    """A whole answer folded from its events, for non-stream rendering."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage | None = None
    error: StreamError | None = None


def collect(events: Iterable[Event]) -> Completion:
    """Fold events into a :class:`Completion` (what a non-stream request gets)."""
    out = Completion()
    calls: dict[int, ToolCall] = {}
    for event in events:
        if isinstance(event, TextDelta):
            out.text += event.text
        elif isinstance(event, ToolCallStart):
            calls[event.index] = ToolCall(event.id, event.name)
        elif isinstance(event, ToolCallArgs):
            calls[event.index].arguments += event.arguments
        elif isinstance(event, Finish):
            out.finish_reason, out.usage = event.reason, event.usage
        else:
            out.error = event
    out.tool_calls = [calls[i] for i in sorted(calls)]
    return out


# --- plans ---------------------------------------------------------------------------------


def _split(text: str, chunks: int | None) -> list[str]:
    if not text:
        return []
    if chunks is None:
        return _WORD.findall(text) or [text]
    n = max(1, min(chunks, len(text)))
    bounds = [round(i * len(text) / n) for i in range(n + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(n)]


def _conversation(body: Mapping[str, Any]) -> Any:
    """The prompt of any wire: ``messages`` (chat, Anthropic, sandbox) or ``input`` (Responses)."""
    return body["messages"] if "messages" in body else body.get("input", [])


def _last_user_text(body: Mapping[str, Any]) -> str:
    conversation = _conversation(body)
    if isinstance(conversation, str):  # Responses ``input`` given as one string
        return conversation
    for message in reversed(conversation if isinstance(conversation, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(p.get("text", ""))
                    for p in content
                    if isinstance(p, dict) and p.get("type") in ("text", "input_text")
                )
    return ""


def _input_tokens(body: Mapping[str, Any]) -> int:
    return math.ceil(len(dumps(_conversation(body)).encode()) / 4)


def _tool_events(seq: int, calls: list[tuple[str, str]]) -> Iterator[TextDelta | ToolCallStart | ToolCallArgs]:
    """Each call's start, then its argument fragments interleaved across calls."""
    fragments = [_split(arguments, 3) for _, arguments in calls]
    for i, (name, _) in enumerate(calls):
        yield ToolCallStart(i, f"call_mock{seq}_{i}", name)
        yield ToolCallArgs(i, fragments[i][0])
    for round_ in range(1, max(len(f) for f in fragments)):
        for i, frags in enumerate(fragments):
            if round_ < len(frags):
                yield ToolCallArgs(i, frags[round_])


def _steps(
    scenario: Scenario, contents: Iterable[Event], finish: Event | None, body: Mapping[str, Any], pace_ms: int
) -> Iterator[Step]:
    first_s, pace_s = scenario.number("first_ms", 0) / 1000, pace_ms / 1000
    produced = 0
    for i, event in enumerate(contents):
        yield Step(first_s if i == 0 else pace_s, event)
        produced += isinstance(event, TextDelta | ToolCallArgs)
    if isinstance(finish, Finish) and scenario.number("usage", 1):
        # Usage is only known once the content has been produced (hang ends by the clock).
        finish = Finish(finish.reason, Usage(_input_tokens(body), produced))
    if finish is not None:
        yield Step(0.0, finish)


def _hang_contents(pieces: list[str]) -> Iterator[TextDelta]:
    deadline = time.monotonic() + HANG_LIMIT_S
    i = 0
    while time.monotonic() < deadline:
        yield TextDelta(pieces[i % len(pieces)])
        i += 1


def build_plan(scenario: Scenario, body: Mapping[str, Any], seq: int) -> Plan:
    """Turn a parsed scenario and the request body into what the server plays."""
    name, chunks = scenario.name, (scenario.number("chunks", 0) or None)
    pace_ms = scenario.number("pace_ms", 50 if name == "hang" else 0)
    finish = Finish(scenario.params.get("finish", "tool_calls" if name.startswith("tool") else "stop"), None)
    if name == "error":
        return ErrorReply(scenario.status, scenario.message)
    if name == "reset":
        return ResetReply()
    contents: Iterable[Event]
    if name in ("text", "echo"):
        text = f"echo: {_last_user_text(body)}" if name == "echo" else scenario.text()
        contents = [TextDelta(p) for p in _split(text or "", chunks)]
    elif name in ("tool", "tools_parallel"):
        calls = [("get_weather", dumps({"city": "Paris"}))]
        if name == "tools_parallel":
            calls.append(("get_time", dumps({"tz": "Europe/Paris"})))
        lead = [TextDelta(p) for p in _split(scenario.text(None) or "", chunks)]
        contents = [*lead, *_tool_events(seq, calls)]
    elif name == "midstream_error":
        contents = [TextDelta(p) for p in _split(scenario.text() or "", chunks)[:2]]
        return Answer(_steps(scenario, contents, StreamError(scenario.status, scenario.message), body, pace_ms))
    elif name == "midstream_reset":
        contents = [TextDelta(p) for p in _split(scenario.text() or "", chunks)[:2]]
        return Answer(_steps(scenario, contents, None, body, pace_ms), reset=True)
    else:  # hang
        contents = _hang_contents(_split(scenario.text() or "", chunks) or ["tick "])
        finish = Finish("length", None)
    return Answer(_steps(scenario, contents, finish, body, pace_ms))


# --- renderer contract ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a renderer may need besides the events: ids, the echoed model, the request body."""

    seq: int
    model: str
    body: Mapping[str, Any]
    created: int


class StreamRenderer(Protocol):
    """Renders one stream. Each returned ``bytes`` is one complete SSE frame; the server
    writes and flushes each one as its own HTTP chunk."""

    def start(self) -> list[bytes]:
        """Frames sent right after the response head (e.g. a role delta)."""
        ...

    def event(self, event: Event) -> list[bytes]:
        """Frames for one canonical event (``StreamError`` is the last event when present)."""
        ...

    def end(self, *, errored: bool) -> list[bytes]:
        """Closing frames (e.g. ``data: [DONE]``); ``errored`` after an in-band error."""
        ...


class WireFormat(Protocol):
    """A provider wire format. Add one by writing a module with an instance of this and
    registering it in ``server.WIRES`` under the path suffix it serves."""

    name: str

    def completion(self, ctx: RequestContext, result: Completion) -> dict[str, Any]:
        """The non-stream 200 JSON body."""
        ...

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The JSON body of an HTTP error response."""
        ...

    def stream(self, ctx: RequestContext) -> StreamRenderer:
        """A fresh renderer for one streamed response."""
        ...

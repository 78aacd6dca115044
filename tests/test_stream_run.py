"""``EventStream.batches`` (:mod:`gateway_core.stream_run`): events grouped by the upstream read
that carried them, a failure decoded after events of the same read raised only once those
events are out, nothing read past ``Done``. The stream runs through the real pipeline against
a provider whose in-process upstream answers with scripted reads, one per chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import httpx
import pytest

from gateway_core.errors import GatewayError, ProviderError
from gateway_core.hookspecs import hookimpl
from gateway_core.payments import NoPayment
from gateway_core.pipeline import CallRequest
from gateway_core.runtime import build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.stream_run import EventStream
from gateway_core.testing.providers import KeylessSettings
from gateway_core.types import (
    Done,
    Message,
    OperationSupport,
    Output,
    ProviderCall,
    ProviderContext,
    ProviderSettings,
    ProviderSpec,
    StreamDecoder,
    StreamEvent,
    TextDelta,
    UpstreamFrame,
    UpstreamRequest,
    UpstreamResponse,
)

pytestmark = pytest.mark.anyio

PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 1}}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Reads(httpx.AsyncByteStream):
    """An upstream body that arrives as exactly these reads; counts what was pulled."""

    def __init__(self, reads: Sequence[bytes]) -> None:
        self.reads = reads
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for read in self.reads:
            self.pulled += 1
            yield read

    async def aclose(self) -> None:
        self.closed = True


class _Decoder:
    """ndjson lines: ``{"text": …}`` is a delta, ``{"done": reason}`` the end, ``{"fail": …}``
    an in-band upstream error, ``{"garble": …}`` something the plugin cannot translate."""

    def feed(self, frame: UpstreamFrame) -> Iterable[StreamEvent]:
        line = frame.json()
        if "fail" in line:
            raise ProviderError(429, line["fail"])
        if "garble" in line:
            raise KeyError(line["garble"])
        if "done" in line:
            return (Done(line["done"]),)
        return (TextDelta(line["text"]),)

    def close(self) -> Iterable[StreamEvent]:
        return (Done("eof"),)


class ScriptedProvider:
    """Provider ``scripted`` (model ``scripted``): its upstream streams :attr:`body`."""

    def __init__(self, reads: Sequence[bytes]) -> None:
        self.body = _Reads(reads)

    def _transport(self, settings: ProviderSettings) -> httpx.AsyncBaseTransport:
        async def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=self.body)

        return httpx.MockTransport(answer)

    @hookimpl
    def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [
            ProviderSpec(
                name="scripted",
                settings_model=KeylessSettings,
                operations={"chat": OperationSupport()},
                transport=self._transport,
            )
        ]

    @hookimpl
    def gateway_list_models(self, provider: ProviderContext) -> list[dict[str, Any]]:
        return [{"modelId": "scripted", "type": "chat", "pricing": PRICING}]

    @hookimpl
    def gateway_build_request(self, call: ProviderCall, provider: ProviderContext) -> UpstreamRequest:
        return UpstreamRequest("POST", "/stream", json={}, stream=call.stream, stream_format="ndjson")

    @hookimpl
    def gateway_parse_response(
        self, call: ProviderCall, provider: ProviderContext, response: UpstreamResponse
    ) -> Output:
        raise AssertionError("these tests only stream")

    @hookimpl
    def gateway_stream_decoder(
        self, call: ProviderCall, provider: ProviderContext, headers: Mapping[str, str]
    ) -> StreamDecoder:
        return _Decoder()


async def _collect(stream: EventStream) -> tuple[list[list[StreamEvent]], BaseException | None]:
    """The batches delivered, and what ended the iteration early, if anything."""
    batches: list[list[StreamEvent]] = []
    try:
        async for batch in stream.batches():
            batches.append(batch)
    except Exception as exc:  # noqa: BLE001 - returned for the test to assert on
        return batches, exc
    return batches, None


async def _run(provider: ScriptedProvider) -> tuple[list[list[StreamEvent]], BaseException | None, EventStream]:
    """Open the stream through the pipeline and iterate its batches to the end."""
    runtime = build_runtime(
        GatewaySettings.from_config({}), extra_plugins=[("scripted", provider)], payments=NoPayment()
    )
    await runtime.start()
    try:
        request = CallRequest(
            route="chat",
            model="scripted",
            request_id="req_stream_run",
            headers={},
            stream=True,
            messages=[Message(role="user", content="hi")],
        )
        plan = await runtime.pipeline.prepare(request)
        stream = await runtime.pipeline.open_stream(plan)
        batches, failure = await _collect(stream)
        await (stream.fail() if failure is not None else stream.finish())
        return batches, failure, stream
    finally:
        await runtime.stop()


def _text(*texts: str) -> list[StreamEvent]:
    return [TextDelta(t) for t in texts]


async def test_events_of_one_read_are_one_batch() -> None:
    provider = ScriptedProvider(
        [
            b'{"text":"a"}\n{"text":"b"}\n',
            b'{"text":"c"}\n',
            b'{"text":"d"}\n{"text":"e"}\n{"text":"f"}\n',
            b'{"done":"stop"}\n',
        ]
    )
    batches, failure, stream = await _run(provider)
    assert failure is None
    assert batches == [_text("a", "b"), _text("c"), _text("d", "e", "f"), [Done("stop")]]
    assert stream.accumulated.output().content == "abcdef"


async def test_a_frame_split_across_reads_is_delivered_with_the_read_that_completes_it() -> None:
    provider = ScriptedProvider([b'{"text":"a"}\n{"te', b'xt":"b"}\n{"text":"c"}\n', b'{"done":"stop"}\n'])
    batches, failure, _ = await _run(provider)
    assert failure is None
    assert batches == [_text("a"), _text("b", "c"), [Done("stop")]]


async def test_reads_without_events_produce_no_batch() -> None:
    # A blank keep-alive line, then half a frame: neither is an event, neither is a batch.
    provider = ScriptedProvider([b'{"text":"a"}\n', b"\n", b'{"text"', b':"b"}\n'])
    batches, failure, _ = await _run(provider)
    assert failure is None
    assert batches == [_text("a"), _text("b"), [Done("eof")]], "the decoder's close ends a stream without Done"


@pytest.mark.parametrize(
    "reads",
    [
        pytest.param([b'{"text":"a"}\n{"text":"b"}\n{"fail":"quota"}\n{"text":"never"}\n'], id="first-read"),
        pytest.param(
            [b'{"text":"a"}\n', b'{"text":"b"}\n{"fail":"quota"}\n{"text":"never"}\n', b'{"text":"never"}\n'],
            id="later-read",
        ),
    ],
)
async def test_a_failure_after_events_of_the_same_read_follows_those_events(reads: list[bytes]) -> None:
    provider = ScriptedProvider(reads)
    batches, failure, stream = await _run(provider)
    assert [event for batch in batches for event in batch] == _text("a", "b")
    assert batches[-1][-1] == TextDelta("b"), "the events before the failure form the last batch"
    assert isinstance(failure, GatewayError)
    assert (failure.status, failure.code, failure.message) == (429, "rate_limit_exceeded", "quota")
    assert stream.accumulated.output().content == "ab", "what the client received is what is metered"
    assert provider.body.closed


async def test_an_untranslatable_frame_after_events_is_a_502_after_them() -> None:
    provider = ScriptedProvider([b'{"text":"a"}\n', b'{"text":"b"}\n{"garble":"choices"}\n'])
    batches, failure, _ = await _run(provider)
    assert batches == [_text("a"), _text("b")]
    assert isinstance(failure, GatewayError)
    assert (failure.status, failure.code) == (502, "upstream_error")


async def test_iteration_stops_at_done() -> None:
    provider = ScriptedProvider(
        [b'{"text":"a"}\n', b'{"text":"b"}\n{"done":"stop"}\n{"text":"after"}\n', b'{"text":"later read"}\n']
    )
    batches, failure, stream = await _run(provider)
    assert failure is None
    assert batches == [_text("a"), [TextDelta("b"), Done("stop")]]
    assert stream.accumulated.output().content == "ab"
    assert provider.body.pulled == 2, "no read after the one that carried Done"
    assert provider.body.closed


async def test_done_in_the_first_read_ends_the_stream_there() -> None:
    provider = ScriptedProvider([b'{"text":"a"}\n{"done":"length"}\n{"text":"after"}\n', b'{"text":"later"}\n'])
    batches, failure, _ = await _run(provider)
    assert failure is None
    assert batches == [[TextDelta("a"), Done("length")]]
    assert provider.body.pulled == 1

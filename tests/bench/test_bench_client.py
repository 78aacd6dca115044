"""The load client's framing and answer checks, and the report's arithmetic, without servers."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from answers import WrongAnswer, check_completion, check_stream, expected_for
from http_client import Connection, Exchange, _Framer
from mock_wire import openai_completion, openai_stream_frames
from procs import free_port
from report import Results, render


def _framed(raw: bytes, cuts: list[int]) -> Exchange:
    exchange = Exchange(sent=0.0)
    framer = _Framer(exchange)
    bounds = [0, *(c for c in cuts if 0 < c < len(raw)), len(raw)]
    complete = False
    for index, (start, end) in enumerate(pairwise(bounds)):
        complete = framer.feed(float(index + 1), raw[start:end])
    assert complete
    exchange.done = float(len(bounds))
    return exchange


def _chunked_stream(text: str, chunks: int, include_usage: bool = True, done: bool = True) -> bytes:
    head, frames, tail = openai_stream_frames("m", text, chunks, include_usage)
    if not done:
        tail = tail.replace(b"data: [DONE]\n\n", b"")
    body = b"".join(b"%x\r\n%b\r\n" % (len(part), part) for part in [head, *frames, tail])
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


@pytest.mark.parametrize("cuts", [[], [1], [30, 31, 32, 300], list(range(1, 2000, 7))], ids=str)
def test_a_chunked_stream_survives_any_split(cuts: list[int]) -> None:
    exchange = _framed(_chunked_stream("q1", 5), cuts)
    timing = check_stream(exchange, expected_for("q1", 5))
    assert len(timing.gaps) == 4
    assert timing.ttfc > 0 and timing.total >= timing.ttfc


def test_content_length_completion() -> None:
    body = openai_completion("m", "q2", 3)
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    assert check_completion(_framed(raw, [10, len(raw) - 5]), expected_for("q2", 3)) > 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(_chunked_stream("other", 5), "streamed content", id="someone-elses-answer"),
        pytest.param(_chunked_stream("q1", 4), "streamed content", id="a-chunk-missing"),
        pytest.param(_chunked_stream("q1", 5, include_usage=False), "no usage", id="no-usage"),
        pytest.param(_chunked_stream("q1", 5, done=False), "[DONE]", id="no-done"),
    ],
)
def test_wrong_streams_are_caught(raw: bytes, message: str) -> None:
    with pytest.raises(WrongAnswer, match=message.replace("[", r"\[")):
        check_stream(_framed(raw, []), expected_for("q1", 5))


def test_wrong_status_and_usage_are_caught() -> None:
    body = b'{"error":{"message":"no"}}'
    raw = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    with pytest.raises(WrongAnswer, match="status 502"):
        check_completion(_framed(raw, []), expected_for("q", 3))
    body = openai_completion("m", "q", 3).replace(b'"prompt_tokens":1', b'"prompt_tokens":7')
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    with pytest.raises(WrongAnswer, match="usage"):
        check_completion(_framed(raw, []), expected_for("q", 3))


def _results(litellm: bool) -> Results:
    names = ["upstream direct", "gateway", *(["LiteLLM x"] if litellm else [])]
    values = {"upstream direct": (0.001, 10_000.0), "gateway": (0.002, 1_000.0), "LiteLLM x": (0.005, 250.0)}
    per_round: dict[str, dict[str, list[float]]] = {}
    for name in names:
        latency, rate = values[name]
        keys = ["latency_p50", "latency_p99", "ttfc_p50", "stream_total_p50", "paced_gap_p50", "paced_gap_p99"]
        row = {key: [latency, latency, latency * 2] for key in keys}
        row |= {"throughput": [rate] * 3, "stream_throughput": [rate] * 3, "cpu_per_request": [latency] * 3}
        row |= {"cpu_per_stream": [latency] * 3, "throughput_errors": [1, 0, 2], "many_completed": [512] * 3}
        row |= {"many_errors": [0] * 3, "many_max_gap": [0.1, 0.3, 0.4]}
        per_round[name] = row
    return Results(
        columns=names,
        gateway="gateway",
        litellm="LiteLLM x" if litellm else None,
        per_round=per_round,
        rss_idle=dict.fromkeys(names, 102_400),
        rss_loaded=dict.fromkeys(names, 204_800),
        tallies=dict.fromkeys(names, (0, 10)),
    )


def test_report_ratios_favour_the_gateway_above_one() -> None:
    table = render(_results(litellm=True), "header", 64, 32, 512)
    line = next(x for x in table.splitlines() if x.startswith("| non-stream latency p50"))
    # direct 1 ms, gateway 2 ms, LiteLLM 5 ms: added 1 and 4 ms, LiteLLM/gateway = 2.5x.
    assert line == "| non-stream latency p50, c=1 (ms) | 1.00 | 2.00 | 5.00 | +1.00 ms | +4.00 ms | 2.50x |"
    line = next(x for x in table.splitlines() if x.startswith("| non-stream throughput"))
    assert line.endswith("| 0.1x | 0.025x | 4.00x |")
    line = next(x for x in table.splitlines() if x.startswith("| non-stream errors"))
    assert "| 3 | 3 | 3 |" in line  # summed over the rounds, not a median
    line = next(x for x in table.splitlines() if x.startswith("| 512 streams at once: max chunk gap"))
    assert "300.00 (stall in 2/3 rounds)" in line


def test_report_without_litellm_has_no_litellm_columns() -> None:
    table = render(_results(litellm=False), "header", 64, 32, 512)
    assert "| metric | upstream direct | gateway | gateway added |" in table
    assert "LiteLLM" not in table


def test_a_refused_connection_is_a_wrong_answer_not_a_crash() -> None:
    async def attempt() -> Exchange:
        connection = await Connection.open("127.0.0.1", free_port(), 5)
        assert not connection.usable
        return await connection.request(b"GET / HTTP/1.1\r\n\r\n", 5)

    exchange = asyncio.run(attempt())
    assert exchange.error is not None and exchange.error.startswith("connect failed")

"""Max-cost estimates, output-cap lowering and quotability (spec/payments.md §5)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from gateway_core.catalog import Catalog
from gateway_core.chat import normalize_chat_request, output_cap
from gateway_core.payments.pricing import PricingError, is_quotable, largest_output_cap, max_cost, meter
from gateway_core.types import Usage
from gateway_core.usage import estimate_input_tokens

REPO = Path(__file__).resolve().parents[2]
TOKENS = "usd_per_1m_tokens"


def shipped(model_id: str) -> dict[str, Any]:
    found = Catalog.load([REPO / "catalog.yaml"]).resolve(model_id)
    assert found is not None
    return found.data


def row(*sections: dict[str, Any]) -> dict[str, Any]:
    return {"modelId": "m", "provider": "p", "pricing": {"sections": list(sections)}}


def section(unit_key: str, entries: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"unitKey": unit_key, "entries": entries, **extra}


ECHO = row(section(TOKENS, {"input": 0.25, "cached_input": 0.025, "output": 1.5}))


def test_challenge_example_sandbox_echo() -> None:
    # payments.md §6.3: M = 2 + 6144 + fee 62 = 6208.
    echo = shipped("sandbox-echo")
    request = normalize_chat_request({"model": "sandbox-echo", "messages": [{"role": "user", "content": "hi"}]})
    e_in = estimate_input_tokens(request.messages, request.tools, request.response_format, 1000)
    cap = output_cap(request.requested_max_tokens, echo, default=1)
    assert (e_in, cap) == (8, 4096)
    assert max_cost(echo, e_in, cap, fee_bps=100) == 6208


def test_example_d_hold_lowers_cap() -> None:
    echo = shipped("sandbox-echo")
    assert max_cost(echo, 800, 1000, fee_bps=100) == 1717
    assert largest_output_cap(echo, 800, 1000, 1000, fee_bps=100) == 526
    assert max_cost(echo, 800, 526, fee_bps=100) == 999
    assert max_cost(echo, 800, 527, fee_bps=100) == 1001


@pytest.mark.parametrize(
    ("priced", "input_tokens", "cap", "expected"),
    [
        pytest.param(ECHO, 1000, 0, 250 + 3, id="cached-ignored"),
        pytest.param(
            row(section(TOKENS, {"input": 1, "output": 2, "reasoning": 5})), 10, 100, 510 + 6, id="reasoning-max"
        ),
        pytest.param(
            row(section(TOKENS, {"input": 1, "output": 5, "reasoning": 2})), 10, 100, 510 + 6, id="output-max"
        ),
        pytest.param(row(section(TOKENS, {"input": 1, "reasoning": 3})), 10, 100, 310 + 4, id="reasoning-only"),
        pytest.param(row(section(TOKENS, {"cost": 2})), 10, 100, 220 + 3, id="cost-only"),
        pytest.param(row(section(TOKENS, {"input": 0.02})), 3, 0, 1 + 1, id="embeddings"),
        pytest.param(ECHO, 0, 0, 0, id="nothing"),
        pytest.param(
            row(section(TOKENS, {"input": 1}, maxPromptTokens=100), section(TOKENS, {"input": 3}, minPromptTokens=100)),
            101,
            0,
            303 + 4,
            id="tier-by-estimate",
        ),
        pytest.param(row(section("usd_per_request", {"price": 0.01})), 500, 500, 10_100, id="request-priced-text"),
    ],
)
def test_max_cost_tokens(priced: dict[str, Any], input_tokens: int, cap: int, expected: int) -> None:
    assert max_cost(priced, input_tokens, cap, fee_bps=100) == expected


@pytest.mark.parametrize(
    ("model_id", "metrics", "expected"),
    [
        pytest.param("sandbox-image", {"request": 1, "image": 1, "generation": 1}, 40_400, id="image"),
        pytest.param("sandbox-image", {"image": 2, "size": "1536x1024"}, 121_200, id="image-size"),
        pytest.param("sandbox-video", {"request": 1, "video": 1, "second": 4, "minute": 4 / 60}, 404_000, id="video"),
        pytest.param("sandbox-tts", {"request": 1, "character": 2000}, 30_300, id="speech"),
    ],
)
def test_max_cost_media(model_id: str, metrics: dict[str, Any], expected: int) -> None:
    assert max_cost(shipped(model_id), 0, 0, fee_bps=100, metrics=metrics) == expected


def test_max_cost_adds_media_quote_to_tokens() -> None:
    priced = row(section(TOKENS, {"input": 1}), section("usd_per_image", {"image": 0.001}))
    assert max_cost(priced, 10, 0, fee_bps=0, metrics={"image": 3}) == 10 + 3000
    assert max_cost(priced, 10, 0, fee_bps=0) == 10


def test_max_cost_rejects_unpriced_rows() -> None:
    with pytest.raises(PricingError):
        max_cost({"modelId": "m", "provider": "p"}, 1, 1, fee_bps=100)


# --- §5.2 output-cap lowering -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_tokens", "cap", "budget", "expected"),
    [
        pytest.param(800, 1000, 10**9, 1000, id="fits-unchanged"),
        pytest.param(800, 1000, 1717, 1000, id="exact-budget"),
        pytest.param(800, 1000, 1716, 999, id="one-below"),
        pytest.param(800, 1000, 1000, 526, id="example-d"),
        pytest.param(800, 1000, 205, 1, id="only-cap-1"),  # 200 + 2 + fee 3 = 205
        pytest.param(800, 1000, 204, None, id="cap-1-too-expensive"),
        pytest.param(0, 1, 0, None, id="zero-budget"),
        pytest.param(0, 1, 3, 1, id="single-token"),  # 2 + fee 1
    ],
)
def test_largest_output_cap(input_tokens: int, cap: int, budget: int, expected: int | None) -> None:
    assert largest_output_cap(ECHO, input_tokens, cap, budget, fee_bps=100) == expected


def test_largest_output_cap_rejects_zero_cap() -> None:
    with pytest.raises(ValueError, match="output_cap"):
        largest_output_cap(ECHO, 1, 0, 100, fee_bps=100)


PROPERTY_ROWS = [
    pytest.param(ECHO, id="echo"),
    pytest.param(row(section(TOKENS, {"input": 3, "output": 0.7, "reasoning": 11.3})), id="reasoning"),
    pytest.param(row(section("usd_per_3k_tokens", {"cost": 0.0123})), id="cost-only-odd-scale"),
    pytest.param(row(section(TOKENS, {"input": 0.02})), id="no-output-price"),
]


@pytest.mark.parametrize("priced", PROPERTY_ROWS)
@pytest.mark.parametrize("fee_bps", [0, 100, 333])
def test_largest_output_cap_is_the_boundary(priced: dict[str, Any], fee_bps: int) -> None:
    rng = random.Random(f"{fee_bps}")
    for _ in range(200):
        input_tokens = rng.randrange(0, 50_000)
        cap = rng.randrange(1, 100_000)
        full = max_cost(priced, input_tokens, cap, fee_bps=fee_bps)
        budget = rng.randrange(0, full + 50)
        found = largest_output_cap(priced, input_tokens, cap, budget, fee_bps=fee_bps)
        if found is None:
            assert max_cost(priced, input_tokens, 1, fee_bps=fee_bps) > budget
            continue
        assert 1 <= found <= cap
        assert max_cost(priced, input_tokens, found, fee_bps=fee_bps) <= budget
        assert found == cap or max_cost(priced, input_tokens, found + 1, fee_bps=fee_bps) > budget


# --- §5.3 quotability ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priced", "metrics", "quotable"),
    [
        pytest.param(ECHO, None, True, id="token-call"),
        pytest.param("sandbox-image", {"request": 1, "image": 1}, True, id="image"),
        pytest.param("sandbox-video", {"request": 1, "second": 4}, True, id="video"),
        pytest.param("sandbox-tts", {"request": 1, "character": 12}, True, id="speech"),
        pytest.param("sandbox-stt", {"request": 1}, False, id="transcription-seconds-unknown"),
        pytest.param(row(section("usd_per_request", {"price": 1})), None, True, id="request-priced-text"),
        pytest.param(row(section("usd_per_second", {"price": 1})), None, False, id="seconds-priced-text"),
        pytest.param(row(section(TOKENS, {"input": 1})), {"image": 1}, False, id="needs-provider-tokens"),
        pytest.param(
            row(section(TOKENS, {"input": 1}), section("usd_per_image", {"image": 1})),
            {"image": 1},
            False,
            id="token-section-on-media-call",
        ),
        pytest.param(
            row(section("usd_per_request", {"o": 1}, default=True), section("usd_per_second", {"o": 1}, default=True)),
            {"request": 1},
            False,
            id="a-default-section-unknown",
        ),
        pytest.param(
            row(section("usd_per_second", {"o": 1}), section("usd_per_request", {"o": 1})),
            {"request": 1},
            False,
            id="first-section-unknown",
        ),
        pytest.param(
            row(section("usd_per_image", {"a": 1, "b": 2})), {"image": 1, "size": "c"}, False, id="no-entry-match"
        ),
    ],
)
def test_is_quotable(priced: dict[str, Any] | str, metrics: dict[str, Any] | None, quotable: bool) -> None:
    resolved = shipped(priced) if isinstance(priced, str) else priced
    assert is_quotable(resolved, metrics) is quotable


def test_max_cost_is_what_metering_those_counts_charges() -> None:
    # max_cost sums the amounts without building line items; it must equal the final amount
    # meter() bills for input = the estimate and output = the cap, whatever the pricing shape.
    shapes = [
        row(section(TOKENS, {"input": 0.25, "output": 1.5})),
        row(section(TOKENS, {"input": 3, "output": 15, "reasoning": 20})),
        row(section(TOKENS, {"output": 0.4})),
        row(section(TOKENS, {"input": 0.1})),
        row(section(TOKENS, {"cost": 0.7})),
        row(
            section(TOKENS, {"input": 1.25, "output": 10}, maxPromptTokens=200_000),
            section(TOKENS, {"input": 2.5, "output": 15}, minPromptTokens=200_000),
        ),
        shipped("sandbox-echo"),
    ]
    rng = random.Random(6)
    for priced in shapes:
        for _ in range(60):
            input_tokens, cap = rng.choice([0, 1, 7, 999, 250_001]), rng.choice([0, 1, 64, 4096, 100_000])
            fee_bps = rng.choice([0, 1, 100, 250])
            usage = Usage(prompt_tokens=input_tokens, completion_tokens=cap)
            reasoning_priced = "reasoning" in str(priced)
            metered = meter(priced, usage, fee_bps=fee_bps)
            quoted = max_cost(priced, input_tokens, cap, fee_bps=fee_bps)
            if reasoning_priced:
                # Output is quoted at max(output, reasoning): at least what plain output bills.
                assert quoted >= metered.final_amount
            else:
                assert quoted == metered.final_amount, (priced, input_tokens, cap, fee_bps)

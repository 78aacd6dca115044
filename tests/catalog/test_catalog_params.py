"""Parameter ladders and the defaults ranking (spec/models.md §3.5)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.catalog import PARAM_LADDERS, Catalog, param_defaults, params_response, unknown_params_response
from gateway_core.catalog.params import option_rank


@pytest.mark.parametrize(
    ("modality", "defaults"),
    [
        pytest.param("image", {"n": 1, "aspect_ratio": "1:1", "output_format": "jpeg"}, id="image"),
        pytest.param("video", {"duration": 4, "aspect_ratio": "16:9", "output_format": "mp4"}, id="video"),
        pytest.param("audio", {"output_format": "mp3"}, id="audio"),
        pytest.param("embedding", {}, id="embedding"),
        pytest.param("text", {}, id="text"),
        pytest.param("realtime", {}, id="realtime"),
    ],
)
def test_ladder_defaults(modality: str, defaults: dict[str, Any]) -> None:
    assert param_defaults(PARAM_LADDERS[modality]) == defaults


@pytest.mark.parametrize(
    ("key", "option", "rank"),
    [
        pytest.param("n", 3, 3.0, id="number"),
        pytest.param("quality", "draft", 1.0, id="word-low"),
        pytest.param("quality", "Medium", 2.0, id="word-medium"),
        pytest.param("quality", "hd", 3.0, id="word-high"),
        pytest.param("quality", "ultra", 4.0, id="word-max"),
        pytest.param("quality", "auto", None, id="auto-never"),
        pytest.param("duration", "12", 12.0, id="numeric-string"),
        pytest.param("duration", "8s", 8.0, id="seconds"),
        pytest.param("other", "1024x768", 1024.0 * 768, id="size-like"),
        pytest.param("other", "720p", 720.0, id="pixels"),
        pytest.param("size", "720p", None, id="size-only-wxh"),
        pytest.param("size", "512x512", 512.0 * 512, id="size-wxh"),
        pytest.param("resolution", "1080P", 1080.0, id="resolution-p"),
        pytest.param("resolution", "1280x720", None, id="resolution-only-p"),
        pytest.param("resolution", "4K", None, id="resolution-4k"),
        pytest.param("aspect_ratio", "16:9", None, id="ratio-never"),
        pytest.param("n", True, None, id="boolean"),
    ],
)
def test_option_rank(key: str, option: Any, rank: float | None) -> None:
    assert option_rank(key, option) == rank


@pytest.mark.parametrize(
    ("params", "defaults"),
    [
        pytest.param({"duration": {"options": ["10s", "5s", "8s"]}}, {"duration": "5s"}, id="lowest-rank"),
        pytest.param({"duration": {"options": ["8", "4s", "4"]}}, {"duration": "4s"}, id="ties-keep-order"),
        pytest.param({"output_format": {"options": ["png", "jpeg"]}}, {"output_format": "png"}, id="no-rank-first"),
        pytest.param({"duration": {"options": ["auto", 6]}}, {"duration": 6}, id="auto-skipped"),
        pytest.param({"n": {"options": [1, 2], "default": 2}}, {"n": 2}, id="explicit-default-wins"),
        pytest.param({"n": {"options": [3, 2], "default": "auto"}}, {"n": 2}, id="auto-default-ignored"),
        pytest.param({"size": {"options": ["512x512"], "default": "1024x1024"}}, {"size": "1024x1024"}, id="size"),
        pytest.param({"size": {"options": ["512x512"]}}, {}, id="size-needs-explicit"),
        pytest.param({"resolution": {"default": "auto"}}, {}, id="resolution-auto"),
        pytest.param({"quality": {"options": ["low"], "default": "low"}}, {}, id="unranked-key"),
        pytest.param({"prompt_extend": {"options": [True, False]}}, {"prompt_extend": True}, id="booleans-first"),
        pytest.param({"music_length_ms": {"options": [30000, 10000]}}, {"music_length_ms": 10000}, id="music"),
    ],
)
def test_param_defaults(params: dict[str, Any], defaults: dict[str, Any]) -> None:
    assert param_defaults(params) == defaults


CATALOG = Catalog.from_rows(
    [
        {"modelId": "vid", "provider": "p", "type": ["text-to-image", "text-to-video"]},
        {"modelId": "plain", "provider": "p"},
    ]
)


def test_params_response_prefers_video_then_image() -> None:
    body = params_response(CATALOG.curated[0])
    assert (body["modelId"], body["type"], body["provider"]) == ("vid", "video", "p")
    assert list(body["params"]) == ["duration", "fps", "size", "aspect_ratio", "resolution", "output_format"]


def test_params_response_override_and_no_capability() -> None:
    override = {"steps": {"type": "integer", "required": False, "options": [20, 50]}}
    body = params_response(CATALOG.curated[0], override)
    assert body["params"] == override
    assert body["defaults"] == {}
    assert params_response(CATALOG.curated[1]) == {
        "modelId": "plain",
        "type": None,
        "provider": "p",
        "params": {},
        "defaults": {},
    }


def test_unknown_params_response() -> None:
    empty: dict[str, Any] = {"modelId": "x", "type": None, "provider": None, "params": {}, "defaults": {}}
    assert unknown_params_response("x") == empty

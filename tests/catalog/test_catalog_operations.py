"""Operation derivation (spec/models.md §1.5) and the schema of file-given operations."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.catalog import derive_operations, normalize_kind
from gateway_core.catalog.errors import FieldError
from gateway_core.catalog.operations import RULES, validate_operations

UNITS = [{"unitKey": "usd_per_1m_tokens", "unit": "Per 1M tokens", "entries": {"input": 1}, "valueKeys": ["input"]}]


def _ops(row: dict[str, Any]) -> list[tuple[str, str, bool, list[str], list[str]]]:
    return [
        (op["modality"], op["operation"], op["streamable"], op["input"], op["output"])
        for op in derive_operations(row, UNITS)
    ]


def test_there_are_sixteen_rules() -> None:
    assert len(RULES) == 16


# Each case: row fields -> the capabilities derived, as (modality, operation, streamable, input, output).
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # Rule 1: chat types with text-compatible input/output.
        pytest.param(
            {"type": "chat", "input": ["text", "image", "pdf"], "output": ["text"]},
            [("text", "chat", True, ["text", "image"], ["text"])],
            id="r1-chat-keeps-media-inputs-drops-pdf",
        ),
        pytest.param({"type": "text-generation"}, [("text", "chat", True, ["text"], ["text"])], id="r1-empty-io"),
        pytest.param(
            {"type": "Chat Completions"}, [("text", "chat", True, ["text"], ["text"])], id="r1-type-normalized"
        ),
        pytest.param(
            {"type": "speech", "input": ["text"]}, [("text", "chat", True, ["text"], ["text"])], id="r1-speech"
        ),
        pytest.param({"type": "chat", "input": ["image"], "output": ["text"]}, [], id="r1-input-lacks-text"),
        pytest.param({"type": "chat", "output": ["image"]}, [], id="r1-output-lacks-text"),
        # Rule 2: named text operations.
        pytest.param(
            {"type": ["responses", "completions", "deep_research"]},
            [
                ("text", "responses", True, ["text"], ["text"]),
                ("text", "completion", True, ["text"], ["text"]),
                ("text", "deep-research", True, ["text"], ["text"]),
            ],
            id="r2-named-ops-completions-renamed",
        ),
        pytest.param(
            {"type": ["completion", "completions"]},
            [("text", "completion", True, ["text"], ["text"])],
            id="r2-duplicate-dropped",
        ),
        pytest.param(
            {"type": ["search", "question-answering", "summarization", "translation", "moderation"]},
            [
                ("text", "search", True, ["text"], ["text"]),
                ("text", "question-answering", True, ["text"], ["text"]),
                ("text", "summarization", True, ["text"], ["text"]),
                ("text", "translation", True, ["text"], ["text"]),
                ("text", "moderation", True, ["text"], ["text"]),
            ],
            id="r2-all-named",
        ),
        # Rule 3: classification.
        pytest.param(
            {"type": ["zero_shot_classification", "text-classification"]},
            [("text", "classification", True, ["text"], ["text"])],
            id="r3-classification-once",
        ),
        # Rule 4: speech-to-text.
        pytest.param(
            {"type": "automatic-speech-recognition", "input": ["audio", "text"], "output": ["text"]},
            [("text", "speech-to-text", False, ["audio", "text"], ["text"])],
            id="r4-stt-type",
        ),
        pytest.param(
            {"input": ["audio"], "output": ["text"]},
            [("text", "speech-to-text", False, ["audio"], ["text"])],
            id="r4-untyped-audio-only",
        ),
        pytest.param({"input": ["audio", "text"], "output": ["text"]}, [], id="r4-untyped-with-text-input"),
        pytest.param(
            {"type": "chat", "input": ["audio", "text"], "output": ["text"]},
            [("text", "chat", True, ["audio", "text"], ["text"])],
            id="r4-chat-with-audio-is-not-stt",
        ),
        # Rule 5: vision chat.
        pytest.param(
            {"type": "image-text-to-text", "input": ["image", "text"], "output": ["text"]},
            [("text", "vision-chat", True, ["image", "text"], ["text"])],
            id="r5-vision-chat",
        ),
        # Rule 6: embeddings.
        pytest.param(
            {"type": "embeddings", "input": ["text"]},
            [("embedding", "text-to-embedding", False, ["text"], ["embedding"])],
            id="r6-text",
        ),
        pytest.param(
            {"type": "feature-extraction", "input": ["text", "image"]},
            [("embedding", "multimodal-embedding", False, ["text", "image"], ["embedding"])],
            id="r6-multimodal",
        ),
        pytest.param(
            {"type": "text-embeddings", "input": ["image"]},
            [("embedding", "image-to-embedding", False, ["image"], ["embedding"])],
            id="r6-image",
        ),
        pytest.param(
            {"type": "text-to-embedding", "input": ["audio"]},
            [("embedding", "audio-to-embedding", False, ["audio"], ["embedding"])],
            id="r6-audio",
        ),
        pytest.param(
            {"type": "embeddings"},
            [("embedding", "text-to-embedding", False, ["text"], ["embedding"])],
            id="r6-no-input",
        ),
        # Rule 7: text-to-image.
        pytest.param(
            {"type": "text-to-image"}, [("image", "text-to-image", True, ["text"], ["image"])], id="r7-t2i-type"
        ),
        pytest.param(
            {"type": "image-generation", "input": ["text"], "output": ["image"]},
            [("image", "text-to-image", True, ["text"], ["image"])],
            id="r7-image-generation-text-in",
        ),
        pytest.param({"type": "unconditional-image-generation"}, [], id="r7-generation-without-io"),
        # Rule 8: image-to-image.
        pytest.param(
            {"type": "inpainting", "input": ["image"]},
            [("image", "image-to-image", True, ["image"], ["image"])],
            id="r8-inpainting",
        ),
        pytest.param(
            {"type": "image-generation", "input": ["text", "image"], "output": ["image"]},
            [
                ("image", "text-to-image", True, ["text"], ["image"]),
                ("image", "image-to-image", True, ["image", "text"], ["image"]),
            ],
            id="r7-r8-image-generation-both",
        ),
        # Rule 9: image-to-text.
        pytest.param(
            {"type": "image-to-text", "input": ["image", "text"]},
            [("image", "image-to-text", True, ["image", "text"], ["text"])],
            id="r9-image-to-text",
        ),
        pytest.param(
            {"type": "image_to_text"},
            [("image", "image-to-text", True, ["image"], ["text"])],
            id="r9-no-text-input",
        ),
        # Rule 10: text-to-video.
        pytest.param(
            {"type": "text-to-video"}, [("video", "text-to-video", False, ["text"], ["video"])], id="r10-t2v-type"
        ),
        pytest.param(
            {"type": "video-generation", "input": ["text"], "output": ["video"]},
            [("video", "text-to-video", False, ["text"], ["video"])],
            id="r10-video-generation-text-only",
        ),
        # Rule 11: image-to-video.
        pytest.param(
            {"type": "videos", "input": ["text", "image"], "output": ["video"]},
            [("video", "image-to-video", False, ["image", "text"], ["video"])],
            id="r11-videos-with-image-is-not-t2v",
        ),
        pytest.param(
            {"type": "image-to-video", "input": ["image"]},
            [("video", "image-to-video", False, ["image"], ["video"])],
            id="r11-i2v-type",
        ),
        # Rule 12: video edit.
        pytest.param(
            {"type": "video-to-video"}, [("video", "video-edit", False, ["video"], ["video"])], id="r12-default-input"
        ),
        pytest.param(
            {"type": "video-generation", "input": ["video", "text"], "output": ["video"]},
            [("video", "video-edit", False, ["video", "text"], ["video"])],
            id="r12-video-generation-video-in",
        ),
        # Rule 13: text-to-speech.
        pytest.param(
            {"type": "speech-generation"},
            [("audio", "text-to-speech", False, ["text"], ["audio"])],
            id="r13-tts",
        ),
        # Rule 14: text-to-audio.
        pytest.param(
            {"type": ["music-generation", "sound-effects"]},
            [("audio", "text-to-audio", False, ["text"], ["audio"])],
            id="r14-tta-once",
        ),
        # Rule 15: speech-to-speech.
        pytest.param(
            {"type": "voice-changer"},
            [("audio", "speech-to-speech", False, ["audio"], ["audio"])],
            id="r15-sts",
        ),
        # Rule 16: realtime.
        pytest.param(
            {"type": "realtime"},
            [("realtime", "realtime-speech", True, ["audio", "text"], ["audio", "text"])],
            id="r16-realtime-type",
        ),
        pytest.param(
            {"type": "chat", "input": ["text", "audio"], "output": ["text"], "capabilities": ["realtime"]},
            [
                ("text", "chat", True, ["text", "audio"], ["text"]),
                ("realtime", "realtime-speech", True, ["text", "audio"], ["text"]),
            ],
            id="r16-capability-array",
        ),
        pytest.param(
            {"capabilities": {"realtime": True}},
            [("realtime", "realtime-speech", True, ["audio", "text"], ["audio", "text"])],
            id="r16-capability-object",
        ),
        pytest.param({"capabilities": {"realtime": False}}, [], id="r16-capability-false"),
        # No capability.
        pytest.param({"type": "mystery"}, [], id="unknown-type"),
        pytest.param({}, [], id="no-fields"),
    ],
)
def test_derivation_rules(row: dict[str, Any], expected: list[tuple[str, str, bool, list[str], list[str]]]) -> None:
    assert _ops(row) == expected


def test_capability_shape() -> None:
    ops = derive_operations({"type": ["Text_To_Image", "image-to-image"], "input": ["text", "image"]}, UNITS)
    assert ops[0] == {
        "modality": "image",
        "operation": "text-to-image",
        "sourceTypes": ["text-to-image", "image-to-image"],
        "input": ["text"],
        "output": ["image"],
        "pricingUnits": UNITS,
        "streamable": True,
    }
    assert ops[1]["pricingUnits"] == ops[0]["pricingUnits"]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        pytest.param("Text_To Image", "text-to-image", id="mixed"),
        pytest.param("a__/ b", "a-b", id="run-collapsed"),
        pytest.param(" chat ", "chat", id="trimmed"),
    ],
)
def test_normalize_kind(raw: str, normalized: str) -> None:
    assert normalize_kind(raw) == normalized


def test_given_operations_fill_source_types_and_units() -> None:
    given = [{"modality": "text", "operation": "chat", "input": ["text"], "output": ["text"], "streamable": True}]
    assert validate_operations(given, ["chat"], UNITS) == [
        {
            "modality": "text",
            "operation": "chat",
            "sourceTypes": ["chat"],
            "input": ["text"],
            "output": ["text"],
            "pricingUnits": UNITS,
            "streamable": True,
        }
    ]


def _cap(**changes: Any) -> dict[str, Any]:
    cap: dict[str, Any] = {"modality": "text", "operation": "chat", "input": ["text"], "output": ["text"]}
    cap["streamable"] = True
    cap.update(changes)
    return {key: value for key, value in cap.items() if value is not None}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        pytest.param({"modality": "text"}, "operations", id="not-array"),
        pytest.param(["chat"], "operations[0]", id="item-not-object"),
        pytest.param([_cap(modality="speech")], "operations[0].modality", id="bad-modality"),
        pytest.param([_cap(operation="Chat")], "operations[0].operation", id="bad-operation"),
        pytest.param([_cap(streamable="yes")], "operations[0].streamable", id="streamable-not-bool"),
        pytest.param([_cap(streamable=None)], "operations[0].streamable", id="streamable-missing"),
        pytest.param([_cap(input=None)], "operations[0].input", id="input-missing"),
        pytest.param([_cap(output="text")], "operations[0].output", id="output-not-array"),
        pytest.param([_cap(sourceTypes=[1])], "operations[0].sourceTypes", id="source-types-not-strings"),
        pytest.param([_cap(pricingUnits={})], "operations[0].pricingUnits", id="units-not-array"),
        pytest.param(
            [_cap(pricingUnits=[{"entries": {}}])], "operations[0].pricingUnits[0].unitKey", id="unit-without-key"
        ),
        pytest.param(
            [_cap(pricingUnits=[{"unitKey": "usd_per_image", "entries": {"a": "1"}}])],
            "operations[0].pricingUnits[0].entries",
            id="unit-entry-not-number",
        ),
    ],
)
def test_invalid_given_operations(value: Any, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        validate_operations(value, [], UNITS)
    assert caught.value.field == field

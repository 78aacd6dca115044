"""Operation capabilities of catalog rows (spec/models.md §1.5).

A row's ``type``, ``input``, ``output`` and ``capabilities`` are classified into
``ModelOperationCapability`` objects by the 16 ordered rules of the derivation table. Each rule
is a small function of the normalized row facts returning the capabilities it adds, so the
table in the spec and :data:`RULES` read the same way. A row whose file gives ``operations``
skips derivation; :func:`validate_operations` checks those against the schema instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_core.catalog.errors import FieldError

__all__ = [
    "MODALITIES",
    "OPERATION_RE",
    "RULES",
    "RowFacts",
    "derive_operations",
    "normalize_kind",
    "row_facts",
    "validate_operations",
]

MODALITIES: tuple[str, ...] = ("text", "image", "audio", "video", "embedding", "realtime")
OPERATION_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_SEPARATORS = re.compile(r"[_\s/]+")
_CHAT_INPUTS = ("text", "image", "audio", "video")
_MEDIA_INPUTS = ("image", "audio", "video")

_CHAT_TYPES = frozenset(
    {"chat", "chat-completions", "text-to-text", "conversational", "text-generation", "reasoning", "speech"}
)
_NAMED_TEXT_TYPES = {
    "responses": "responses",
    "completion": "completion",
    "completions": "completion",
    "search": "search",
    "deep-research": "deep-research",
    "question-answering": "question-answering",
    "summarization": "summarization",
    "translation": "translation",
    "moderation": "moderation",
}
_CLASSIFICATION_TYPES = frozenset(
    {"classification", "text-classification", "token-classification", "zero-shot-classification"}
)
_STT_TYPES = frozenset({"speech-to-text", "transcription", "automatic-speech-recognition"})
_EMBEDDING_TYPES = frozenset({"embeddings", "text-embeddings", "text-to-embedding", "feature-extraction"})
_IMAGE_GEN_TYPES = frozenset({"image-generation", "unconditional-image-generation"})
_IMAGE_EDIT_TYPES = frozenset({"image-to-image", "image-edit", "inpainting", "outpainting"})
_VIDEO_GEN_TYPES = frozenset({"video-generation", "videos"})
_VIDEO_EDIT_TYPES = frozenset({"video-edit", "video-to-video"})
_TTS_TYPES = frozenset({"text-to-speech", "speech-generation"})
_TTA_TYPES = frozenset({"text-to-audio", "music-generation", "sound-effects", "text-to-sound-effects"})
_STS_TYPES = frozenset({"speech-to-speech", "voice-conversion", "voice-changer"})
_REALTIME_TYPES = frozenset({"realtime", "realtime-speech"})


def normalize_kind(value: str) -> str:
    """Lowercase and turn runs of ``_``, whitespace and ``/`` into ``-`` (spec §1.5)."""
    return _SEPARATORS.sub("-", value.strip().lower())


def _normalized_list(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        kind = normalize_kind(item)
        if kind and kind not in out:
            out.append(kind)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RowFacts:
    """What the derivation rules read from a row, already normalized."""

    types: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    realtime_capability: bool = False

    def has_type(self, names: frozenset[str] | set[str]) -> bool:
        return any(t in names for t in self.types)

    @property
    def text_io(self) -> bool:
        """The input/output condition shared by rules 1-3."""
        return (not self.input or "text" in self.input) and (not self.output or "text" in self.output)

    def plus_text(self, first: str) -> list[str]:
        """``[first]`` plus ``text`` when the row accepts text: the ``(+text)`` of the table."""
        return [first, "text"] if "text" in self.input else [first]


def row_facts(row: Mapping[str, Any]) -> RowFacts:
    """Extract the normalized facts the rules need from a (validated) row."""
    capabilities = row.get("capabilities")
    if isinstance(capabilities, Mapping):
        realtime = any(normalize_kind(k) == "realtime" and v is True for k, v in capabilities.items())
    elif isinstance(capabilities, list):
        realtime = any(normalize_kind(name) == "realtime" for name in capabilities)
    else:
        realtime = False
    return RowFacts(
        types=_normalized_list(row.get("type")),
        input=_normalized_list(row.get("input")),
        output=_normalized_list(row.get("output")),
        realtime_capability=realtime,
    )


# (modality, operation, streamable, input, output) — one capability a rule adds.
Capability = tuple[str, str, bool, list[str], list[str]]
Rule = Callable[[RowFacts], list[Capability]]


def _chat_input(facts: RowFacts) -> list[str]:
    return [k for k in facts.input if k in _CHAT_INPUTS] or ["text"]


def _rule_chat(f: RowFacts) -> list[Capability]:
    if f.has_type(_CHAT_TYPES) and f.text_io:
        return [("text", "chat", True, _chat_input(f), ["text"])]
    return []


def _rule_named_text(f: RowFacts) -> list[Capability]:
    if not f.text_io:
        return []
    ops = [_NAMED_TEXT_TYPES[t] for t in f.types if t in _NAMED_TEXT_TYPES]
    return [("text", op, True, _chat_input(f), ["text"]) for op in ops]


def _rule_classification(f: RowFacts) -> list[Capability]:
    if f.has_type(_CLASSIFICATION_TYPES) and f.text_io:
        return [("text", "classification", True, _chat_input(f), ["text"])]
    return []


def _rule_speech_to_text(f: RowFacts) -> list[Capability]:
    if "audio" in f.input and "text" in f.output and (f.has_type(_STT_TYPES) or "text" not in f.input):
        return [("text", "speech-to-text", False, f.plus_text("audio"), ["text"])]
    return []


def _rule_vision_chat(f: RowFacts) -> list[Capability]:
    if "image-text-to-text" in f.types:
        return [("text", "vision-chat", True, ["image", "text"], ["text"])]
    return []


def _rule_embedding(f: RowFacts) -> list[Capability]:
    if not f.has_type(_EMBEDDING_TYPES):
        return []
    media = [k for k in f.input if k in _MEDIA_INPUTS]
    if "text" in f.input and media:
        op, kinds = "multimodal-embedding", [k for k in f.input if k in _CHAT_INPUTS]
    elif "image" in f.input:
        op, kinds = "image-to-embedding", ["image"]
    elif "audio" in f.input:
        op, kinds = "audio-to-embedding", ["audio"]
    else:
        op, kinds = "text-to-embedding", ["text"]
    return [("embedding", op, False, kinds, ["embedding"])]


def _rule_text_to_image(f: RowFacts) -> list[Capability]:
    generic = f.has_type(_IMAGE_GEN_TYPES) and "image" in f.output and "text" in f.input
    if "text-to-image" in f.types or generic:
        return [("image", "text-to-image", True, ["text"], ["image"])]
    return []


def _rule_image_to_image(f: RowFacts) -> list[Capability]:
    if f.has_type(_IMAGE_EDIT_TYPES) or ("image-generation" in f.types and "image" in f.input):
        return [("image", "image-to-image", True, f.plus_text("image"), ["image"])]
    return []


def _rule_image_to_text(f: RowFacts) -> list[Capability]:
    if "image-to-text" in f.types:
        return [("image", "image-to-text", True, f.plus_text("image"), ["text"])]
    return []


def _rule_text_to_video(f: RowFacts) -> list[Capability]:
    no_media_input = "image" not in f.input and "video" not in f.input
    generic = f.has_type(_VIDEO_GEN_TYPES) and "video" in f.output and "text" in f.input and no_media_input
    if "text-to-video" in f.types or generic:
        return [("video", "text-to-video", False, ["text"], ["video"])]
    return []


def _rule_image_to_video(f: RowFacts) -> list[Capability]:
    if "image-to-video" in f.types or (f.has_type(_VIDEO_GEN_TYPES) and "image" in f.input):
        return [("video", "image-to-video", False, f.plus_text("image"), ["video"])]
    return []


def _rule_video_edit(f: RowFacts) -> list[Capability]:
    if f.has_type(_VIDEO_EDIT_TYPES) or (f.has_type(_VIDEO_GEN_TYPES) and "video" in f.input):
        return [("video", "video-edit", False, list(f.input) or ["video"], ["video"])]
    return []


def _rule_text_to_speech(f: RowFacts) -> list[Capability]:
    if f.has_type(_TTS_TYPES):
        return [("audio", "text-to-speech", False, ["text"], ["audio"])]
    return []


def _rule_text_to_audio(f: RowFacts) -> list[Capability]:
    if f.has_type(_TTA_TYPES):
        return [("audio", "text-to-audio", False, ["text"], ["audio"])]
    return []


def _rule_speech_to_speech(f: RowFacts) -> list[Capability]:
    if f.has_type(_STS_TYPES):
        return [("audio", "speech-to-speech", False, ["audio"], ["audio"])]
    return []


def _rule_realtime(f: RowFacts) -> list[Capability]:
    if f.has_type(_REALTIME_TYPES) or f.realtime_capability:
        kinds = ["audio", "text"]
        return [("realtime", "realtime-speech", True, list(f.input) or kinds, list(f.output) or kinds)]
    return []


# The derivation table of spec/models.md §1.5, rules 1-16 in order.
RULES: tuple[Rule, ...] = (
    _rule_chat,
    _rule_named_text,
    _rule_classification,
    _rule_speech_to_text,
    _rule_vision_chat,
    _rule_embedding,
    _rule_text_to_image,
    _rule_image_to_image,
    _rule_image_to_text,
    _rule_text_to_video,
    _rule_image_to_video,
    _rule_video_edit,
    _rule_text_to_speech,
    _rule_text_to_audio,
    _rule_speech_to_speech,
    _rule_realtime,
)


def derive_operations(row: Mapping[str, Any], units: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Classify a validated row into capabilities; ``units`` are its ``pricingUnits``.

    A second capability with an already seen ``modality:operation`` is dropped.
    """
    facts = row_facts(row)
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for rule in RULES:
        for modality, operation, streamable, kinds_in, kinds_out in rule(facts):
            if (modality, operation) in seen:
                continue
            seen.add((modality, operation))
            out.append(
                {
                    "modality": modality,
                    "operation": operation,
                    "sourceTypes": list(facts.types),
                    "input": kinds_in,
                    "output": kinds_out,
                    "pricingUnits": [dict(unit) for unit in units],
                    "streamable": streamable,
                }
            )
    return out


def validate_operations(
    value: Any, source_types: Sequence[str], units: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Check ``operations`` given in a file against the ``ModelOperationCapability`` schema.

    ``modality``, ``operation``, ``input``, ``output`` and ``streamable`` are required.
    ``sourceTypes`` and ``pricingUnits`` default to the row's own values, because they are
    defined as identical on every capability of a row and repeating them by hand invites drift.
    Unknown keys are dropped.

    :raises FieldError: with a path relative to the row.
    """
    if not isinstance(value, list):
        raise FieldError("operations", "must be an array")
    return [_validate_capability(cap, f"operations[{i}]", source_types, units) for i, cap in enumerate(value)]


def _validate_capability(
    cap: Any, path: str, source_types: Sequence[str], units: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if not isinstance(cap, Mapping):
        raise FieldError(path, "must be an object")
    modality = cap.get("modality")
    if modality not in MODALITIES:
        raise FieldError(f"{path}.modality", f"must be one of {', '.join(MODALITIES)}")
    operation = cap.get("operation")
    if not isinstance(operation, str) or not OPERATION_RE.match(operation):
        raise FieldError(f"{path}.operation", "must match ^[a-z0-9][a-z0-9-]*$")
    streamable = cap.get("streamable")
    if not isinstance(streamable, bool):
        raise FieldError(f"{path}.streamable", "is required and must be a boolean")
    out: dict[str, Any] = {"modality": modality, "operation": operation}
    out["sourceTypes"] = _string_list(cap, "sourceTypes", path, default=list(source_types))
    out["input"] = _string_list(cap, "input", path)
    out["output"] = _string_list(cap, "output", path)
    given_units = cap.get("pricingUnits")
    if given_units is None:
        out["pricingUnits"] = [dict(unit) for unit in units]
    else:
        out["pricingUnits"] = _validate_units(given_units, f"{path}.pricingUnits")
    out["streamable"] = streamable
    return out


def _string_list(cap: Mapping[str, Any], key: str, path: str, default: list[str] | None = None) -> list[str]:
    value = cap.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FieldError(f"{path}.{key}", "is required and must be an array of strings")
    return list(value)


def _validate_units(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise FieldError(path, "must be an array")
    units: list[dict[str, Any]] = []
    for i, unit in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(unit, Mapping):
            raise FieldError(where, "must be an object")
        if not isinstance(unit.get("unitKey"), str) or not unit["unitKey"]:
            raise FieldError(f"{where}.unitKey", "is required and must be a non-empty string")
        entries = unit.get("entries")
        if not isinstance(entries, Mapping) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in entries.values()
        ):
            raise FieldError(f"{where}.entries", "is required and must be an object of numbers")
        checked: dict[str, Any] = {"unitKey": unit["unitKey"]}
        for key in ("unit", "header"):
            if unit.get(key) is not None:
                if not isinstance(unit[key], str):
                    raise FieldError(f"{where}.{key}", "must be a string")
                checked[key] = unit[key]
        checked["entries"] = dict(entries)
        checked["valueKeys"] = _string_list(unit, "valueKeys", where, default=list(entries))
        if unit.get("default") is not None:
            if not isinstance(unit["default"], bool):
                raise FieldError(f"{where}.default", "must be a boolean")
            checked["default"] = unit["default"]
        units.append(checked)
    return units

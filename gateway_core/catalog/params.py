"""Generation parameters per modality and their defaults (spec/models.md §3.5).

Parameters are ladders per modality, not per model; a provider plugin may replace a row's
ladder (``param_catalog``). :func:`param_defaults` derives the defaults that feed metering and
holds from whichever ladder applies: an explicit ``default`` (not ``auto``) wins, else the
lowest-ranked option of the keys that are ranked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gateway_core.catalog.rows import CatalogRow

__all__ = [
    "PARAMS_MODALITY_ORDER",
    "PARAM_ALIASES",
    "PARAM_LADDERS",
    "option_rank",
    "param_defaults",
    "params_modality",
    "params_response",
    "unknown_params_response",
]

# Which modality a row's params describe: the first of these the row has a capability in.
PARAMS_MODALITY_ORDER: tuple[str, ...] = ("video", "image", "audio", "text", "embedding", "realtime")

# Request spellings the generation routes accept for these params (top level or in
# ``custom_params``), canonical name -> aliases.
PARAM_ALIASES: Mapping[str, tuple[str, ...]] = {
    "duration": ("seconds", "duration_seconds", "durationSeconds"),
    "n": ("num_images", "sample_count", "sampleCount"),
    "aspect_ratio": ("aspectRatio", "size_ratio", "sizeRatio", "ratio"),
    "output_format": ("format", "response_format", "responseFormat"),
}

# Keys whose default is the lowest-ranked option when no explicit default is given.
_RANKED_KEYS = ("duration", "aspect_ratio", "output_format", "n", "music_length_ms", "prompt_extend")
# Keys that only take an explicit default.
_EXPLICIT_ONLY_KEYS = ("resolution", "size")
_WORD_RANKS: Mapping[str, int] = {
    "low": 1,
    "standard": 1,
    "draft": 1,
    "medium": 2,
    "high": 3,
    "hd": 3,
    "max": 4,
    "ultra": 4,
}
_SIZE_RE = re.compile(r"^([0-9]+)\s*[xX]\s*([0-9]+)$")
_PIXELS_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)[pP]$")
_SECONDS_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)[sS]$")


def _param(kind: str, options: Sequence[Any], description: str, default: Any = None) -> dict[str, Any]:
    param: dict[str, Any] = {"type": kind, "required": False}
    if default is not None:
        param["default"] = default
    param["options"] = list(options)
    param["description"] = description
    return param


PARAM_LADDERS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "image": {
        "n": _param("integer", [1, 2, 3, 4, 6, 8], "Number of images to generate.", default=1),
        "size": _param(
            "string",
            ["512x512", "768x768", "1024x1024", "1024x1792", "1792x1024", "2048x2048"],
            "Generated image size.",
        ),
        "aspect_ratio": _param(
            "string", ["1:1", "4:5", "5:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21"], "Image aspect ratio."
        ),
        "resolution": _param("string", ["720P", "1080P", "4K"], "Output resolution class."),
        "quality": _param("string", ["low", "standard", "medium", "high", "hd", "max"], "Rendering quality."),
        "output_format": _param("string", ["jpeg", "jpg", "webp", "png", "gif"], "Image file format."),
    },
    "video": {
        "duration": _param("integer", [4, 5, 6, 8, 10, 12], "Clip length in seconds."),
        "fps": _param("integer", [16, 24, 30, 60], "Frames per second."),
        "size": _param("string", ["854x480", "1280x720", "1920x1080", "3840x2160"], "Frame size."),
        "aspect_ratio": _param("string", ["16:9", "9:16", "1:1", "21:9"], "Video aspect ratio."),
        "resolution": _param("string", ["480P", "540P", "720P", "768P", "1080P", "4K"], "Output resolution class."),
        "output_format": _param("string", ["mp4", "webm", "mov"], "Video container format."),
    },
    "audio": {
        "output_format": _param("string", ["mp3", "opus", "aac", "ogg", "wav", "flac"], "Audio file format."),
        "sample_rate": _param("integer", [8000, 16000, 22050, 24000, 32000, 44100, 48000], "Sample rate in Hz."),
        "speed": _param("number", [1], "Playback speed multiplier.", default=1),
        "duration_seconds": _param("number", [1, 5, 10, 15, 30, 60], "Length of generated audio in seconds."),
    },
    "embedding": {
        "encoding_format": _param("string", ["float", "base64"], "Encoding of returned vectors."),
        "truncate": _param("string", ["END", "START", "NONE", "auto"], "How over-long input is truncated."),
    },
    "text": {},
    "realtime": {},
}


def option_rank(key: str, option: Any) -> float | None:
    """Rank of one option for the defaults rule; ``None`` when it does not rank.

    Numbers rank as themselves; quality words by the spec's table; numeric strings, ``WxH``
    (W·H), ``<n>p`` and ``<n>s`` by their number. For ``size`` only ``WxH`` ranks, for
    ``resolution`` only ``<n>p``; ``auto`` never ranks.
    """
    if isinstance(option, bool):
        return None
    if isinstance(option, (int, float)):
        return float(option)
    if not isinstance(option, str):
        return None
    text = option.strip()
    size = _SIZE_RE.match(text)
    pixels = _PIXELS_RE.match(text)
    if key == "size":
        return float(int(size.group(1)) * int(size.group(2))) if size else None
    if key == "resolution":
        return float(pixels.group(1)) if pixels else None
    if text.lower() == "auto":
        return None
    if text.lower() in _WORD_RANKS:
        return float(_WORD_RANKS[text.lower()])
    if size:
        return float(int(size.group(1)) * int(size.group(2)))
    seconds = _SECONDS_RE.match(text)
    for match in (pixels, seconds):
        if match:
            return float(match.group(1))
    try:
        return float(text)
    except ValueError:
        return None


def _lowest_option(key: str, options: Sequence[Any]) -> Any:
    best: Any = None
    best_rank: float | None = None
    for option in options:
        rank = option_rank(key, option)
        # Strictly lower only, so ties keep option order.
        if rank is not None and (best_rank is None or rank < best_rank):
            best, best_rank = option, rank
    return best if best_rank is not None else options[0]


def param_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``defaults`` object for a params ladder (spec §3.5)."""
    defaults: dict[str, Any] = {}
    for key, spec in params.items():
        if not isinstance(spec, Mapping) or key not in _RANKED_KEYS + _EXPLICIT_ONLY_KEYS:
            continue
        explicit = spec.get("default")
        options = spec.get("options")
        if explicit is not None and explicit != "auto":
            defaults[key] = explicit
        elif key in _RANKED_KEYS and isinstance(options, list) and options:
            defaults[key] = _lowest_option(key, options)
    return defaults


def params_modality(row: CatalogRow) -> str | None:
    """The modality a row's params describe, or ``None`` for a row without capabilities."""
    modalities = set(row.modalities())
    return next((m for m in PARAMS_MODALITY_ORDER if m in modalities), None)


def params_response(row: CatalogRow, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``ModelParamsResponse`` of a row; ``override`` replaces the modality ladder."""
    modality = params_modality(row)
    if override is not None:
        params = {key: dict(value) if isinstance(value, Mapping) else value for key, value in override.items()}
    elif modality is not None:
        params = {key: dict(value) for key, value in PARAM_LADDERS[modality].items()}
    else:
        params = {}
    return {
        "modelId": row.model_id,
        "type": modality,
        "provider": row.provider,
        "params": params,
        "defaults": param_defaults(params),
    }


def unknown_params_response(model_id: str) -> dict[str, Any]:
    """The 200 answer for an id the catalog does not know."""
    return {"modelId": model_id, "type": None, "provider": None, "params": {}, "defaults": {}}

"""Helpers both OpenAI wire formats share: Chat Completions (:mod:`.adapter`) and the
Responses API (:mod:`.responses_wire`). Pure functions, no I/O.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any

import orjson

from gateway_core import ProviderError
from gateway_core.types import AudioPart, FilePart, Usage

__all__ = ["count", "data_url", "detail", "file_name", "inline_audio", "is_reasoning_model", "json_text", "usage_of"]

# MIME subtypes clients use for the two formats ``input_audio`` accepts.
_AUDIO_FORMATS: Mapping[str, str] = {"mpeg": "mp3", "mp3": "mp3", "wav": "wav", "x-wav": "wav", "wave": "wav"}


def json_text(value: Any) -> str:
    """``value`` as JSON text; a string is taken to be JSON text already."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def count(value: Any) -> int | None:
    """A token count from the wire: an int (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def detail(usage: Mapping[str, Any], group: str, key: str) -> int | None:
    """A count nested one level down in a usage object (``prompt_tokens_details.cached_tokens``)."""
    details = usage.get(group)
    return count(details.get(key)) if isinstance(details, Mapping) else None


def usage_of(data: Any, input_name: str, output_name: str) -> Usage | None:
    """An OpenAI usage object -> :class:`Usage`. Chat names its counts ``prompt_tokens`` /
    ``completion_tokens``, Responses ``input_tokens`` / ``output_tokens``; both put the cached
    and reasoning counts under ``<name>_details`` and may omit ``total_tokens``."""
    if not isinstance(data, Mapping):
        return None
    prompt, completion = count(data.get(input_name)), count(data.get(output_name))
    total = count(data.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cached_input_tokens=detail(data, f"{input_name}_details", "cached_tokens"),
        reasoning_tokens=detail(data, f"{output_name}_details", "reasoning_tokens"),
    )


def data_url(url: str) -> tuple[str, str] | None:
    """``(mime type, base64 payload)`` of a base64 ``data:`` URL, else ``None``."""
    if url[:5].lower() != "data:":
        return None
    header, sep, payload = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not sep or encoding.lower() != "base64":
        return None
    return mime.strip().lower(), payload


def inline_audio(part: AudioPart) -> dict[str, Any]:
    """The ``input_audio`` part (same shape on both wires); only inline ``data:`` audio exists
    there, so an http(s) URL is refused rather than fetched by the gateway."""
    parsed = data_url(part.url)
    if parsed is None or not parsed[0].startswith("audio/"):
        raise ProviderError(400, "audio URL inputs are not supported by this model")
    subtype = parsed[0].removeprefix("audio/")
    return {"type": "input_audio", "input_audio": {"data": parsed[1], "format": _AUDIO_FORMATS.get(subtype, subtype)}}


def file_name(part: FilePart, mime: str) -> str:
    """The part's filename, else ``file`` plus the extension of ``mime``: OpenAI needs a filename
    with inline file data and recognises the type by its extension."""
    return part.filename or "file" + (mimetypes.guess_extension(mime) or "")


def is_reasoning_model(row: Mapping[str, Any]) -> bool:
    """Whether the catalog row allows reasoning parameters: unless its ``capabilities`` say
    otherwise (rows without capabilities, typical for compatible servers, are trusted)."""
    capabilities = row.get("capabilities")
    if isinstance(capabilities, Mapping):
        return bool(capabilities.get("reasoning"))
    if isinstance(capabilities, list):
        return "reasoning" in capabilities
    return True

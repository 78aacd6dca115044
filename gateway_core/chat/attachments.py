"""Attachments and legacy media URLs appended to the target user message (spec/chat.md §3.2.2-§3.2.4).

Shared by ``/v1/chat/completions`` and ``/v1/responses`` (responses.md §3.2): the route picks
which of :func:`attachment_parts` and :func:`legacy_url_parts` apply, then hands the parts to
:func:`append_user_parts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway_core.chat.messages import compact_json, data_url_mime, first_string, image_detail, url_of
from gateway_core.errors import GatewayError
from gateway_core.types.messages import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    Message,
    TextPart,
    VideoPart,
)

__all__ = [
    "append_user_parts",
    "attachment_kind",
    "attachment_part",
    "attachment_parts",
    "legacy_url_parts",
]

_LOCATOR_FIELDS = ("url", "uri", "href", "image_url", "audio_url", "video_url", "dataUrl", "data_url")
_BASE64_FIELDS = ("base64", "b64_json")
_MIME_FIELDS = ("mimeType", "mime_type", "contentType", "content_type")
_TEXT_FIELDS = ("text", "content")
_NAME_FIELDS = ("name", "filename")
_KIND_FIELDS = ("type", "kind", "mediaType", "media_type")

# (kind, substrings of the whole hint, file extensions), tried in this order: the first match wins.
_KIND_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("image", ("image/",), (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".heic", ".svg")),
    ("audio", ("audio/",), (".mp3", ".m4a", ".wav", ".ogg", ".opus", ".flac", ".aac", ".aif", ".aiff")),
    ("video", ("video/",), (".mp4", ".mov", ".webm", ".mkv", ".avi", ".mpeg", ".mpg")),
    ("pdf", ("application/pdf",), (".pdf",)),
    ("json", ("application/json",), ()),
    ("text", ("text/",), ()),
)

# A file part without a declared MIME type still tells the plugin what a pdf/json kind implies.
_KIND_MIME: Mapping[str, str] = {"pdf": "application/pdf", "json": "application/json"}

_LEGACY_URL_FIELDS = ("image_url", "audio_url", "video_url")


def _invalid(param: str, message: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message, param=param)


def attachment_parts(body: Mapping[str, Any]) -> list[ContentPart]:
    """Parts for ``attachments`` then ``attachment`` (spec/chat.md §3.2.3).

    :raises GatewayError: 400 ``invalid_request`` when ``attachments`` is not an array or
        ``attachment`` is neither a string nor an object. Bad elements are dropped instead.
    """
    items: list[Any] = []
    many = body.get("attachments")
    if many is not None:
        if not isinstance(many, list):
            raise _invalid("attachments", "attachments must be an array")
        items.extend(many)
    one = body.get("attachment")
    if one is not None:
        if not isinstance(one, (str, dict)):
            raise _invalid("attachment", "attachment must be a string or an object")
        items.append(one)
    return [part for part in map(attachment_part, items) if part is not None]


def attachment_part(raw: Any) -> ContentPart | None:
    """One attachment as a content part; ``None`` when it is empty or invalid."""
    if isinstance(raw, str):
        # A bare string is a locator and nothing else.
        return _object_part({"url": raw}) if raw else None
    if isinstance(raw, dict) and raw:
        return _object_part(raw)
    return None


def _object_part(raw: Mapping[str, Any]) -> ContentPart:
    mime = first_string(raw, *_MIME_FIELDS)
    locator = _locator(raw, mime)
    text = first_string(raw, *_TEXT_FIELDS)
    name = first_string(raw, *_NAME_FIELDS)
    kind = attachment_kind(first_string(raw, *_KIND_FIELDS), mime, name, locator)
    if locator is not None:
        if kind == "image":
            return ImagePart(url=locator, detail=image_detail(raw.get("detail")))
        if kind == "audio":
            return AudioPart(url=locator)
        if kind == "video":
            return VideoPart(url=locator)
        if kind in ("pdf", "json", "file"):
            mime_type = mime or data_url_mime(locator) or _KIND_MIME.get(kind)
            return FilePart(url=locator, filename=name, mime_type=mime_type)
    if text is not None:
        return TextPart(text=text)
    if locator is not None:
        label = f"{kind}:{name}" if name else kind
        return TextPart(text=f"Attachment {label}: {locator}")
    return TextPart(text="Attachment: " + compact_json(raw))


def _locator(raw: Mapping[str, Any], mime: str | None) -> str | None:
    for field in _LOCATOR_FIELDS:
        url = url_of(raw.get(field))
        if url is not None:
            return url
    encoded = first_string(raw, *_BASE64_FIELDS)
    if encoded is not None:
        if encoded[:5].lower() == "data:":
            return encoded
        return f"data:{mime or 'application/octet-stream'};base64,{encoded}"
    return first_string(raw, "data")


def attachment_kind(explicit: str | None, mime: str | None, name: str | None, locator: str | None) -> str:
    """Decide an attachment's kind (spec/chat.md §3.2.3).

    Substring rules look at ``explicit kind + MIME + name + locator``, joined with spaces so a
    match cannot straddle two fields. Extension rules look at the name and at the locator, each
    without a trailing ``?…``/``#…``: in the joined text only the last field could ever "end
    in" an extension, and a named ``report.pdf`` behind an opaque download link is still a pdf.
    The bare-word rules (``image``, ``pdf``, ``text``…) match when the explicit kind contains
    the word, so ``input_image`` or ``image_url`` count as ``image`` too.
    """
    explicit_lower = (explicit or "").lower()
    locator_lower = (locator or "").lower()
    hint = " ".join((explicit_lower, (mime or "").lower(), (name or "").lower(), locator_lower))
    paths = (_strip_query((name or "").lower()), _strip_query(locator_lower))
    for kind, markers, extensions in _KIND_RULES:
        if kind in explicit_lower or any(marker in hint for marker in markers):
            return kind
        if extensions and any(path.endswith(extensions) for path in paths):
            return kind
    if locator_lower.startswith(("http://", "https://")):
        return "url"
    return "file"


def _strip_query(text: str) -> str:
    for mark in ("?", "#"):
        cut = text.find(mark)
        if cut >= 0:
            text = text[:cut]
    return text


def legacy_url_parts(body: Mapping[str, Any]) -> list[ContentPart]:
    """Image, audio and video parts for top-level ``image_url``, ``audio_url``, ``video_url`` (§3.2.4).

    :raises GatewayError: 400 ``invalid_request`` when one of them is not a string.
    """
    parts: list[ContentPart] = []
    for field in _LEGACY_URL_FIELDS:
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(field, f"{field} must be a string")
        if not value:
            # An empty URL is a missing URL: the part would be dropped anyway (§3.2.1).
            continue
        if field == "image_url":
            parts.append(ImagePart(url=value))
        elif field == "audio_url":
            parts.append(AudioPart(url=value))
        else:
            parts.append(VideoPart(url=value))
    return parts


def append_user_parts(messages: Sequence[Message], parts: Sequence[ContentPart]) -> list[Message]:
    """Append ``parts`` to the last ``user`` message, or to a new one at the end (§3.2.2).

    The target's string content becomes a leading text part first; an empty string is dropped
    rather than kept as an empty text part, which some providers reject.
    """
    result = list(messages)
    if not parts:
        return result
    for index in range(len(result) - 1, -1, -1):
        target = result[index]
        if target.role != "user":
            continue
        content = target.content
        existing: list[ContentPart]
        if isinstance(content, str):
            existing = [TextPart(text=content)] if content else []
        else:
            existing = list(content or [])
        result[index] = target.model_copy(update={"content": [*existing, *parts]})
        return result
    result.append(Message(role="user", content=list(parts)))
    return result

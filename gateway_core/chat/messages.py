"""Chat message normalization (spec/chat.md §3.2 and §3.2.1).

Clients send messages in OpenAI chat form, OpenAI Responses form and AI SDK form; this module
folds all of them into the few typed shapes of :mod:`gateway_core.types.messages`, so a plugin
translates one shape only. Nothing here raises: malformed elements are dropped or degraded to
text, as the spec's tables say, because a message is data the client wants the model to see.
"""

from __future__ import annotations

import json
import mimetypes
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from gateway_core.types.messages import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    Message,
    MessageToolCall,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__all__ = [
    "compact_json",
    "data_url_mime",
    "first_string",
    "image_detail",
    "new_call_id",
    "normalize_message",
    "normalize_messages",
    "normalize_part",
    "tool_calls_as_chat",
    "url_of",
]

Role = Literal["system", "user", "assistant", "tool"]

_ROLES: Mapping[str, Role] = {
    "developer": "system",
    "system": "system",
    "assistant": "assistant",
    "tool": "tool",
    "user": "user",
}

_DETAILS: Mapping[str, Literal["auto", "low", "high"]] = {"auto": "auto", "low": "low", "high": "high"}

# Only the interpreter's built-in table: the system's mime.types differs between hosts, and
# normalization must give the same part on every replica.
_MIME_TABLE = mimetypes.MimeTypes(filenames=())


def compact_json(value: Any) -> str:
    """The compact JSON text the spec calls ``json(x)``: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def first_string(source: Mapping[str, Any], *fields: str) -> str | None:
    """The first of ``fields`` holding a non-empty string ("first present wins")."""
    for field in fields:
        value = source.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def url_of(value: Any) -> str | None:
    """A URL given either as a string or as ``{url}``; empty means missing."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        url = value.get("url")
        if isinstance(url, str) and url:
            return url
    return None


def image_detail(value: Any) -> Literal["auto", "low", "high"]:
    """``detail`` of an image: ``low`` or ``high`` when given, anything else is ``auto``."""
    return _DETAILS.get(value, "auto") if isinstance(value, str) else "auto"


def data_url_mime(url: str) -> str | None:
    """The media type of a ``data:`` URL (``data:image/png;base64,…`` → ``image/png``)."""
    if url[:5].lower() != "data:":
        return None
    header = url[5:].split(",", 1)[0]
    mime = header.split(";", 1)[0].strip()
    return mime or None


def new_call_id() -> str:
    """A tool call id for a call that came without one (README § Identifiers)."""
    return "call_" + secrets.token_hex(12)


def normalize_messages(raw: Sequence[Any]) -> list[Message]:
    """Normalize a ``messages`` array; elements that are not JSON objects are dropped."""
    return [normalize_message(item) for item in raw if isinstance(item, dict)]


def normalize_message(raw: Mapping[str, Any]) -> Message:
    """Normalize one message object (spec/chat.md §3.2)."""
    role = raw.get("role")
    tool_call_id = raw.get("tool_call_id")
    name = raw.get("name")
    return Message(
        role=_ROLES.get(role, "user") if isinstance(role, str) else "user",
        content=_content(raw.get("content")),
        tool_calls=_tool_calls(raw.get("tool_calls")),
        tool_call_id=tool_call_id if isinstance(tool_call_id, str) else None,
        name=name if isinstance(name, str) else None,
    )


def _content(value: Any) -> str | list[ContentPart] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [part for part in map(normalize_part, value) if part is not None]
    # Numbers and booleans become their JSON text, objects their compact JSON (gateway choice).
    return compact_json(value)


def normalize_part(raw: Any) -> ContentPart | None:
    """Normalize one element of a ``content`` array (spec/chat.md §3.2.1); ``None`` = dropped.

    A bare string element is taken as text and a ``null`` element is dropped (gateway choice:
    neither has a ``type`` to look up); any other non-object is degraded to its JSON text.
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        return TextPart(text=raw)
    if not isinstance(raw, dict):
        return TextPart(text=compact_json(raw))
    kind = raw.get("type")
    builder = _PART_BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        return TextPart(text=compact_json(raw))
    return builder(raw)


def _text_part(raw: Mapping[str, Any]) -> ContentPart | None:
    text = raw.get("text")
    return TextPart(text=text) if isinstance(text, str) else None


def _image_part(raw: Mapping[str, Any]) -> ContentPart | None:
    source = raw.get("image_url")
    url = url_of(source)
    if url is None:
        return None
    # Chat form nests detail in the image_url object; Responses form puts it on the part.
    detail = source.get("detail") if isinstance(source, dict) else None
    return ImagePart(url=url, detail=image_detail(raw.get("detail") if detail is None else detail))


def _audio_part(raw: Mapping[str, Any]) -> ContentPart | None:
    source = raw.get("input_audio")
    url = url_of(source)
    if url is None and isinstance(source, dict):
        url = _audio_data_url(source)
    if url is None:
        url = url_of(raw.get("audio_url"))
    return AudioPart(url=url) if url else None


def _audio_data_url(source: Mapping[str, Any]) -> str | None:
    data = source.get("data")
    if not isinstance(data, str) or not data:
        return None
    if data[:5].lower() == "data:":
        return data
    # OpenAI requires ``format``; "wav" stands in when a client omits it (gateway choice).
    audio_format = first_string(source, "format") or "wav"
    return f"data:audio/{audio_format};base64,{data}"


def _video_part(raw: Mapping[str, Any]) -> ContentPart | None:
    url = url_of(raw.get("video_url"))
    return VideoPart(url=url) if url else None


def _file_part(raw: Mapping[str, Any]) -> ContentPart | None:
    nested = raw.get("file")
    sources: list[Mapping[str, Any]] = [nested, raw] if isinstance(nested, dict) else [raw]
    data = _first_in(sources, "file_data")
    link = _first_in(sources, "file_url")
    filename = _first_in(sources, "filename")
    guessed = _MIME_TABLE.guess_type(filename, strict=False)[0] if filename else None
    if data is not None and ":" not in data:
        # Raw base64 (its alphabet has no ':'): wrap it so ``url`` is always a real URL.
        data = f"data:{guessed or 'application/octet-stream'};base64,{data}"
    url = data or link
    if url is None:
        return None
    return FilePart(url=url, filename=filename, mime_type=data_url_mime(url) or guessed)


def _first_in(sources: Sequence[Mapping[str, Any]], field: str) -> str | None:
    # The OpenAI chat form nests file fields in ``file``; the Responses form puts them on the part.
    return next((value for source in sources if (value := first_string(source, field)) is not None), None)


def _tool_call_part(raw: Mapping[str, Any]) -> ContentPart | None:
    name = first_string(raw, "toolName", "name")
    if name is None:
        return None
    return ToolCallPart(id=first_string(raw, "toolCallId"), name=name, input=_first_present(raw, "input", "args"))


def _tool_result_part(raw: Mapping[str, Any]) -> ContentPart | None:
    return ToolResultPart(
        id=first_string(raw, "toolCallId"),
        name=first_string(raw, "toolName"),
        output=_first_present(raw, "output", "result"),
    )


def _first_present(source: Mapping[str, Any], *fields: str) -> Any:
    for field in fields:
        if source.get(field) is not None:
            return source[field]
    return None


_PART_BUILDERS: Mapping[str, Callable[[Mapping[str, Any]], ContentPart | None]] = {
    "text": _text_part,
    "input_text": _text_part,
    "output_text": _text_part,
    "image_url": _image_part,
    "input_image": _image_part,
    "input_audio": _audio_part,
    "video_url": _video_part,
    "input_video": _video_part,
    "file": _file_part,
    "input_file": _file_part,
    "tool-call": _tool_call_part,
    "tool_call": _tool_call_part,
    "tool-result": _tool_result_part,
    "tool_result": _tool_result_part,
}


def _tool_calls(raw: Any) -> list[MessageToolCall] | None:
    if not isinstance(raw, list):
        return None
    calls = [call for call in map(_tool_call, raw) if call is not None]
    # Providers reject an empty tool_calls array on an assistant message; absent is equivalent.
    return calls or None


def _tool_call(raw: Any) -> MessageToolCall | None:
    if not isinstance(raw, dict):
        return None
    function = raw.get("function")
    # Chat form nests name/arguments in ``function``; a flat {id, name, arguments} is accepted too.
    spec: Mapping[str, Any] = function if isinstance(function, dict) else raw
    name = first_string(spec, "name")
    if name is None:
        return None
    arguments = spec.get("arguments")
    if arguments is None:
        # "{}" rather than "": plugins that need an object parse this text.
        arguments = "{}"
    elif not isinstance(arguments, str):
        arguments = compact_json(arguments)
    metadata = _first_present(raw, "providerMetadata", "provider_metadata")
    return MessageToolCall(
        id=first_string(raw, "id") or new_call_id(),
        name=name,
        arguments=arguments,
        provider_metadata=metadata if isinstance(metadata, dict) else None,
    )


def tool_calls_as_chat(calls: Sequence[MessageToolCall]) -> list[dict[str, Any]]:
    """The chat wire form of assistant tool calls (spec/chat.md §3.2), ``providerMetadata`` when set."""
    out: list[dict[str, Any]] = []
    for call in calls:
        item: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        if call.provider_metadata is not None:
            item["providerMetadata"] = call.provider_metadata
        out.append(item)
    return out

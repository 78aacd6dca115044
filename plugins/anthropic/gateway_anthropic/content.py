"""Normalized chat messages -> the Anthropic ``system`` prompt and ``messages`` turns.

Anthropic differs from the chat shape in four ways this module absorbs:

- there is no system role: every system message (wherever it sits) becomes one text block of
  the top-level ``system`` (a plain string when there is just one);
- tool results are ``tool_result`` blocks inside a **user** turn, and tool calls are
  ``tool_use`` blocks (with a parsed ``input`` object) inside the assistant turn;
- roles must alternate, so consecutive turns of one role are merged into one turn (several
  ``tool`` messages answering parallel calls become one user turn), with ``tool_result``
  blocks first as the API requires;
- images are ``image`` blocks whose ``source`` is ``base64`` (from a ``data:`` URL) or ``url``;
  PDFs are ``document`` blocks the same way. Audio, video and other files have no block: they
  are a 400 naming the kind.

Thinking blocks of an earlier answer come back from the client inside the first tool call's
``providerMetadata`` (see :func:`thinking_metadata`) and are put back in front of the assistant
turn, which Anthropic requires when thinking is on during a tool-use loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gateway_core import Message, ProviderError
from gateway_core.types import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    MessageToolCall,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VideoPart,
)

__all__ = ["METADATA_KEY", "convert_messages", "thinking_metadata"]

#: Key of this plugin's entry in a tool call's ``provider_metadata``.
METADATA_KEY = "anthropic"

Block = dict[str, Any]


def thinking_metadata(blocks: Sequence[Block]) -> dict[str, Any]:
    """The ``provider_metadata`` that carries an answer's thinking blocks back to us."""
    return {METADATA_KEY: {"thinking": list(blocks)}}


def _bad(message: str, param: str = "messages") -> ProviderError:
    return ProviderError(400, message, param=param)


def _data_url(url: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` -> (mime, data)."""
    head, sep, data = url.partition(",")
    mime, _, encoding = head[len("data:") :].partition(";")
    if not sep or encoding != "base64" or not mime:
        raise _bad("data: URLs must be base64 with a media type (data:<type>;base64,<data>)")
    return mime, data


def _source(url: str, kind: str) -> Block:
    if url.startswith("data:"):
        mime, data = _data_url(url)
        return {"type": "base64", "media_type": mime, "data": data}
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    raise _bad(f"{kind} URLs must be http(s) or base64 data: URLs")


def _is_pdf(part: FilePart) -> bool:
    names = (part.filename or "", part.url.split("?", 1)[0])
    return (
        part.mime_type == "application/pdf"
        or part.url.startswith("data:application/pdf")
        or any(name.lower().endswith(".pdf") for name in names)
    )


def _document(part: FilePart) -> Block:
    if not _is_pdf(part):
        raise _bad("file inputs are not supported by this model (only PDF documents are)")
    block: Block = {"type": "document", "source": _source(part.url, "document")}
    if part.filename:
        block["title"] = part.filename
    return block


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _tool_input(arguments: str, name: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise _bad(f"arguments of the tool call to '{name}' must be a JSON object")
    return value


def _tool_use(call_id: str | None, name: str, tool_input: Any) -> Block:
    if not call_id:
        raise _bad(f"the tool call to '{name}' needs an id")
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def _tool_result(call_id: str | None, content: str | list[Block]) -> Block:
    if not call_id:
        raise _bad("tool results need the id of the call they answer (tool_call_id)")
    return {"type": "tool_result", "tool_use_id": call_id, "content": content}


def _part(part: ContentPart, role: str) -> Block | None:
    """One content part as a block (``None``: nothing to send)."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ToolCallPart):
        if role != "assistant":
            raise _bad("tool calls are only valid in assistant messages")
        return _tool_use(part.id, part.name, part.input if isinstance(part.input, dict) else {})
    if isinstance(part, ToolResultPart):
        if role != "user":
            raise _bad("tool results are only valid in user and tool messages")
        return _tool_result(part.id, _text(part.output))
    if isinstance(part, AudioPart | VideoPart):
        raise _bad(f"{part.type} inputs are not supported by this model")
    if role != "user":
        raise _bad(f"{part.type} inputs are only supported in user messages")
    if isinstance(part, ImagePart):
        return {"type": "image", "source": _source(part.url, "image")}
    return _document(part)


def _parts(content: str | list[ContentPart] | None, role: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [block for part in content if (block := _part(part, role)) is not None]


def _returned_thinking(calls: Sequence[MessageToolCall]) -> list[Block]:
    for call in calls:
        entry = (call.provider_metadata or {}).get(METADATA_KEY)
        blocks = entry.get("thinking") if isinstance(entry, Mapping) else None
        if isinstance(blocks, list):
            return [b for b in blocks if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]
    return []


def _turn(message: Message) -> tuple[str, list[Block]]:
    """(Anthropic role, blocks) of one non-system message."""
    if message.role == "tool":
        parts = _parts(message.content, "user")
        # A plain-text result stays a string; images in a result travel as blocks.
        text_only = all(block["type"] == "text" for block in parts)
        content: str | list[Block] = "".join(block["text"] for block in parts) if text_only else parts
        return "user", [_tool_result(message.tool_call_id, content)]
    blocks = _parts(message.content, message.role)
    if message.role == "assistant" and message.tool_calls:
        blocks = [*_returned_thinking(message.tool_calls), *blocks]
        blocks += [_tool_use(c.id, c.name, _tool_input(c.arguments, c.name)) for c in message.tool_calls]
    return message.role, blocks


def _system(message: Message) -> list[Block]:
    blocks = _parts(message.content, "system")
    if any(block["type"] != "text" for block in blocks):
        raise _bad("system messages may only contain text")
    return blocks


def convert_messages(messages: Sequence[Message]) -> tuple[str | list[Block] | None, list[Block]]:
    """(``system``, ``messages``) of the request body; ``system`` is ``None`` when empty."""
    system: list[Block] = []
    turns: list[Block] = []
    for message in messages:
        if message.role == "system":
            system += _system(message)
            continue
        role, blocks = _turn(message)
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message says nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # Stable sort: tool results first, everything else after, each in its own order.
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    if len(system) == 1:
        return system[0]["text"], turns
    return system or None, turns

"""The offline "upstream" of the sandbox provider: an ``httpx`` transport answering in-process.

Going through a transport (rather than short-circuiting the pipeline) means the sandbox takes
exactly the path of every network provider: request translation, the pooled client, stream
framing, decoding, usage and error mapping are all exercised offline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from pydantic import TypeAdapter

from gateway_core.types import FunctionTool, Message, OutputToolCall, ResponseFormat, TextPart
from gateway_core.usage import estimate_input_tokens, estimate_output_tokens

__all__ = ["EchoTransport", "echo_reply"]

_messages = TypeAdapter(list[Message])
_WORDS = re.compile(r"\S+\s*")


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        return " ".join(p.text for p in message.content or () if isinstance(p, TextPart))
    return ""


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The function to call when ``tool_choice`` requires one (spec/models.md §2.4)."""
    choice = body.get("tool_choice") or {}
    tools = [t for t in body.get("tools") or () if t.get("type") == "function"]
    if choice.get("mode") == "function" and choice.get("function"):
        return str(choice["function"])
    if choice.get("mode") == "required" and tools:
        return str(tools[0]["function"]["name"])
    return None


def echo_reply(body: dict[str, Any], media_part_tokens: int) -> dict[str, Any]:
    """The non-stream sandbox answer for a ``/chat`` body."""
    messages = _messages.validate_python(body.get("messages") or [])
    tool = _forced_tool(body)
    tools = [FunctionTool(**t["function"]) for t in body.get("tools") or () if t.get("type") == "function"]
    response_format = ResponseFormat(**body["response_format"]) if body.get("response_format") else None
    text = "" if tool else f"echo: {_last_user_text(messages)}"
    # A deterministic id in the gateway's own format (call_ + 24 hex).
    calls = (
        [OutputToolCall(id="call_" + hashlib.sha256(tool.encode()).hexdigest()[:24], name=tool, arguments="{}")]
        if tool
        else []
    )
    usage = {
        "input_tokens": estimate_input_tokens(messages, tools or None, response_format, media_part_tokens),
        "output_tokens": estimate_output_tokens(text, None, calls),
    }
    return {
        "text": text,
        "tool_calls": [c.model_dump(exclude_none=True) for c in calls],
        "finish_reason": "tool_calls" if tool else "stop",
        "usage": usage,
    }


def _frame(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _stream(reply: dict[str, Any]) -> AsyncIterator[bytes]:
    # One word per frame (spec/models.md §2.4), whitespace kept with the word before it.
    words = _WORDS.findall(reply["text"])
    for index, word in enumerate(words):
        text = word if index == len(words) - 1 else word.rstrip()
        yield _frame({"type": "text", "text": text if index == 0 else " " + text})
    for index, call in enumerate(reply["tool_calls"]):
        yield _frame({"type": "tool_call_start", "index": index, "id": call["id"], "name": call["name"]})
        yield _frame({"type": "tool_call_args", "index": index, "arguments": call["arguments"]})
    yield _frame({"type": "finish", "finish_reason": reply["finish_reason"], "usage": reply["usage"]})
    yield b"data: [DONE]\n\n"


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk


class EchoTransport(httpx.AsyncBaseTransport):
    """Answers ``POST …/chat`` in the sandbox wire format; anything else is a 404."""

    def __init__(self, media_part_tokens: int = 1000) -> None:
        self._media_part_tokens = media_part_tokens

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or not request.url.path.endswith("/chat"):
            error = {"error": {"message": f"No route {request.method} {request.url.path}", "type": "not_found"}}
            return httpx.Response(404, json=error)
        body = orjson.loads(await request.aread())
        reply = echo_reply(body, self._media_part_tokens)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_Body(_stream(reply)))
        return httpx.Response(200, json=reply)

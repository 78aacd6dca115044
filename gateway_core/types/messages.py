"""Normalized chat messages and content parts (spec/chat.md §3.2).

These are what a plugin receives in ``call.messages``: the gateway has already mapped roles,
turned every content shape into typed parts and attached attachments, so a plugin only
translates these few shapes to its wire format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AudioPart",
    "ContentPart",
    "FilePart",
    "FunctionTool",
    "ImagePart",
    "Message",
    "MessageToolCall",
    "ResponseFormat",
    "TextPart",
    "ToolCallPart",
    "ToolChoice",
    "ToolResultPart",
    "VideoPart",
]

_frozen = ConfigDict(frozen=True, extra="forbid")


class TextPart(BaseModel):
    model_config = _frozen
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    model_config = _frozen
    type: Literal["image"] = "image"
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


class AudioPart(BaseModel):
    model_config = _frozen
    type: Literal["audio"] = "audio"
    url: str


class VideoPart(BaseModel):
    model_config = _frozen
    type: Literal["video"] = "video"
    url: str


class FilePart(BaseModel):
    model_config = _frozen
    type: Literal["file"] = "file"
    url: str
    filename: str | None = None
    mime_type: str | None = None


class ToolCallPart(BaseModel):
    model_config = _frozen
    type: Literal["tool-call"] = "tool-call"
    id: str | None = None
    name: str
    input: Any = None


class ToolResultPart(BaseModel):
    model_config = _frozen
    type: Literal["tool-result"] = "tool-result"
    id: str | None = None
    name: str | None = None
    output: Any = None


ContentPart = Annotated[
    TextPart | ImagePart | AudioPart | VideoPart | FilePart | ToolCallPart | ToolResultPart,
    Field(discriminator="type"),
]


class MessageToolCall(BaseModel):
    """A call the assistant made earlier in the conversation (``arguments`` is JSON text)."""

    model_config = _frozen
    id: str
    name: str
    arguments: str
    provider_metadata: dict[str, Any] | None = None


class Message(BaseModel):
    model_config = _frozen
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionTool(BaseModel):
    """A function tool in chat form. Non-function tools reach plugins as plain dicts."""

    model_config = _frozen
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoice(BaseModel):
    """``mode`` is ``none``, ``auto`` or ``required``; ``function`` names a forced function."""

    model_config = _frozen
    mode: Literal["none", "auto", "required", "function"]
    function: str | None = None


class ResponseFormat(BaseModel):
    """Normalized ``response_format`` (spec/chat.md §3.4); ``text`` never reaches plugins."""

    model_config = _frozen
    type: Literal["json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

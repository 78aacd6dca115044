"""What a plugin hands back: usage, the non-stream :class:`Output`, stream events, job status.

Stream events are slotted dataclasses rather than pydantic models on purpose: one is built
per upstream chunk on the hot path, and validation buys nothing for values the plugin just
parsed itself (spec/models.md §2.2, DESIGN.md § Hot path rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Done",
    "ImageComplete",
    "ImagePartial",
    "JobStatus",
    "MediaItem",
    "Output",
    "OutputToolCall",
    "ReasoningDelta",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEvent",
    "Usage",
]


class Usage(BaseModel):
    """Token usage as the provider reported it. Missing counts are estimated by the core."""

    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    billing_metrics: dict[str, float | int | str] | None = None


class OutputToolCall(BaseModel):
    id: str | None = None
    name: str
    arguments: str = ""
    provider_metadata: dict[str, Any] | None = None


class MediaItem(BaseModel):
    mime_type: str
    base64: str | None = None
    url: str | None = None
    duration: float | None = None
    revised_prompt: str | None = None
    job_ref: str | None = None
    status: str | None = None
    progress: int | None = None
    billing_metrics: dict[str, float | int | str] | None = None


class Output(BaseModel):
    """The canonical result of one non-stream call (spec/models.md §2.2)."""

    modality: str = "text"
    content: str = ""
    reasoning: str | None = None
    tool_calls: list[OutputToolCall] = []
    finish_reason: str | None = None
    usage: Usage | None = None
    embeddings: list[list[float]] | None = None
    media: list[MediaItem] | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of a tool call. ``index`` must stay stable for one call across fragments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None
    #: Provider data the client must send back with this call (for example a thinking
    #: signature); usually on the call's first or last fragment.
    provider_metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCallEvent:
    """A complete tool call delivered in one event."""

    index: int
    id: str | None
    name: str
    arguments: str
    provider_metadata: dict[str, Any] | None = None


@dataclass(slots=True)
class ImagePartial:
    index: int
    b64: str
    mime_type: str | None = None


@dataclass(slots=True)
class ImageComplete:
    b64: str
    mime_type: str
    revised_prompt: str | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class Done:
    """The last event of every stream, exactly once."""

    finish_reason: str | None = None
    usage: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | ToolCallEvent | ImagePartial | ImageComplete | Done


class JobStatus(BaseModel):
    """State of an asynchronous provider job (video) after one poll."""

    status: Literal["queued", "processing", "completed", "failed"]
    progress: int | None = None
    url: str | None = None
    error: str | None = None
    usage: Usage | None = None

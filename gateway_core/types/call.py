"""The normalized call a plugin translates (spec/models.md §2.2).

One :class:`ProviderCall` describes one operation on one model, whatever route it came in
by. Fields an operation does not use stay ``None``. The object is frozen: plugins read it,
never change it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway_core.types.messages import FunctionTool, Message, ResponseFormat, ToolChoice

__all__ = ["AudioParams", "ImageParams", "JobRef", "Operation", "ProviderCall", "VideoParams"]

#: The operations of spec/models.md §1.5 that a provider can implement. ``responses`` is the
#: native Responses API (providers without it get Responses through ``chat``).
Operation = Literal[
    "chat",
    "responses",
    "embeddings",
    "image-generation",
    "image-edit",
    "speech",
    "transcription",
    "video-generation",
]

_frozen = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class ImageParams(BaseModel):
    model_config = _frozen
    prompt: str | None = None
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    image_urls: list[str] | None = None
    mask_url: str | None = None
    response_format: str | None = None
    output_format: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None


class AudioParams(BaseModel):
    model_config = _frozen
    input_text: str | None = None
    voice: str | None = None
    speed: float | None = None
    response_format: str | None = None
    instructions: str | None = None
    audio_url: str | None = None
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None


class VideoParams(BaseModel):
    model_config = _frozen
    prompt: str | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    size: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    fps: int | None = None


class ProviderCall(BaseModel):
    """Everything a plugin needs to build one upstream request.

    :ivar request_id: the gateway request id; forward it upstream where the provider accepts one.
    :ivar response_id: the ``resp_…`` id the client will see.
    :ivar row: the resolved catalog row (SDK ``Model`` fields, camelCase), read-only.
    :ivar model: the public model id.
    :ivar upstream_model: the id to put on the wire.
    :ivar operation: which operation this call is (see :data:`Operation`).
    :ivar max_output_tokens: the output cap the gateway decided; always set for text.
    :ivar custom_params: pass-through parameters (spec/chat.md §3.3), already filtered to
        what the provider declared it accepts.
    :ivar deadline: ``time.monotonic()`` value after which the gateway gives up.
    """

    model_config = _frozen

    request_id: str
    response_id: str
    row: dict[str, Any]
    model: str
    upstream_model: str
    modality: str = "text"
    operation: Operation = "chat"
    stream: bool = False
    messages: list[Message] = []
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    custom_params: dict[str, Any] | None = None
    embedding_input: list[str] | None = None
    dimensions: int | None = None
    encoding_format: str | None = None
    image: ImageParams | None = None
    audio: AudioParams | None = None
    video: VideoParams | None = None
    deadline: float | None = None


class JobRef(BaseModel):
    """A provider-side asynchronous job (video) the gateway polls or cancels."""

    model_config = _frozen
    job_id: str
    provider_job_id: str
    model: str
    upstream_model: str
    row: dict[str, Any]
    data: dict[str, Any] = {}

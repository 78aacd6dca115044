"""``POST /v1/responses`` body validation and normalization (spec/responses.md §3).

:func:`normalize_responses_request` runs validation steps 2-4 of §3.6 and folds ``input``
into canonical :class:`Message` objects with the chat helpers (spec/chat.md §3), so plugins see
the same shapes whichever route the client used. Steps 7-8 (``missing_input``) come after model
and capability resolution in the spec's order, so they live in :func:`require_input`, which the
route calls once it knows the selected modality.

``null`` values are absent everywhere (README § JSON rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_core.chat import (
    append_user_parts,
    attachment_parts,
    build_custom_params,
    compact_json,
    legacy_url_parts,
    normalize_message,
    normalize_part,
    normalize_response_format,
    normalize_tool_choice,
    normalize_tools,
)
from gateway_core.chat.fields import (
    invalid_field,
    optional_amount,
    optional_bool,
    optional_cap,
    optional_number,
    optional_object,
    optional_string,
)
from gateway_core.chat.messages import first_string, new_call_id
from gateway_core.errors import GatewayError
from gateway_core.types import ContentPart, FunctionTool, Message, MessageToolCall, ResponseFormat, TextPart, ToolChoice

__all__ = [
    "BARE_PART_TYPES",
    "KNOWN_MODALITIES",
    "ResponsesRequest",
    "input_messages",
    "normalize_responses_request",
    "require_input",
]

#: Part types accepted as ``input`` elements without a ``role`` (§3.2); grouped into user messages.
BARE_PART_TYPES: frozenset[str] = frozenset({"input_text", "input_image", "input_audio", "input_video", "input_file"})

#: Output modalities a request may ask for (§3.4); anything else is dropped.
KNOWN_MODALITIES: frozenset[str] = frozenset({"text", "image", "audio", "video", "embedding", "realtime"})


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A validated ``/v1/responses`` body (spec/responses.md §3.1).

    :ivar messages: this request's messages from ``input`` with attachments appended; the
        record's input items are :meth:`input_items` (which adds legacy URL parts for text).
    :ivar legacy_parts: parts from top-level ``image_url``/``audio_url``/``video_url``, appended
        only when the selected modality is ``text`` (§3.2, gateway choice).
    :ivar response_format: ``text.format``, else ``response_format``, normalized (§3.5); the
        route ignores it unless the selected modality is ``text``.
    :ivar text_verbosity: ``text.verbosity`` (or its aliases), echoed in the Response ``text``.
    :ivar raw_tools: the client's ``tools`` as sent, kept to echo non-function tools unchanged.
    :ivar custom_params: pass-through parameters (chat.md §3.3) minus ``text.format``.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    instructions: str | None = None
    previous_response_id: str | None = None
    stream_options: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    text_verbosity: str | None = None
    reasoning_effort: str | None = None
    metadata: dict[str, Any] | None = None
    store: bool = True
    background: bool | None = None
    modalities: tuple[str, ...] = ()
    operation: str | None = None
    legacy_parts: list[ContentPart] = field(default_factory=list)
    custom_params: dict[str, Any] | None = None
    max_payment_amount_wei: int | None = None

    def input_items(self, modality: str = "text") -> list[Message]:
        """The messages of this request for the selected ``modality`` (the record's input items)."""
        if modality != "text" or not self.legacy_parts:
            return list(self.messages)
        return append_user_parts(self.messages, self.legacy_parts)


def normalize_responses_request(body: Mapping[str, Any]) -> ResponsesRequest:
    """Validate and normalize a ``/v1/responses`` body (spec/responses.md §3.6 steps 2-4).

    An absent or empty ``input`` is not an error here: whether it is depends on the selected
    modality and on ``previous_response_id`` (:func:`require_input`).

    :param body: the parsed JSON object (step 1 is the caller's).
    :raises GatewayError: 400 ``invalid_stream``, ``missing_model`` or ``invalid_request`` (with
        ``param``), checked in that order.
    """
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise GatewayError(400, "invalid_stream", "stream must be a boolean when provided")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "missing_model", "model is required")

    messages = input_messages(body.get("input"))
    messages = append_user_parts(messages, attachment_parts(body))
    text = optional_object(body, "text")
    text_format = text.get("format") if text is not None else None
    # ``text.format`` wins over ``response_format`` when both are given (§3.5, gateway choice).
    response_format = (
        normalize_response_format(_format_as_chat(text_format))
        if text_format is not None
        else normalize_response_format(body.get("response_format"))
    )
    custom_params = _without_text_format(build_custom_params(body))
    return ResponsesRequest(
        model=model,
        messages=messages,
        stream=bool(stream),
        instructions=optional_string(body, "instructions"),
        previous_response_id=optional_string(body, "previous_response_id"),
        stream_options=optional_object(body, "stream_options"),
        max_output_tokens=optional_cap(body, "max_output_tokens"),
        temperature=optional_number(body, "temperature"),
        top_p=optional_number(body, "top_p"),
        tools=normalize_tools(body.get("tools")),
        tool_choice=normalize_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=optional_bool(body, "parallel_tool_calls"),
        response_format=response_format,
        text_verbosity=first_string(text or {}, "verbosity") or first_string(body, "textVerbosity", "verbosity"),
        reasoning_effort=_reasoning_effort(body),
        metadata=optional_object(body, "metadata"),
        store=optional_bool(body, "store") is not False,
        background=optional_bool(body, "background"),
        modalities=_modalities(body),
        operation=_operation(body),
        legacy_parts=legacy_url_parts(body),
        custom_params=custom_params,
        max_payment_amount_wei=optional_amount(body, "max_payment_amount_wei"),
    )


def require_input(request: ResponsesRequest, modality: str) -> None:
    """Steps 7-8 of §3.6, for the selected ``modality``.

    :raises GatewayError: 400 ``missing_input``.
    """
    if modality == "embedding":
        if not any(_has_text(message) for message in request.input_items(modality)):
            raise GatewayError(400, "missing_input", "input is required for embeddings", param="input")
        return
    if not request.input_items(modality) and request.previous_response_id is None:
        raise GatewayError(400, "missing_input", "input is required", param="input")


def _has_text(message: Message) -> bool:
    content = message.content
    if isinstance(content, str):
        return bool(content.strip())
    return any(isinstance(part, TextPart) and part.text.strip() for part in content or ())


def input_messages(value: Any) -> list[Message]:
    """``input`` → messages (spec/responses.md §3.2); anything but a string or array is no input.

    An empty string counts as no input too (gateway choice: an empty user turn is rejected by
    most providers, so ``missing_input`` is the clearer answer).

    :raises GatewayError: 400 ``invalid_request``, ``param: "input"``, for unknown elements.
    """
    if isinstance(value, str):
        return [Message(role="user", content=value)] if value else []
    if not isinstance(value, list):
        return []
    messages: list[Message] = []
    bare: list[ContentPart] = []
    for index, element in enumerate(value):
        if not isinstance(element, dict):
            raise invalid_field("input", f"input[{index}] must be an object")
        kind = element.get("type")
        if kind in BARE_PART_TYPES and "role" not in element:
            part = normalize_part(element)
            if part is not None:
                bare.append(part)
            continue
        # Consecutive bare parts form one user message at the position of the run.
        _flush_bare(messages, bare)
        if kind == "reasoning":
            continue
        if kind == "function_call":
            _append_call(messages, _function_call(element, index))
        elif kind == "function_call_output":
            messages.append(_function_call_output(element, index))
        elif "role" in element and kind in (None, "message"):
            messages.append(normalize_message(element))
        else:
            raise invalid_field("input", f"input[{index}] has an unsupported type {compact_json(kind)}")
    _flush_bare(messages, bare)
    return messages


def _flush_bare(messages: list[Message], bare: list[ContentPart]) -> None:
    if bare:
        messages.append(Message(role="user", content=list(bare)))
        bare.clear()


def _function_call(element: Mapping[str, Any], index: int) -> MessageToolCall:
    name = first_string(element, "name")
    if name is None:
        raise invalid_field("input", f"input[{index}] is a function_call without a name")
    arguments = element.get("arguments")
    if arguments is None:
        # "{}" rather than "": plugins that need an object parse this text (as chat.md §3.2).
        arguments = "{}"
    elif not isinstance(arguments, str):
        arguments = compact_json(arguments)
    metadata = element.get("providerMetadata")
    return MessageToolCall(
        id=first_string(element, "call_id") or new_call_id(),
        name=name,
        arguments=arguments,
        provider_metadata=metadata if isinstance(metadata, dict) else None,
    )


def _append_call(messages: list[Message], call: MessageToolCall) -> None:
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant":
        messages[-1] = last.model_copy(update={"tool_calls": [*(last.tool_calls or ()), call]})
    else:
        messages.append(Message(role="assistant", content=None, tool_calls=[call]))


def _function_call_output(element: Mapping[str, Any], index: int) -> Message:
    call_id = first_string(element, "call_id")
    if call_id is None:
        raise invalid_field("input", f"input[{index}] is a function_call_output without a call_id")
    output = element.get("output")
    content = output if isinstance(output, str) else compact_json(output)
    return Message(role="tool", tool_call_id=call_id, content=content)


def _format_as_chat(value: Any) -> Any:
    # Responses puts name/schema/strict beside ``type``; chat nests them in ``json_schema``.
    if isinstance(value, dict) and value.get("type") == "json_schema" and "json_schema" not in value:
        nested = {key: value[key] for key in ("name", "schema", "strict") if key in value}
        return {"type": "json_schema", "json_schema": nested}
    return value


def _without_text_format(params: dict[str, Any] | None) -> dict[str, Any] | None:
    # ``text.format`` travels as ``response_format``; only ``text.verbosity`` is a pass-through.
    if params is None or not isinstance(params.get("text"), dict) or "format" not in params["text"]:
        return params
    text = {key: value for key, value in params["text"].items() if key != "format"}
    params = {key: value for key, value in params.items() if key != "text"}
    if text:
        params["text"] = text
    return params or None


def _reasoning_effort(body: Mapping[str, Any]) -> str | None:
    reasoning = body.get("reasoning")
    nested = first_string(reasoning, "effort") if isinstance(reasoning, dict) else None
    return first_string(body, "reasoningEffort", "reasoning_effort") or nested


def _modalities(body: Mapping[str, Any]) -> tuple[str, ...]:
    nested = body.get("response")
    raw: list[Any] = []
    for source in (body.get("modalities"), nested.get("modalities") if isinstance(nested, dict) else None):
        if isinstance(source, list):
            raw.extend(source)
    seen: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            continue
        name = item.lower()
        name = "embedding" if name == "embeddings" else name
        if name in KNOWN_MODALITIES and name not in seen:
            seen.append(name)
    return tuple(seen)


def _operation(body: Mapping[str, Any]) -> str | None:
    nested = body.get("response")
    return first_string(body, "operation") or (first_string(nested, "operation") if isinstance(nested, dict) else None)

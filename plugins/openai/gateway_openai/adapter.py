"""Pure translation between the canonical types and the Chat Completions wire format.

Request: ``POST {base}/chat/completions`` with ``model``, ``messages``, the first-class
parameters, the declared pass-through parameters and the output cap. Answer: a
``chat.completion`` object whose first choice becomes an :class:`~gateway_core.Output`.
No I/O and no settings lookups here: everything arrives as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway_core import FunctionTool, Message, Output, OutputToolCall, ProviderCall, ProviderError, Usage
from gateway_core.types import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    VideoPart,
)

from .common import data_url, file_name, inline_audio, is_reasoning_model, json_text, usage_of
from .errors import error_from_body, error_object

__all__ = [
    "chat_messages",
    "parse_output",
    "reasoning_text",
    "request_body",
    "response_format_body",
    "tool_choice_body",
    "usage_from_wire",
]

# -- request ---------------------------------------------------------------------------------


def _file(part: FilePart) -> dict[str, Any]:
    parsed = data_url(part.url)
    if parsed is None:
        raise ProviderError(400, "file URL inputs are not supported by this model")
    return {"type": "file", "file": {"file_data": part.url, "filename": file_name(part, part.mime_type or parsed[0])}}


def _content_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
    if isinstance(part, AudioPart):
        return inline_audio(part)
    if isinstance(part, FilePart):
        return _file(part)
    if isinstance(part, VideoPart):
        raise ProviderError(400, "video inputs are not supported by this model")
    raise AssertionError(f"unreachable: {part.type} parts are handled by the caller")


def _tool_call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    if not call_id:
        raise ProviderError(400, f"tool call '{name}' needs an id (toolCallId) for this provider", param="messages")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_result(call_id: str | None, output: Any) -> dict[str, Any]:
    if not call_id:
        raise ProviderError(400, "tool results need the id of the call they answer (tool_call_id)", param="messages")
    return {"role": "tool", "tool_call_id": call_id, "content": json_text(output)}


def _assistant(message: Message, parts: Sequence[ContentPart]) -> dict[str, Any]:
    calls = [_tool_call(c.id, c.name, c.arguments) for c in message.tool_calls or ()]
    texts: list[str] = []
    for part in parts:
        if isinstance(part, ToolCallPart):
            calls.append(_tool_call(part.id, part.name, "{}" if part.input is None else json_text(part.input)))
        elif isinstance(part, TextPart):
            texts.append(part.text)
        else:
            raise ProviderError(400, f"{part.type} parts are not supported in assistant messages", param="messages")
    text = message.content if isinstance(message.content, str) else "".join(texts)
    wire: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        wire["tool_calls"] = calls
    return wire


def _message(message: Message) -> list[dict[str, Any]]:
    """One canonical message -> one or more wire messages.

    Tool-result parts become ``role: tool`` messages of their own, placed first: OpenAI wants
    each result right after the assistant message that made the call.
    """
    parts = message.content if isinstance(message.content, list) else []
    wire = [_tool_result(p.id or message.tool_call_id, p.output) for p in parts if isinstance(p, ToolResultPart)]
    rest = [p for p in parts if not isinstance(p, ToolResultPart)]
    if wire and not rest:
        return wire
    if message.role == "assistant":
        out = _assistant(message, rest)
    elif message.role == "tool":
        text = message.content if isinstance(message.content, str) else "".join(_tool_texts(rest))
        out = _tool_result(message.tool_call_id, text)
    elif isinstance(message.content, list):
        out = {"role": message.role, "content": [_user_part(p) for p in rest]}
    else:
        out = {"role": message.role, "content": message.content or ""}
    if message.name and message.role != "tool":
        out["name"] = message.name
    return [*wire, out]


def _user_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, ToolCallPart):
        raise ProviderError(400, "tool-call parts are only supported in assistant messages", param="messages")
    return _content_part(part)


def _tool_texts(parts: Sequence[ContentPart]) -> list[str]:
    if any(not isinstance(p, TextPart) for p in parts):
        raise ProviderError(400, "tool messages can only hold text", param="messages")
    return [p.text for p in parts if isinstance(p, TextPart)]


def chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The wire ``messages`` array."""
    return [wire for message in messages for wire in _message(message)]


def tool_choice_body(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.function}}
    return choice.mode


def response_format_body(response_format: ResponseFormat) -> dict[str, Any]:
    if response_format.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": response_format.name or "response", "schema": response_format.json_schema or {}}
    if response_format.strict is not None:
        schema["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": schema}


def _passthrough(params: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """Pass-through parameters in wire form (the core already kept only the declared keys)."""
    out = dict(params)
    text = out.pop("text", None)
    if text is not None:
        # The Responses-style ``text`` object carries only ``verbosity`` that Chat Completions
        # knows (as a top-level field); anything else in it is refused, never dropped.
        if not isinstance(text, Mapping):
            raise ProviderError(400, "Parameter 'text' must be an object", param="text")
        extra = sorted(set(text) - {"verbosity"})
        if extra:
            raise ProviderError(400, f"Parameter 'text.{extra[0]}' is not supported by this provider", param="text")
        if text.get("verbosity") is not None:
            out["verbosity"] = text["verbosity"]
    options = out.pop("stream_options", None)
    if stream:
        # Usage in streams is how the gateway bills exactly: always asked for.
        caller = dict(options) if isinstance(options, Mapping) else {}
        out["stream_options"] = {**caller, "include_usage": True}
    # Without ``stream`` OpenAI rejects ``stream_options``; it has no meaning there anyway.
    return out


def request_body(call: ProviderCall, *, legacy_max_tokens: bool = False) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for a chat call."""
    body: dict[str, Any] = {"model": call.upstream_model, "messages": chat_messages(call.messages)}
    if call.tools:
        body["tools"] = [
            {"type": "function", "function": t.model_dump(exclude_none=True)} if isinstance(t, FunctionTool) else t
            for t in call.tools
        ]
    if call.tool_choice is not None:
        body["tool_choice"] = tool_choice_body(call.tool_choice)
    if call.response_format is not None:
        body["response_format"] = response_format_body(call.response_format)
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.max_output_tokens is not None:
        body["max_tokens" if legacy_max_tokens else "max_completion_tokens"] = call.max_output_tokens
    params = dict(call.custom_params or {})
    if "reasoning_effort" in params and not is_reasoning_model(call.row):
        # spec/chat.md §3.3: forwarded only to models that reason; OpenAI refuses it elsewhere.
        del params["reasoning_effort"]
    body.update(_passthrough(params, call.stream))
    if call.stream:
        body["stream"] = True
    return body


# -- answer ----------------------------------------------------------------------------------


def usage_from_wire(data: Any) -> Usage | None:
    """``usage`` of a completion or of the last stream chunk -> :class:`Usage`."""
    return usage_of(data, "prompt_tokens", "completion_tokens")


def reasoning_text(message: Mapping[str, Any]) -> str | None:
    """Reasoning text some compatible servers return (vLLM/DeepSeek ``reasoning_content``,
    others ``reasoning``); OpenAI itself returns none on Chat Completions."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _arguments(value: Any) -> str:
    # Arguments are JSON text on the wire; a few compatible servers send the object itself.
    return "" if value is None else json_text(value)


def _output_call(call: Mapping[str, Any]) -> OutputToolCall:
    # Custom (free-form) tools answer with {"custom": {"name", "input"}}; functions with JSON.
    kind = "custom" if call.get("type") == "custom" else "function"
    spec: Mapping[str, Any] = call[kind] if isinstance(call.get(kind), Mapping) else {}
    return OutputToolCall(
        id=call.get("id"),
        name=str(spec.get("name") or ""),
        arguments=_arguments(spec.get("input" if kind == "custom" else "arguments")),
    )


def parse_output(data: Any) -> Output:
    """A ``chat.completion`` object -> :class:`Output`.

    A refusal (``message.refusal``) is returned as the content with finish reason
    ``content_filter``: the client sees why nothing else came back, and the finish reason
    says the model declined (README, "Refusals").
    """
    error = error_object(data)
    if error is not None and not (isinstance(data, Mapping) and data.get("choices")):
        # Some compatible servers answer 200 with an error body.
        raise error_from_body(None, error)
    choices = data.get("choices") if isinstance(data, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ProviderError(502, "Provider answer has no choices")
    choice = choices[0]
    message: Mapping[str, Any] = choice["message"] if isinstance(choice.get("message"), Mapping) else {}
    content, finish = message.get("content") or "", choice.get("finish_reason")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content, finish = content or refusal, "content_filter"
    return Output(
        content=content if isinstance(content, str) else "",
        reasoning=reasoning_text(message),
        tool_calls=[_output_call(c) for c in message.get("tool_calls") or () if isinstance(c, Mapping)],
        finish_reason=finish if isinstance(finish, str) else None,
        usage=usage_from_wire(data.get("usage")),
    )

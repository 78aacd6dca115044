"""Pure translation between the canonical types and the OpenAI Responses API wire format.

Request: ``POST {base}/responses`` with ``model``, ``instructions``, ``input`` items, the
first-class parameters in Responses form, the declared pass-through parameters, the output cap
and ``store: false``. Answer: a ``response`` object whose output items become an
:class:`~gateway_core.Output`. No I/O and no settings lookups here.

How canonical messages become ``input`` items::

    leading system messages (text)   -> "instructions" (joined by a blank line)
    any later system message         -> {"role": "developer", "content": ...}
    user message                     -> {"role": "user", "content": text | [input_text, input_image,
                                                                           input_file, input_audio]}
    assistant message                -> {"role": "assistant", "content": text}, then one
                                        {"type": "function_call", "call_id", "name", "arguments"}
                                        per tool call
    tool message, tool-result part   -> {"type": "function_call_output", "call_id", "output"}

The gateway keeps its own records and sends the whole conversation every time, so the upstream
is asked not to store anything (``store: false``) and never gets a ``previous_response_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
    "finish_reason",
    "input_items",
    "parse_response",
    "raise_if_failed",
    "request_body",
    "text_format",
    "tool_choice_body",
    "tools_body",
    "usage_from_responses",
]

#: Reasons of an ``incomplete`` response -> canonical finish reason (others pass through).
_INCOMPLETE: Mapping[str, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}


# -- request: input items --------------------------------------------------------------------


def _text_only(content: str | Sequence[ContentPart] | None) -> str | None:
    """The text of string or text-only content; ``None`` when it holds anything else."""
    if content is None or isinstance(content, str):
        return content or ""
    if all(isinstance(part, TextPart) for part in content):
        return "".join(part.text for part in content if isinstance(part, TextPart))
    return None


def _file(part: FilePart) -> dict[str, Any]:
    parsed = data_url(part.url)
    if parsed is None:
        # Responses takes file URLs itself (``file_url``), unlike Chat Completions.
        wire = {"type": "input_file", "file_url": part.url}
        return {**wire, "filename": part.filename} if part.filename else wire
    return {"type": "input_file", "file_data": part.url, "filename": file_name(part, part.mime_type or parsed[0])}


def _input_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.url, "detail": part.detail}
    if isinstance(part, FilePart):
        return _file(part)
    if isinstance(part, AudioPart):
        return inline_audio(part)
    if isinstance(part, VideoPart):
        raise ProviderError(400, "video inputs are not supported by this model")
    raise ProviderError(400, f"{part.type} parts are only supported in assistant messages", param="messages")


def _function_call(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    if not call_id:
        raise ProviderError(400, f"tool call '{name}' needs an id (toolCallId) for this provider", param="messages")
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def _function_output(call_id: str | None, output: Any) -> dict[str, Any]:
    if not call_id:
        raise ProviderError(400, "tool results need the id of the call they answer (tool_call_id)", param="messages")
    return {"type": "function_call_output", "call_id": call_id, "output": json_text(output)}


def _assistant(message: Message, parts: Sequence[ContentPart]) -> list[dict[str, Any]]:
    texts: list[str] = [message.content] if isinstance(message.content, str) else []
    calls = [_function_call(c.id, c.name, c.arguments) for c in message.tool_calls or ()]
    for part in parts:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, ToolCallPart):
            arguments = "{}" if part.input is None else json_text(part.input)
            calls.append(_function_call(part.id, part.name, arguments))
        else:
            raise ProviderError(400, f"{part.type} parts are not supported in assistant messages", param="messages")
    text = "".join(texts)
    # An empty assistant turn carries nothing; a turn of calls alone is only its calls.
    return [{"role": "assistant", "content": text}, *calls] if text else calls


def _message(message: Message) -> list[dict[str, Any]]:
    """One canonical message (not a leading system message) -> input items.

    Tool-result parts become ``function_call_output`` items placed first, right after the
    calls they answer, as the model expects them.
    """
    parts = message.content if isinstance(message.content, list) else []
    results = [_function_output(p.id or message.tool_call_id, p.output) for p in parts if isinstance(p, ToolResultPart)]
    rest = [p for p in parts if not isinstance(p, ToolResultPart)]
    if results and not rest:
        return results
    if message.role == "assistant":
        return [*results, *_assistant(message, rest)]
    if message.role == "tool":
        text = _text_only(message.content if isinstance(message.content, str) else rest)
        if text is None:
            raise ProviderError(400, "tool messages can only hold text", param="messages")
        return [*results, _function_output(message.tool_call_id, text)]
    # ``developer`` is the Responses name for a system message that is not the instructions.
    role = "developer" if message.role == "system" else message.role
    content: str | list[dict[str, Any]]
    content = [_input_part(p) for p in rest] if isinstance(message.content, list) else message.content or ""
    return [*results, {"role": role, "content": content}]


def input_items(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(instructions, input)`` for the canonical messages.

    The leading text-only system messages (the request's ``instructions`` and any system
    prompt the client put first) become ``instructions``; the rest become input items.
    """
    instructions: list[str] = []
    start = 0
    for message in messages:
        text = _text_only(message.content) if message.role == "system" else None
        if text is None:
            break
        instructions.append(text)
        start += 1
    items = [item for message in messages[start:] for item in _message(message)]
    return ("\n\n".join(instructions) if instructions else None), items


# -- request: parameters ---------------------------------------------------------------------


def tools_body(tools: Iterable[FunctionTool | dict[str, Any]]) -> list[dict[str, Any]]:
    """Function tools in the flat Responses form; other tool types as the client gave them.

    ``parameters`` and ``strict`` are always present (the API's schema requires both keys,
    nullable). ``strict: null`` leaves the upstream's default, which on Responses is to make
    the schema strict; a client that wants best-effort calls sends ``strict: false``.
    """
    out: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            out.append(dict(tool))
            continue
        wire: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            wire["description"] = tool.description
        out.append({**wire, "parameters": tool.parameters, "strict": tool.strict})
    return out


def tool_choice_body(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "name": choice.function}
    return choice.mode


def text_format(response_format: ResponseFormat) -> dict[str, Any]:
    """``text.format``: Responses puts ``name``/``schema``/``strict`` beside ``type``."""
    if response_format.type == "json_object":
        return {"type": "json_object"}
    wire: dict[str, Any] = {
        "type": "json_schema",
        "name": response_format.name or "response",
        "schema": response_format.json_schema or {},
    }
    if response_format.strict is not None:
        wire["strict"] = response_format.strict
    return wire


def _object_param(params: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProviderError(400, f"Parameter '{key}' must be an object", param=key)
    return dict(value)


def _passthrough(call: ProviderCall) -> dict[str, Any]:
    """The declared pass-through parameters in Responses form (the core already kept only the
    declared keys)."""
    params = dict(call.custom_params or {})
    # ``store`` and ``metadata`` belong to the gateway's own record (spec/responses.md §2,
    # §3.1), which echoes them; the upstream keeps nothing (module docstring), and OpenAI
    # refuses ``metadata`` on calls it does not store.
    params.pop("store", None)
    params.pop("metadata", None)
    reasoning = _object_param(params, "reasoning")
    effort = params.pop("reasoning_effort", None)
    if effort is not None:
        # The chat-style alias wins over ``reasoning.effort``, as in the core's normalizer.
        reasoning["effort"] = effort
    params.pop("reasoning", None)
    if reasoning and is_reasoning_model(call.row):
        # Left out for rows whose capabilities say the model does not reason: OpenAI refuses
        # reasoning settings there (spec/chat.md §3.3).
        params["reasoning"] = reasoning
    text = _object_param(params, "text")
    params.pop("text", None)
    if call.response_format is not None:
        text["format"] = text_format(call.response_format)
    if text:
        params["text"] = text
    options = _object_param(params, "stream_options")
    params.pop("stream_options", None)
    # ``include_usage`` is a Chat Completions option (a Responses stream always ends with its
    # usage); OpenAI rejects ``stream_options`` on a call that does not stream.
    options.pop("include_usage", None)
    if call.stream and options:
        params["stream_options"] = options
    return params


def request_body(call: ProviderCall) -> dict[str, Any]:
    """The JSON body of ``POST /responses`` for a ``responses`` call."""
    instructions, items = input_items(call.messages)
    body: dict[str, Any] = {"model": call.upstream_model}
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    if call.tools:
        body["tools"] = tools_body(call.tools)
    if call.tool_choice is not None:
        body["tool_choice"] = tool_choice_body(call.tool_choice)
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.max_output_tokens is not None:
        body["max_output_tokens"] = call.max_output_tokens
    body.update(_passthrough(call))
    body["store"] = False
    if call.stream:
        body["stream"] = True
    return body


# -- answer ----------------------------------------------------------------------------------


def usage_from_responses(data: Any) -> Usage | None:
    """A Responses ``usage`` object -> :class:`Usage`."""
    return usage_of(data, "input_tokens", "output_tokens")


def raise_if_failed(response: Mapping[str, Any]) -> None:
    """Raise the mapped :class:`ProviderError` of a ``failed`` (or errored) response object."""
    error = error_object(response)
    if response.get("status") == "failed" or (error is not None and response.get("status") is None):
        raise error_from_body(None, error or {"message": "Provider response failed"})


def finish_reason(response: Mapping[str, Any], *, tool_calls: bool, refused: bool) -> str | None:
    """The canonical finish reason of a finished response object.

    ``completed`` is ``stop``, or ``tool_calls`` when the model called functions; an
    ``incomplete`` response says why in ``incomplete_details.reason``. A refusal ends as
    ``content_filter`` (README, "Refusals").
    """
    status = response.get("status")
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return _INCOMPLETE.get(reason, reason) if isinstance(reason, str) else "length"
    if status not in ("completed", None):
        raise ProviderError(502, f"Provider response ended with status {status!r}")
    if refused:
        return "content_filter"
    return "tool_calls" if tool_calls else "stop"


def _texts(item: Mapping[str, Any], kind: str, key: str, group: str = "content") -> list[str]:
    parts = item.get(group)
    if not isinstance(parts, list):
        return []
    return [p[key] for p in parts if isinstance(p, Mapping) and p.get("type") == kind and isinstance(p.get(key), str)]


def _call(item: Mapping[str, Any]) -> OutputToolCall:
    call_id = item.get("call_id")
    return OutputToolCall(
        id=call_id if isinstance(call_id, str) and call_id else None,
        name=str(item.get("name") or ""),
        arguments=json_text(item["arguments"]) if item.get("arguments") is not None else "",
    )


def parse_response(data: Any) -> Output:
    """A ``response`` object -> :class:`Output`.

    Text is the ``output_text`` of every ``message`` item; reasoning is the summary (and any
    reasoning text) of ``reasoning`` items; ``function_call`` items are the tool calls. Output
    items of hosted tools (web search, file search, …) ran upstream and are reflected in the
    text, so they are skipped.
    """
    if not isinstance(data, Mapping):
        raise ProviderError(502, "Provider answer is not a response object")
    raise_if_failed(data)
    text: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[OutputToolCall] = []
    for item in data.get("output") or ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            text += _texts(item, "output_text", "text")
            refusals += _texts(item, "refusal", "refusal")
        elif kind == "reasoning":
            reasoning += _texts(item, "summary_text", "text", "summary") + _texts(item, "reasoning_text", "text")
        elif kind == "function_call":
            calls.append(_call(item))
    refused = bool(refusals)
    return Output(
        # A refusal is shown as the content when there is no other text (README, "Refusals").
        content="".join(text) or "".join(refusals),
        reasoning="\n\n".join(reasoning) or None,
        tool_calls=calls,
        finish_reason=finish_reason(data, tool_calls=bool(calls), refused=refused),
        usage=usage_from_responses(data.get("usage")),
    )

"""The deterministic token estimator and usage completion (spec/chat.md §6).

Used when a provider reports no usage (or only part of it) and for holds and quotes
(payments.md §5), so it must give the same number on every replica for the same request:
no tokenizer, only byte counts of fixed JSON renderings.

What ``json(x)`` renders (the spec leaves the exact shape to the gateway):

- a message's ``tool_calls``: the chat wire list ``[{"id","type":"function","function":{"name",
  "arguments"},"providerMetadata"?}]`` (:func:`gateway_core.chat.tool_calls_as_chat`);
- ``tools``: one JSON array of the chat wire form ``{"type":"function","function":{"name",
  "description"?,"parameters"?,"strict"?}}`` with unset fields left out, other tool types as
  the client sent them (:func:`gateway_core.chat.tool_as_chat`);
- ``response_format``: ``{"type":"json_object"}`` or ``{"type":"json_schema","json_schema":
  {"name","schema","strict"?}}`` (:func:`gateway_core.chat.response_format_as_chat`);
- a tool-call part's ``input`` / a tool-result part's ``output`` as stored (``null`` → ``"null"``).

All JSON is compact (``separators=(",", ":")``, ``ensure_ascii=False``), keys in insertion order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from gateway_core.chat.messages import compact_json, tool_calls_as_chat
from gateway_core.chat.normalize import response_format_as_chat, tool_as_chat
from gateway_core.types.messages import (
    ContentPart,
    FunctionTool,
    Message,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from gateway_core.types.output import OutputToolCall, Usage

__all__ = [
    "UsageSource",
    "complete_usage",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "estimate_tokens",
]

UsageSource = Literal["provider", "estimated"]

_REQUEST_OVERHEAD = 3
_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """``tokens(s)`` = ⌈UTF-8 byte length / 4⌉; ``tokens("") = 0``."""
    # surrogatepass: json.loads can yield lone surrogates ("\ud800"), which strict UTF-8 rejects.
    return (len(text.encode("utf-8", "surrogatepass")) + 3) // 4


def estimate_input_tokens(
    messages: Sequence[Message],
    tools: Sequence[FunctionTool | Mapping[str, Any]] | None,
    response_format: ResponseFormat | None,
    media_part_tokens: int,
) -> int:
    """The input estimate of spec/chat.md §6.

    :param messages: the normalized messages sent to the provider.
    :param tools: the normalized tools; ``None`` or empty adds nothing.
    :param response_format: the normalized format; ``None`` adds nothing.
    :param media_part_tokens: ``GATEWAY_MEDIA_PART_TOKENS``, per image/audio/video/file part.
    """
    total = _REQUEST_OVERHEAD
    for message in messages:
        total += _MESSAGE_OVERHEAD + _content_tokens(message.content, media_part_tokens)
        if message.tool_calls:
            total += estimate_tokens(compact_json(tool_calls_as_chat(message.tool_calls)))
    if tools:
        total += estimate_tokens(compact_json([tool_as_chat(tool) for tool in tools]))
    if response_format is not None:
        total += estimate_tokens(compact_json(response_format_as_chat(response_format)))
    return total


def _content_tokens(content: str | Sequence[ContentPart] | None, media_part_tokens: int) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return estimate_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, TextPart):
            total += estimate_tokens(part.text)
        elif isinstance(part, ToolCallPart):
            total += estimate_tokens(compact_json(part.input))
        elif isinstance(part, ToolResultPart):
            total += estimate_tokens(compact_json(part.output))
        else:
            total += media_part_tokens
    return total


def estimate_output_tokens(content: str, reasoning: str | None, tool_calls: Sequence[OutputToolCall]) -> int:
    """The output estimate: ``tokens(content) + tokens(reasoning) + Σ tokens(name + arguments)``."""
    total = estimate_tokens(content) + estimate_tokens(reasoning or "")
    return total + sum(estimate_tokens(call.name + call.arguments) for call in tool_calls)


def complete_usage(reported: Usage | None, input_estimate: int, output_estimate: int) -> tuple[Usage, UsageSource]:
    """Final usage and its ``usage_source`` (spec/chat.md §6).

    ``provider`` when the provider reported both ``prompt_tokens`` and ``completion_tokens``;
    otherwise ``estimated``, with only the missing counts replaced by the estimates. A missing
    ``total_tokens`` is ``prompt + completion`` in both cases; a reported total is kept as is.
    Cached, reasoning and billing fields are kept only when the provider reported them.
    """
    if reported is None:
        return Usage(
            prompt_tokens=input_estimate,
            completion_tokens=output_estimate,
            total_tokens=input_estimate + output_estimate,
        ), "estimated"
    source: UsageSource = "provider"
    prompt = reported.prompt_tokens
    completion = reported.completion_tokens
    if prompt is not None and completion is not None and reported.total_tokens is not None:
        return reported, source  # complete as reported (the common case): nothing to copy
    if prompt is None or completion is None:
        source = "estimated"
    prompt = input_estimate if prompt is None else prompt
    completion = output_estimate if completion is None else completion
    total = reported.total_tokens if reported.total_tokens is not None else prompt + completion
    final = reported.model_copy(
        update={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    )
    return final, source

"""Shaping canonical results into OpenAI chat completion bodies (spec/chat.md §4)."""

from __future__ import annotations

import secrets
from typing import Any

from gateway_core.types import Output, OutputToolCall, Usage

__all__ = ["completion_body", "finish_reason", "tool_call_id", "usage_body"]

_FINISH = {
    "tool_calls": "tool_calls",
    "tool-calls": "tool_calls",
    "content_filter": "content_filter",
    "content-filter": "content_filter",
    "length": "length",
    "stop": "stop",
}


def finish_reason(value: str | None, has_tool_calls: bool) -> str:
    """Provider finish reason -> the emitted one (spec/chat.md §4.2)."""
    mapped = _FINISH.get(value or "")
    if mapped:
        return mapped
    return "tool_calls" if has_tool_calls else "stop"


def tool_call_id(given: str | None) -> str:
    """The provider's call id, else ``call_`` + 24 hex."""
    return given or "call_" + secrets.token_hex(12)


def usage_body(usage: Usage, usage_source: str) -> dict[str, Any]:
    """The ``usage`` object of a completion or of the stream's usage chunk."""
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens or 0,
        "completion_tokens": usage.completion_tokens or 0,
        "total_tokens": usage.total_tokens or 0,
    }
    if usage.cached_input_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    if usage.reasoning_tokens is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    if usage.billing_metrics:
        body["billingMetrics"] = usage.billing_metrics
    body["usage_source"] = usage_source
    return body


def _tool_call(call: OutputToolCall) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": tool_call_id(call.id),
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if call.provider_metadata:
        shaped["providerMetadata"] = call.provider_metadata
    return shaped


def completion_body(
    response_id: str,
    created: int,
    model: str,
    output: Output,
    usage: Usage,
    usage_source: str,
    receipt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The non-stream ``chat.completion`` body (always exactly one choice)."""
    message: dict[str, Any] = {"role": "assistant", "content": output.content or ""}
    if output.tool_calls:
        message["tool_calls"] = [_tool_call(c) for c in output.tool_calls]
    if output.reasoning:
        message["reasoning_content"] = output.reasoning
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(output.finish_reason, bool(output.tool_calls)),
            }
        ],
        "usage": usage_body(usage, usage_source),
    }
    if receipt is not None:
        body["receipt"] = receipt
    return body

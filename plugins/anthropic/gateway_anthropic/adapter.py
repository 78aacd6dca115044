"""The request to ``POST /v1/messages`` and its non-stream answer, translated.

Request::

    POST {base_url}/v1/messages
    x-api-key: <api_key>          anthropic-version: <api_version>
    {"model", "max_tokens", "system"?, "messages", "stream"?, ...request_options}

Answer (``message``)::

    {"content": [{"type":"text","text"} | {"type":"thinking","thinking","signature"}
                 | {"type":"redacted_thinking","data"} | {"type":"tool_use","id","name","input"}],
     "stop_reason": "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "pause_turn" | "refusal" | …,
     "usage": {"input_tokens", "output_tokens", "cache_read_input_tokens"?, "cache_creation_input_tokens"?}}

Usage: Anthropic counts a prompt as ``input_tokens`` + ``cache_read_input_tokens`` +
``cache_creation_input_tokens`` (three disjoint parts), so ``prompt_tokens`` is their sum and
``cached_input_tokens`` the cache reads. Cache writes are billed as plain input: the catalog's
``cache_write`` price is display-only (spec/models.md §1.3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway_core import (
    Output,
    OutputToolCall,
    ProviderCall,
    ProviderError,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
)

from .content import convert_messages, thinking_metadata
from .errors import error_from_wire
from .options import JSON_TOOL, json_tool_mode, request_options

__all__ = [
    "MESSAGES_PATH",
    "STOP_REASONS",
    "build_request",
    "finish_reason",
    "parse_message",
    "parse_response",
    "request_body",
    "usage_from_wire",
]

MESSAGES_PATH = "/v1/messages"
# Only when a caller builds a call by hand: the core always sets max_output_tokens for text.
_FALLBACK_MAX_TOKENS = 4096

#: Anthropic ``stop_reason`` -> canonical finish reason (spec/chat.md §4.2).
STOP_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def request_body(call: ProviderCall) -> dict[str, Any]:
    system, messages = convert_messages(call.messages)
    body: dict[str, Any] = {"model": call.upstream_model, "max_tokens": call.max_output_tokens or _FALLBACK_MAX_TOKENS}
    if system is not None:
        body["system"] = system
    body["messages"] = messages
    if call.stream:
        body["stream"] = True
    body.update(request_options(call))
    return body


def build_request(call: ProviderCall, api_key: str, api_version: str) -> UpstreamRequest:
    headers = {"x-api-key": api_key, "anthropic-version": api_version}
    return UpstreamRequest("POST", MESSAGES_PATH, headers=headers, json=request_body(call), stream=call.stream)


def finish_reason(stop_reason: Any, json_tool: bool) -> str | None:
    """Map a ``stop_reason``; the forced JSON tool's ``tool_use`` is a plain ``stop``."""
    if not isinstance(stop_reason, str):
        return None
    if json_tool and stop_reason == "tool_use":
        return "stop"
    return STOP_REASONS.get(stop_reason, stop_reason)


def _count(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from_wire(data: Any) -> Usage | None:
    """Anthropic ``usage`` -> :class:`Usage` (see the module docstring); ``None`` without one."""
    if not isinstance(data, Mapping):
        return None
    fresh, output = _count(data, "input_tokens"), _count(data, "output_tokens")
    read, written = _count(data, "cache_read_input_tokens"), _count(data, "cache_creation_input_tokens")
    prompt = None if fresh is None else fresh + (read or 0) + (written or 0)
    total = prompt + output if prompt is not None and output is not None else None
    return Usage(prompt_tokens=prompt, completion_tokens=output, total_tokens=total, cached_input_tokens=read)


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_message(call: ProviderCall, data: Any) -> Output:
    """A non-stream ``message`` -> :class:`Output`. A 2xx error body raises its error."""
    if not isinstance(data, Mapping) or data.get("type") == "error":
        raise error_from_wire(data) or ProviderError(502, "Anthropic answered with an unexpected body")
    json_tool = json_tool_mode(call)
    text: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[OutputToolCall] = []
    for block in data.get("content") or ():
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and not json_tool:
            text.append(str(block.get("text") or ""))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(str(block.get("thinking") or ""))
            thinking.append(dict(block))
        elif kind == "tool_use" and json_tool and block.get("name") == JSON_TOOL:
            text.append(_compact_json(block.get("input") or {}))
        elif kind == "tool_use":
            arguments = _compact_json(block.get("input") or {})
            calls.append(OutputToolCall(id=block.get("id"), name=str(block.get("name") or ""), arguments=arguments))
    if calls and thinking:
        # Thinking must go back with the tool results (see content.py); the call carries it.
        calls[0] = calls[0].model_copy(update={"provider_metadata": thinking_metadata(thinking)})
    return Output(
        content="".join(text),
        reasoning="".join(reasoning) or None,
        tool_calls=calls,
        finish_reason=finish_reason(data.get("stop_reason"), json_tool),
        usage=usage_from_wire(data.get("usage")),
    )


def parse_response(call: ProviderCall, response: UpstreamResponse) -> Output:
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(502, "Anthropic answered with a body that is not JSON", retryable=False) from None
    return parse_message(call, data)

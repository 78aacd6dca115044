"""Shaping the Response object and the input items listing (spec/responses.md §2, §6.4).

Everything here is a plain dict in wire form, built from canonical values: the non-stream
route, the record, and the stream encoder (:mod:`gateway_core.responses.stream`) all use the
same builders, so a streamed ``response.completed`` and a non-stream body cannot drift apart.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway_core.chat import tool_calls_as_chat
from gateway_core.chat.completion import tool_call_id
from gateway_core.errors import GatewayError
from gateway_core.responses.request import ResponsesRequest
from gateway_core.types import (
    AudioPart,
    ContentPart,
    FilePart,
    FunctionTool,
    ImagePart,
    Message,
    Output,
    OutputToolCall,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
    VideoPart,
)

__all__ = [
    "IdFactory",
    "function_call_item",
    "incomplete_details",
    "input_item",
    "input_items_page",
    "message_item",
    "new_item_id",
    "new_response_id",
    "output_items",
    "reasoning_item",
    "response_body",
    "text_config",
    "tool_choice_as_responses",
    "tools_as_responses",
    "usage_body",
]

#: Makes an item id from its prefix (``msg``, ``fc``, ``rs``); injectable so tests are deterministic.
IdFactory = Callable[[str], str]

_INCOMPLETE_REASONS: Mapping[str, str] = {
    "length": "max_output_tokens",
    "max_tokens": "max_output_tokens",
    "content_filter": "content_filter",
    "content-filter": "content_filter",
}


#: The largest ``limit`` of an input items page (as OpenAI).
_MAX_PAGE = 100


def new_response_id() -> str:
    """``resp_`` + 32 hex (128 random bits: the id is the only secret of a raw-x402 record)."""
    return "resp_" + secrets.token_hex(16)


def new_item_id(prefix: str) -> str:
    """An output or input item id: ``<prefix>_`` + 32 hex."""
    return f"{prefix}_{secrets.token_hex(16)}"


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """A ``message`` output item with one ``output_text`` part (``content: []`` while in progress)."""
    content = [] if status == "in_progress" else [_output_text(text)]
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def reasoning_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """A ``reasoning`` output item carrying the provider's reasoning text."""
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "status": status,
    }


def function_call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    status: str = "completed",
    provider_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``function_call`` output item; ``providerMetadata`` only when the provider sent some."""
    item: dict[str, Any] = {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }
    if provider_metadata:
        item["providerMetadata"] = dict(provider_metadata)
    return item


def output_items(output: Output, new_id: IdFactory = new_item_id) -> list[dict[str, Any]]:
    """The output items of a text-modality :class:`Output`: reasoning, message, function calls.

    Media outputs are not handled here (media.md shapes them).
    """
    items: list[dict[str, Any]] = []
    if output.reasoning:
        items.append(reasoning_item(new_id("rs"), output.reasoning))
    if output.content:
        items.append(message_item(new_id("msg"), output.content))
    items.extend(_call_item(call, new_id) for call in output.tool_calls)
    return items


def _call_item(call: OutputToolCall, new_id: IdFactory) -> dict[str, Any]:
    return function_call_item(
        new_id("fc"), tool_call_id(call.id), call.name, call.arguments, provider_metadata=call.provider_metadata
    )


def incomplete_details(finish_reason: str | None) -> dict[str, str] | None:
    """``{"reason": …}`` for a length- or filter-truncated output, else ``None`` (§2)."""
    reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    return {"reason": reason} if reason else None


def usage_body(usage: Usage, usage_source: str) -> dict[str, Any]:
    """The Responses ``usage`` object (§2.2).

    ``cache_write_tokens`` is not in the spec's table, but the official SDK's ``ResponseUsage``
    model requires it next to ``cached_tokens``; 0 is the same "unknown" answer as theirs.
    """
    input_tokens = usage.prompt_tokens or 0
    output_tokens = usage.completion_tokens or 0
    body: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_input_tokens or 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": usage.total_tokens if usage.total_tokens is not None else input_tokens + output_tokens,
    }
    if usage.billing_metrics:
        body["billingMetrics"] = usage.billing_metrics
    body["usage_source"] = usage_source
    return body


def tools_as_responses(tools: Sequence[FunctionTool | Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Request tools in Responses form (§2): flat function tools, other types as given."""
    shaped: list[dict[str, Any]] = []
    for tool in tools or ():
        if not isinstance(tool, FunctionTool):
            shaped.append(dict(tool))
            continue
        item: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description is not None:
            item["description"] = tool.description
        # The SDK's FunctionTool requires ``parameters`` and ``strict`` keys (nullable).
        item["parameters"] = tool.parameters
        item["strict"] = tool.strict
        shaped.append(item)
    return shaped


def tool_choice_as_responses(choice: ToolChoice | None) -> str | dict[str, Any]:
    """``tool_choice`` in Responses form; ``"auto"`` when the request had none."""
    if choice is None:
        return "auto"
    if choice.mode == "function":
        return {"type": "function", "name": choice.function}
    return choice.mode


def text_config(response_format: ResponseFormat | None, verbosity: str | None = None) -> dict[str, Any]:
    """The Response ``text`` object: ``{"format": F}`` plus ``verbosity`` when given (§2)."""
    fmt: dict[str, Any]
    if response_format is None:
        fmt = {"type": "text"}
    elif response_format.type == "json_object":
        fmt = {"type": "json_object"}
    else:
        fmt = {"type": "json_schema", "name": response_format.name, "schema": response_format.json_schema}
        if response_format.strict is not None:
            fmt["strict"] = response_format.strict
    text: dict[str, Any] = {"format": fmt}
    if verbosity is not None:
        text["verbosity"] = verbosity
    return text


def response_body(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    model: str,
    status: str = "completed",
    output: Sequence[Mapping[str, Any]] = (),
    usage: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
    incomplete: Mapping[str, Any] | None = None,
    receipt: Mapping[str, Any] | None = None,
    job_id: str | None = None,
    response_format: ResponseFormat | None = None,
) -> dict[str, Any]:
    """The Response object (§2), echoing the request's fields.

    :param model: the public model id (the request's, after catalog resolution).
    :param usage: a :func:`usage_body`; ``None`` while in progress.
    :param error: ``{code, message}`` when ``status`` is ``failed``.
    :param response_format: the format actually applied, when the route narrowed it (a
        non-text modality ignores the request's); defaults to the request's.
    """
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(request.background),
        "error": dict(error) if error is not None else None,
        "incomplete_details": dict(incomplete) if incomplete is not None else None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "metadata": dict(request.metadata or {}),
        "model": model,
        "output": [dict(item) for item in output],
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "temperature": request.temperature,
        "text": text_config(response_format or request.response_format, request.text_verbosity),
        "tool_choice": tool_choice_as_responses(request.tool_choice),
        "tools": tools_as_responses(request.tools),
        "top_p": request.top_p,
        "usage": dict(usage) if usage is not None else None,
    }
    if job_id is not None:
        body["job_id"] = job_id
    if receipt is not None:
        body["receipt"] = dict(receipt)
    return body


def input_item(item_id: str, message: Message) -> dict[str, Any]:
    """One element of the input items listing (§6.4): the message in chat form plus its id."""
    item: dict[str, Any] = {"id": item_id, "type": "message", "role": message.role}
    content = message.content
    item["content"] = content if content is None or isinstance(content, str) else [_chat_part(p) for p in content]
    if message.tool_calls:
        item["tool_calls"] = tool_calls_as_chat(message.tool_calls)
    if message.tool_call_id is not None:
        item["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        item["name"] = message.name
    return item


def _chat_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
    if isinstance(part, AudioPart):
        return {"type": "input_audio", "input_audio": {"url": part.url}}
    if isinstance(part, VideoPart):
        return {"type": "video_url", "video_url": {"url": part.url}}
    if isinstance(part, FilePart):
        file: dict[str, Any] = {"url": part.url}
        if part.filename is not None:
            file["filename"] = part.filename
        if part.mime_type is not None:
            file["mime_type"] = part.mime_type
        return {"type": "file", "file": file}
    if isinstance(part, ToolCallPart | ToolResultPart):
        return part.model_dump(exclude_none=True)
    raise TypeError(f"unknown content part {type(part).__name__}")


@dataclass(frozen=True)
class ItemsPage:
    """Which slice of the input items a listing returns (OpenAI cursor pagination)."""

    after: str | None = None
    limit: int | None = None  # None: every item after the cursor
    order: Literal["asc", "desc"] = "asc"


def input_items_query(query: Mapping[str, str]) -> ItemsPage:
    """``after``, ``limit`` (1-100) and ``order`` (``asc``/``desc``) of the listing's query.

    Without ``limit`` every item is returned, and without ``order`` they come oldest first:
    the spec's listing (§6.4) is what a client gets unless it asks for pages.
    """
    limit: int | None = None
    raw_limit = query.get("limit")
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= _MAX_PAGE:
            raise GatewayError(
                400, "invalid_request", f"'limit' must be an integer from 1 to {_MAX_PAGE}", param="limit"
            )
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise GatewayError(400, "invalid_request", "'order' must be 'asc' or 'desc'", param="order")
    return ItemsPage(after=query.get("after") or None, limit=limit, order=order)  # type: ignore[arg-type]


def input_items_page(items: Sequence[tuple[str, Message]], page: ItemsPage = ItemsPage()) -> dict[str, Any]:
    """The ``GET /v1/responses/{id}/input_items`` body (§6.4): one page of the items.

    :param items: ``(item id, message)`` pairs as stored, oldest first (ids are assigned when
        stored).
    :param page: the slice; ``after`` names an item of this listing (in the page's order) and
        an unknown one is a 400, so a client never mistakes a bad cursor for an empty list.
    """
    ordered = list(items) if page.order == "asc" else list(reversed(items))
    start = 0
    if page.after is not None:
        ids = [item_id for item_id, _ in ordered]
        if page.after not in ids:
            raise GatewayError(
                400, "invalid_request", f"'after' is not an item of this response: {page.after}", param="after"
            )
        start = ids.index(page.after) + 1
    end = len(ordered) if page.limit is None else min(len(ordered), start + page.limit)
    data = [input_item(item_id, message) for item_id, message in ordered[start:end]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": end < len(ordered),
    }

"""The Responses API (spec/responses.md): request normalization, object shaping, stream events.

Pure code only; the routes, records, background runs and settlement live in
:mod:`gateway_core.routes` (``responses*``).
"""

from __future__ import annotations

from gateway_core.responses.objects import (
    IdFactory,
    ItemsPage,
    function_call_item,
    incomplete_details,
    input_item,
    input_items_page,
    input_items_query,
    message_item,
    new_item_id,
    new_response_id,
    output_items,
    reasoning_item,
    response_body,
    text_config,
    tool_choice_as_responses,
    tools_as_responses,
    usage_body,
)
from gateway_core.responses.request import (
    BARE_PART_TYPES,
    KNOWN_MODALITIES,
    ResponsesRequest,
    input_messages,
    normalize_responses_request,
    require_input,
)
from gateway_core.responses.stream import ResponsesEventEncoder

__all__ = [
    "BARE_PART_TYPES",
    "KNOWN_MODALITIES",
    "IdFactory",
    "ItemsPage",
    "ResponsesEventEncoder",
    "ResponsesRequest",
    "function_call_item",
    "incomplete_details",
    "input_item",
    "input_items_page",
    "input_items_query",
    "input_messages",
    "message_item",
    "new_item_id",
    "new_response_id",
    "normalize_responses_request",
    "output_items",
    "reasoning_item",
    "require_input",
    "response_body",
    "text_config",
    "tool_choice_as_responses",
    "tools_as_responses",
    "usage_body",
]

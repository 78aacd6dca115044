"""Chat request normalization (spec/chat.md §2-§3), shared with ``/v1/responses``."""

from __future__ import annotations

from gateway_core.chat.attachments import (
    append_user_parts,
    attachment_kind,
    attachment_part,
    attachment_parts,
    legacy_url_parts,
)
from gateway_core.chat.messages import (
    compact_json,
    normalize_message,
    normalize_messages,
    normalize_part,
    tool_calls_as_chat,
)
from gateway_core.chat.normalize import (
    DEFAULT_SCHEMA_NAME,
    PASS_THROUGH_FIELDS,
    ChatRequest,
    build_custom_params,
    normalize_chat_request,
    normalize_response_format,
    normalize_tool_choice,
    normalize_tools,
    output_cap,
    response_format_as_chat,
    tool_as_chat,
)

__all__ = [
    "DEFAULT_SCHEMA_NAME",
    "PASS_THROUGH_FIELDS",
    "ChatRequest",
    "append_user_parts",
    "attachment_kind",
    "attachment_part",
    "attachment_parts",
    "build_custom_params",
    "compact_json",
    "legacy_url_parts",
    "normalize_chat_request",
    "normalize_message",
    "normalize_messages",
    "normalize_part",
    "normalize_response_format",
    "normalize_tool_choice",
    "normalize_tools",
    "output_cap",
    "response_format_as_chat",
    "tool_as_chat",
    "tool_calls_as_chat",
]

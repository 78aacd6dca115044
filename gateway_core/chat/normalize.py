"""Chat request validation and normalization (spec/chat.md §2 steps 2-5 and §3).

:func:`normalize_chat_request` turns a parsed ``/v1/chat/completions`` body into a
:class:`ChatRequest`: the validated, normalized inputs the route needs before it resolves the
model. Message shapes live in :mod:`gateway_core.chat.messages`, attachments in
:mod:`gateway_core.chat.attachments`; the option helpers here (pass-through parameters,
``response_format``, tools) are public because ``/v1/responses`` applies the same rules.

``null`` values are absent everywhere (README § JSON rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway_core.chat.attachments import append_user_parts, attachment_parts, legacy_url_parts
from gateway_core.chat.fields import invalid_field, optional_amount, optional_cap, optional_number, optional_object
from gateway_core.chat.messages import first_string, normalize_messages
from gateway_core.errors import GatewayError
from gateway_core.types.messages import FunctionTool, Message, ResponseFormat, ToolChoice

__all__ = [
    "DEFAULT_SCHEMA_NAME",
    "PASS_THROUGH_FIELDS",
    "ChatRequest",
    "build_custom_params",
    "normalize_chat_request",
    "normalize_response_format",
    "normalize_tool_choice",
    "normalize_tools",
    "output_cap",
    "response_format_as_chat",
    "tool_as_chat",
]

#: Top-level fields forwarded to the plugin as ``custom_params`` (spec/chat.md §3.3), in spec order.
PASS_THROUGH_FIELDS: tuple[str, ...] = (
    "frequency_penalty",
    "include",
    "logit_bias",
    "metadata",
    "parallel_tool_calls",
    "presence_penalty",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "reasoning_effort",
    "seed",
    "service_tier",
    "store",
    "stream_options",
    "text",
    "top_p",
    "user",
)

#: Schema name used when a ``json_schema`` response format has none (spec/chat.md §3.4).
DEFAULT_SCHEMA_NAME = "compose_response"

_CAMEL_ALIASES: tuple[tuple[str, str], ...] = (
    ("promptCacheKey", "prompt_cache_key"),
    ("promptCacheRetention", "prompt_cache_retention"),
)

_TOOL_MODES: Mapping[str, ToolChoice] = {
    "none": ToolChoice(mode="none"),
    "auto": ToolChoice(mode="auto"),
    "required": ToolChoice(mode="required"),
}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated, normalized chat request (spec/chat.md §3).

    :ivar messages: normalized messages with attachments and legacy URLs already appended.
    :ivar requested_max_tokens: the client's cap (``max_tokens``, else ``max_completion_tokens``);
        :func:`output_cap` turns it into the cap sent to the plugin.
    :ivar custom_params: pass-through parameters (§3.3); ``None`` when there are none.
    :ivar stream_options: the client's ``stream_options`` (also inside ``custom_params``).
    :ivar max_payment_amount_wei: x402 ``upto`` envelope from the body; never forwarded.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    requested_max_tokens: int | None = None
    temperature: float | None = None
    custom_params: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    max_payment_amount_wei: int | None = None


def normalize_chat_request(body: Mapping[str, Any]) -> ChatRequest:
    """Validate and normalize a chat completions body (spec/chat.md §2 steps 2-5, §3).

    :param body: the parsed JSON object (step 1 is the caller's).
    :raises GatewayError: 400 ``invalid_stream``, ``missing_model``, ``missing_messages`` or
        ``invalid_request`` (with ``param``), checked in that order.
    """
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise GatewayError(400, "invalid_stream", "stream must be a boolean when provided")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "missing_model", "model is required")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise GatewayError(400, "missing_messages", "messages is required and must be a non-empty array")

    # Step 5, in the order of the §3.1 table.
    stream_options = optional_object(body, "stream_options")
    tools = normalize_tools(body.get("tools"))
    tool_choice = normalize_tool_choice(body.get("tool_choice"))
    max_tokens = optional_cap(body, "max_tokens")
    max_completion_tokens = optional_cap(body, "max_completion_tokens")
    temperature = optional_number(body, "temperature")
    extra_parts = attachment_parts(body) + legacy_url_parts(body)
    custom_params = build_custom_params(body)
    max_payment = optional_amount(body, "max_payment_amount_wei")

    messages = append_user_parts(normalize_messages(raw_messages), extra_parts)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(stream),
        tools=tools,
        tool_choice=tool_choice,
        response_format=normalize_response_format(body.get("response_format")),
        requested_max_tokens=max_tokens if max_tokens is not None else max_completion_tokens,
        temperature=temperature,
        custom_params=custom_params,
        stream_options=stream_options,
        max_payment_amount_wei=max_payment,
    )


def build_custom_params(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Pass-through parameters for the plugin (spec/chat.md §3.3); ``None`` when empty.

    CamelCase aliases are applied after the snake_case fields and override them, like
    ``reasoningEffort`` does (gateway choice: the spec lists them as later steps). The
    verbosity is the first non-empty string of ``textVerbosity``, ``verbosity``.

    :raises GatewayError: 400 ``invalid_request`` when ``custom_params`` is not an object.
    """
    params: dict[str, Any] = {field: body[field] for field in PASS_THROUGH_FIELDS if body.get(field) is not None}
    for camel, snake in _CAMEL_ALIASES:
        if body.get(camel) is not None:
            params[snake] = body[camel]
    effort = first_string(body, "reasoningEffort")
    if effort is not None:
        params["reasoning_effort"] = effort
    verbosity = first_string(body, "textVerbosity", "verbosity")
    if verbosity is not None:
        text = params.get("text")
        # Copy, never mutate the client's object; a non-object ``text`` cannot hold a key.
        params["text"] = {**text, "verbosity": verbosity} if isinstance(text, dict) else {"verbosity": verbosity}
    custom = optional_object(body, "custom_params")
    if custom is not None:
        params.update(custom)
    return params or None


def normalize_response_format(value: Any) -> ResponseFormat | None:
    """Normalize ``response_format`` (spec/chat.md §3.4). Never raises: bad values are dropped."""
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind == "json_object":
        return ResponseFormat(type="json_object")
    if kind != "json_schema":
        return None
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return ResponseFormat(type="json_object")
    strict = spec.get("strict")
    return ResponseFormat(
        type="json_schema",
        name=first_string(spec, "name") or DEFAULT_SCHEMA_NAME,
        schema=spec["schema"],
        strict=strict if isinstance(strict, bool) else None,
    )


def response_format_as_chat(response_format: ResponseFormat) -> dict[str, Any]:
    """The chat wire form of a normalized ``response_format``; ``strict`` only when set."""
    if response_format.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": response_format.name, "schema": response_format.json_schema}
    if response_format.strict is not None:
        spec["strict"] = response_format.strict
    return {"type": "json_schema", "json_schema": spec}


def normalize_tools(value: Any) -> list[FunctionTool | dict[str, Any]] | None:
    """Normalize ``tools`` (spec/chat.md §3.5); an empty array is treated as absent.

    Function tools in chat or Responses form become :class:`FunctionTool`; any other tool
    type is passed through as the client's dict.

    :raises GatewayError: 400 ``invalid_request``, ``param: "tools"``.
    """
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_field("tools", "tools must be an array")
    tools = [_tool(item, index) for index, item in enumerate(value)]
    return tools or None


def _tool(item: Any, index: int) -> FunctionTool | dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid_field("tools", f"tools[{index}] must be an object")
    if item.get("type") != "function":
        return item
    nested = item.get("function")
    # Chat form nests the definition under ``function``; Responses form is flat.
    spec: Mapping[str, Any] = nested if isinstance(nested, dict) else item
    name = first_string(spec, "name")
    if name is None:
        raise invalid_field("tools", f"tools[{index}] is a function tool without a name")
    description = spec.get("description")
    parameters = spec.get("parameters")
    strict = spec.get("strict")
    if description is not None and not isinstance(description, str):
        raise invalid_field("tools", f"tools[{index}] description must be a string")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid_field("tools", f"tools[{index}] parameters must be an object")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_field("tools", f"tools[{index}] strict must be a boolean")
    return FunctionTool(name=name, description=description, parameters=parameters, strict=strict)


def tool_as_chat(tool: FunctionTool | Mapping[str, Any]) -> dict[str, Any]:
    """The chat wire form of a tool: ``{type:"function", function:{…}}`` without unset fields."""
    if not isinstance(tool, FunctionTool):
        return dict(tool)
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def normalize_tool_choice(value: Any) -> ToolChoice | None:
    """Normalize ``tool_choice`` (spec/chat.md §3.5).

    :raises GatewayError: 400 ``invalid_request``, ``param: "tool_choice"``, for anything but
        ``none``/``auto``/``required`` or a function choice in chat or Responses form.
    """
    if value is None:
        return None
    if isinstance(value, str) and value in _TOOL_MODES:
        return _TOOL_MODES[value]
    if isinstance(value, dict) and value.get("type") == "function":
        nested = value.get("function")
        name = first_string(nested if isinstance(nested, dict) else value, "name")
        if name is not None:
            return ToolChoice(mode="function", function=name)
    raise invalid_field(
        "tool_choice",
        'tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":…}}',
    )


def output_cap(requested: int | None, row: Mapping[str, Any], default: int) -> int:
    """The output cap before payment lowering (spec/chat.md §3.6).

    :param requested: the request's cap (:attr:`ChatRequest.requested_max_tokens`).
    :param row: the resolved catalog row (camelCase).
    :param default: ``GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS``.
    """
    if requested is not None:
        return requested
    cap = _positive_int(row.get("maxOutputTokens"))
    if cap is None:
        window = row.get("contextWindow")
        cap = _positive_int(window.get("outputTokens")) if isinstance(window, Mapping) else None
    return default if cap is None else cap


def _positive_int(value: Any) -> int | None:
    # A catalog row that says 0 or "4096" gives no usable cap; fall through to the next source.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None

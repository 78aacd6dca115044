"""Request options beyond the messages: tools, tool choice, thinking, JSON output, pass-through.

Anthropic models differ in three ways that change the request, so each upstream model has a
:class:`ModelProfile` (:data:`PROFILES`, by model-id prefix; a catalog row can override any
field in ``sourceMetadata``):

- **thinking**: ``budget`` models take ``thinking: {type: enabled, budget_tokens}``;
  ``adaptive`` models (Claude 4.6 and later) take ``thinking: {type: adaptive}`` with
  ``output_config.effort`` and reject budgets.
- **structured_outputs**: native JSON outputs (``output_config.format``), Claude 4.5 and later.
- **forced_tool_choice**: whether ``tool_choice`` ``any``/``tool`` is accepted (Claude Opus 5.5,
  Sonnet 5.5 and Fable 5.1 answer 400).

``response_format`` uses native structured outputs for a ``json_schema`` on models that have
them. Otherwise (``json_object``, or older models) it uses a forced tool, :data:`JSON_TOOL`,
whose input schema is the requested schema; the tool's input is then the answer's text and its
finish is ``stop`` (:mod:`.adapter`, :mod:`.stream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway_core import FunctionTool, ProviderCall, ProviderError

__all__ = [
    "DEFAULT_PROFILE",
    "JSON_TOOL",
    "MIN_THINKING_BUDGET",
    "PROFILES",
    "THINKING_BUDGETS",
    "ModelProfile",
    "json_tool_mode",
    "profile_for",
    "request_options",
]

#: Name of the forced tool that carries ``response_format`` output on models without native
#: structured outputs.
JSON_TOOL = "json_response"

#: ``reasoning_effort`` -> ``budget_tokens`` on ``budget`` models, capped at half of
#: ``max_tokens`` (thinking counts toward it, so the answer keeps the other half). Anthropic
#: requires at least :data:`MIN_THINKING_BUDGET` and less than ``max_tokens``.
THINKING_BUDGETS: Mapping[str, int] = {"low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one model takes thinking, JSON output and a forced tool (see the module docstring)."""

    thinking: Literal["budget", "adaptive"] = "budget"
    structured_outputs: bool = False
    forced_tool_choice: bool = True


#: Unknown models (older ones, and any id not below): budget thinking, forced tool for JSON.
DEFAULT_PROFILE = ModelProfile()
_BUDGET_JSON = ModelProfile("budget", structured_outputs=True)
_ADAPTIVE = ModelProfile("adaptive", structured_outputs=True)
_ADAPTIVE_UNFORCED = ModelProfile("adaptive", structured_outputs=True, forced_tool_choice=False)

#: Upstream model id prefix -> profile; the longest matching prefix wins. From Anthropic's model
#: pages (platform.claude.com, checked 2026-11-26).
PROFILES: Mapping[str, ModelProfile] = {
    "claude-haiku-4-5": _BUDGET_JSON,
    "claude-sonnet-4-5": _BUDGET_JSON,
    "claude-opus-4-5": _BUDGET_JSON,
    "claude-sonnet-4-6": _ADAPTIVE,
    "claude-opus-4-6": _ADAPTIVE,
    "claude-opus-4-7": _ADAPTIVE,
    "claude-opus-4-8": _ADAPTIVE,
    "claude-opus-5": _ADAPTIVE,
    "claude-sonnet-5": _ADAPTIVE,
    "claude-haiku-5": _ADAPTIVE,
    "claude-fable-5": _ADAPTIVE,
    "claude-mythos": _ADAPTIVE,
    "claude-opus-5-5": _ADAPTIVE_UNFORCED,
    "claude-sonnet-5-5": _ADAPTIVE_UNFORCED,
    "claude-fable-5-1": _ADAPTIVE_UNFORCED,
    "claude-mythos-5-1": _ADAPTIVE_UNFORCED,
}


def profile_for(call: ProviderCall) -> ModelProfile:
    """The model's profile: the longest :data:`PROFILES` prefix of its upstream id, with any of
    ``thinking``, ``structuredOutputs``, ``forcedToolChoice`` from the catalog row's
    ``sourceMetadata`` laid over it (for operators ahead of this table; wrong types are ignored)."""
    matches = [prefix for prefix in PROFILES if call.upstream_model.startswith(prefix)]
    profile = PROFILES[max(matches, key=len)] if matches else DEFAULT_PROFILE
    meta = call.row.get("sourceMetadata")
    if not isinstance(meta, Mapping):
        return profile
    thinking, structured, forced = (meta.get(k) for k in ("thinking", "structuredOutputs", "forcedToolChoice"))
    return ModelProfile(
        thinking=thinking if thinking in ("budget", "adaptive") else profile.thinking,
        structured_outputs=structured if isinstance(structured, bool) else profile.structured_outputs,
        forced_tool_choice=forced if isinstance(forced, bool) else profile.forced_tool_choice,
    )


def json_tool_mode(call: ProviderCall) -> bool:
    """Whether ``response_format`` travels as the forced :data:`JSON_TOOL` for this call."""
    rf = call.response_format
    if rf is None:
        return False
    return not (rf.type == "json_schema" and rf.json_schema is not None and profile_for(call).structured_outputs)


def _bad(message: str, param: str) -> ProviderError:
    return ProviderError(400, message, param=param)


def _has_capability(row: Mapping[str, Any], name: str) -> bool:
    caps = row.get("capabilities")
    if isinstance(caps, Mapping):
        return bool(caps.get(name))
    return isinstance(caps, list) and name in caps


def _thinking(call: ProviderCall, profile: ModelProfile, effort: Any) -> dict[str, Any]:
    if not _has_capability(call.row, "reasoning"):
        raise _bad(f"reasoning_effort is not supported by model '{call.model}'", "reasoning_effort")
    if effort not in THINKING_BUDGETS:
        raise _bad(f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}", "reasoning_effort")
    if profile.thinking == "adaptive":
        return {"thinking": {"type": "adaptive"}, "output_config": {"effort": effort}}
    budget = min(THINKING_BUDGETS[effort], (call.max_output_tokens or 0) // 2)
    if budget < MIN_THINKING_BUDGET:
        raise _bad(f"reasoning_effort needs max_tokens of at least {2 * MIN_THINKING_BUDGET}", "max_tokens")
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def _tools(call: ProviderCall) -> list[dict[str, Any]]:
    tools = []
    for tool in call.tools or ():
        if not isinstance(tool, FunctionTool):
            raise _bad(f"tools of type '{tool.get('type')}' are not supported by this provider", "tools")
        definition: dict[str, Any] = {"name": tool.name}
        if tool.description:
            definition["description"] = tool.description
        definition["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
        if tool.strict:
            definition["strict"] = True
        tools.append(definition)
    return tools


def _tool_choice(call: ProviderCall, parallel: Any) -> dict[str, Any] | None:
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls must be a boolean", "parallel_tool_calls")
    choice = call.tool_choice
    mapped: dict[str, Any] | None = None
    if choice is not None:
        modes: dict[str, dict[str, Any]] = {
            "none": {"type": "none"},
            "auto": {"type": "auto"},
            "required": {"type": "any"},
            "function": {"type": "tool", "name": choice.function},
        }
        mapped = modes[choice.mode]
    if parallel is False and (mapped is None or mapped["type"] != "none"):
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    return mapped


def _json_output(call: ProviderCall, profile: ModelProfile, thinking: bool) -> dict[str, Any]:
    rf = call.response_format
    if rf is None:
        return {}
    if not json_tool_mode(call):
        return {"output_config": {"format": {"type": "json_schema", "schema": rf.json_schema}}}
    # The forced-tool route: say plainly why it cannot work instead of letting the API guess.
    if not profile.forced_tool_choice:
        raise _bad(f"Model '{call.model}' supports response_format only as json_schema", "response_format")
    if thinking:
        raise _bad(f"response_format cannot be combined with reasoning_effort on '{call.model}'", "response_format")
    if call.tools:
        raise _bad(f"response_format cannot be combined with tools on '{call.model}'", "response_format")
    tool = {
        "name": JSON_TOOL,
        "description": f"Give the answer as the JSON {rf.name or 'object'}: call this tool with it as the input.",
        "input_schema": rf.json_schema or {"type": "object"},
    }
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": JSON_TOOL}}


def _passthrough(params: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    top_p = params.get("top_p")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, int | float):
            raise _bad("top_p must be a number", "top_p")
        options["top_p"] = top_p
    stop = params.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _bad("stop must be a string or a list of strings", "stop")
        options["stop_sequences"] = stops
    # Anthropic's metadata holds only user_id; other metadata keys are tags it has no field for.
    metadata = params.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    user_id = user_id if user_id is not None else params.get("user")
    if user_id is not None:
        if not isinstance(user_id, str):
            raise _bad("user must be a string", "user")
        options["metadata"] = {"user_id": user_id}
    return options  # stream_options: accepted and ignored, streams always report usage


def request_options(call: ProviderCall) -> dict[str, Any]:
    """Every top-level request field besides ``model``, ``max_tokens``, ``system``,
    ``messages`` and ``stream``."""
    params = call.custom_params or {}
    profile = profile_for(call)
    options: dict[str, Any] = {}
    if call.temperature is not None:
        options["temperature"] = call.temperature
    options.update(_passthrough(params))
    effort = params.get("reasoning_effort")
    thinking = _thinking(call, profile, effort) if effort is not None else {}
    tools = _tools(call)
    if tools:
        options["tools"] = tools
        choice = _tool_choice(call, params.get("parallel_tool_calls"))
        if choice is not None and choice["type"] in ("any", "tool"):
            if not profile.forced_tool_choice:
                raise _bad(f"Model '{call.model}' does not accept a forced tool_choice", "tool_choice")
            if thinking:
                raise _bad("a forced tool_choice cannot be combined with reasoning_effort", "tool_choice")
        if choice is not None:
            options["tool_choice"] = choice
    # Thinking (effort) and JSON output (format) may both fill output_config: merge, not replace.
    for part in (thinking, _json_output(call, profile, bool(thinking))):
        for key, value in part.items():
            if key == "output_config":
                options.setdefault("output_config", {}).update(value)
            else:
                options[key] = value
    return options

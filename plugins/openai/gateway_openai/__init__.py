"""The ``openai`` provider plugin: OpenAI Chat Completions, the OpenAI Responses API, and
OpenAI-compatible chat servers.

``plugin`` holds the hook impls (entry point ``gateway.providers: openai``); ``settings`` the
instances and their settings; ``adapter`` the Chat Completions request body and non-stream
translation, ``stream`` its stream decoder; ``responses_wire`` and ``responses_stream`` the
same for the Responses API; ``common`` what both wires share; ``errors`` the error-body mapping.
"""

from __future__ import annotations

from gateway_openai.adapter import parse_output, request_body
from gateway_openai.errors import map_error_body
from gateway_openai.responses_stream import ResponsesStreamDecoder
from gateway_openai.responses_wire import parse_response as parse_responses_output
from gateway_openai.responses_wire import request_body as responses_request_body
from gateway_openai.settings import OpenAISettings, provider_specs
from gateway_openai.stream import ChatStreamDecoder

__all__ = [
    "ChatStreamDecoder",
    "OpenAISettings",
    "ResponsesStreamDecoder",
    "map_error_body",
    "parse_output",
    "parse_responses_output",
    "provider_specs",
    "request_body",
    "responses_request_body",
]

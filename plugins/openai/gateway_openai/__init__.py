"""The ``openai`` provider plugin: OpenAI Chat Completions and OpenAI-compatible servers.

``plugin`` holds the hook impls (entry point ``gateway.providers: openai``); ``settings`` the
instances and their settings; ``adapter`` the request body and non-stream translation;
``stream`` the stream decoder; ``errors`` the error-body mapping.
"""

from __future__ import annotations

from gateway_openai.adapter import parse_output, request_body
from gateway_openai.errors import map_error_body
from gateway_openai.settings import OpenAISettings, provider_specs
from gateway_openai.stream import ChatStreamDecoder

__all__ = ["ChatStreamDecoder", "OpenAISettings", "map_error_body", "parse_output", "provider_specs", "request_body"]

"""Inference gateway core: the plugin contract, the pipeline and the HTTP service.

Plugin authors import what they need from here::

    from gateway_core import hookimpl, ProviderError, ProviderSpec, UpstreamRequest, Output
"""

from __future__ import annotations

from importlib import metadata

from gateway_core.errors import GatewayError, ProviderError
from gateway_core.hookspecs import hookimpl
from gateway_core.types import (
    Done,
    FunctionTool,
    JobRef,
    JobStatus,
    MediaItem,
    Message,
    OperationSupport,
    Output,
    OutputToolCall,
    ProviderCall,
    ProviderContext,
    ProviderSettings,
    ProviderSpec,
    ReasoningDelta,
    StreamDecoder,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEvent,
    UpstreamFrame,
    UpstreamRequest,
    UpstreamResponse,
    Usage,
)

try:
    __version__ = metadata.version("gateway-core")
except metadata.PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0+local"

__all__ = [
    "Done",
    "FunctionTool",
    "GatewayError",
    "JobRef",
    "JobStatus",
    "MediaItem",
    "Message",
    "OperationSupport",
    "Output",
    "OutputToolCall",
    "ProviderCall",
    "ProviderContext",
    "ProviderError",
    "ProviderSettings",
    "ProviderSpec",
    "ReasoningDelta",
    "StreamDecoder",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEvent",
    "UpstreamFrame",
    "UpstreamRequest",
    "UpstreamResponse",
    "Usage",
    "__version__",
    "hookimpl",
]

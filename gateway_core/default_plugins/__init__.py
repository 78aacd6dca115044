"""Plugins built into the core, registered exactly like third-party ones."""

from __future__ import annotations

from gateway_core.default_plugins import error_fallback
from gateway_core.default_plugins.sandbox import plugin as sandbox

__all__ = ["DEFAULT_PLUGINS"]

#: (name, plugin object) in registration order.
DEFAULT_PLUGINS: list[tuple[str, object]] = [("sandbox", sandbox), ("error-fallback", error_fallback)]

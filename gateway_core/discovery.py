"""Entry-point discovery of provider plugins; the only module that imports stevedore.

A plugin that cannot be imported must never take the gateway down: stevedore's load-failure
callback records it as a :class:`PluginFailure` (name, distribution, version, error) and the
other plugins load as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from stevedore import NamedExtensionManager

__all__ = ["ENTRY_POINT_GROUP", "DiscoveredPlugin", "PluginFailure", "discover", "installed_entry_points"]

#: The entry-point group provider plugins publish themselves in.
ENTRY_POINT_GROUP = "gateway.providers"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that is installed but could not be used."""

    name: str
    distribution: str | None
    version: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version, "error": self.error}


@dataclass(frozen=True)
class DiscoveredPlugin:
    """A plugin object loaded from an entry point (a module or any object with hook impls)."""

    name: str
    plugin: object
    distribution: str | None
    version: str | None


def _dist_of(entry_point: Any) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"], dist.version
    except Exception:  # noqa: BLE001 - broken metadata must not break discovery
        return None, None


def installed_entry_points() -> dict[str, tuple[str | None, str | None]]:
    """Every installed plugin name -> (distribution, version), loaded or not."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, _dist_of(entry_point))
    return found


def discover(names: Iterable[str]) -> tuple[list[DiscoveredPlugin], list[PluginFailure]]:
    """Load the named entry points of :data:`ENTRY_POINT_GROUP`.

    :param names: plugin names to load (the selection is the caller's policy); names with no
        installed entry point are ignored here, the caller reports them.
    :returns: the loaded plugins in ``names`` order and the ones that failed to import.
    """
    wanted = list(dict.fromkeys(names))
    failures: list[PluginFailure] = []
    installed = installed_entry_points()

    def dist_of(entry_point: Any) -> tuple[str | None, str | None]:
        found = _dist_of(entry_point)
        # stevedore rebuilds entry points from its cache without ``dist``: look the name up.
        return found if found[0] is not None else installed.get(entry_point.name, (None, None))

    def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        distribution, version = dist_of(entry_point)
        failures.append(PluginFailure(entry_point.name, distribution, version, f"{type(exc).__name__}: {exc}"))

    # stevedore keeps each group's entry points in a process-wide class cache; drop it so this
    # call sees what is installed now, as ``installed_entry_points`` (the caller's filter) does.
    NamedExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    manager = NamedExtensionManager(
        namespace=ENTRY_POINT_GROUP,
        names=wanted,
        invoke_on_load=False,
        name_order=True,
        on_load_failure_callback=on_failure,
    )
    loaded = []
    for extension in manager.extensions:
        distribution, version = dist_of(extension.entry_point)
        loaded.append(DiscoveredPlugin(extension.name, extension.plugin, distribution, version))
    return loaded, failures

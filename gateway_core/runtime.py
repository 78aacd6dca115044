"""Everything a running gateway holds: settings, plugins, catalog, HTTP clients, pipeline.

Built once at start-up by :func:`build_runtime` (synchronously, so a bad catalog or setting
stops start-up with a message before the server binds), then started and stopped with the
ASGI lifespan. Routes reach it as ``request.app.state.runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from gateway_core.background import BackgroundRuns
from gateway_core.catalog import Catalog, CatalogError, CatalogRow
from gateway_core.discovery import PluginFailure
from gateway_core.payments import NoPayment, PaymentGate
from gateway_core.payments.service import Payments, check_payment_settings, open_payments
from gateway_core.pipeline import Pipeline
from gateway_core.plugins import GatewayPluginManager
from gateway_core.settings import GatewaySettings
from gateway_core.store import Store
from gateway_core.transport import UpstreamClients

__all__ = ["Runtime", "build_runtime"]

log = logging.getLogger("gateway")

# The young generation's collection threshold while serving (Runtime.start says why).
_YOUNG_COLLECTION_THRESHOLD = 10_000


class Runtime:
    def __init__(
        self,
        settings: GatewaySettings,
        plugins: GatewayPluginManager,
        catalog: Catalog,
        payments: PaymentGate | None = None,
        plugin_rows: Mapping[str, list[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.catalog = catalog
        self._plugin_rows = dict(plugin_rows or {})
        self.clients = UpstreamClients()
        self.background = BackgroundRuns()
        # An explicit gate (``NoPayment`` when embedding without payments) replaces the real
        # one, which needs the store and is built in :meth:`start`.
        self._payments_override = payments
        self.pipeline = Pipeline(self, payments or NoPayment())
        self.store: Store | None = None
        self.payments: Payments | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._gc_threshold: tuple[int, ...] | None = None

    # -- what the model routes need -----------------------------------------------------------

    def provider_names(self) -> list[str]:
        return self.plugins.provider_names()

    def is_available(self, provider: str) -> bool:
        found = self.plugins.provider(provider)
        return found is not None and found.configured

    def param_catalog(self, row: CatalogRow, modality: str) -> Mapping[str, Any] | None:
        provider = self.plugins.provider(row.provider)
        if provider is None:
            return None
        return provider.hooks.param_catalog(provider.context, row.data, modality)

    # -- lifecycle ----------------------------------------------------------------------------

    def reload_catalog(self) -> bool:
        """Re-read the catalog files (on ``SIGHUP``). An invalid file keeps the current catalog
        and is logged (spec/models.md §1.1). Swapping one reference is atomic for readers."""
        try:
            self.catalog = _load_catalog(self.settings, self.plugins, self._plugin_rows)
        except CatalogError as exc:
            log.error("catalog reload failed, keeping the previous catalog: %s", exc)
            return False
        log.info(
            "catalog reloaded: %d curated, %d extended rows", len(self.catalog.curated), len(self.catalog.extended)
        )
        return True

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.clients.start(list(self.plugins.providers.values()))
        if self._payments_override is None:
            self.store = await Store.open(self.settings.store_url, migrate=True)
            self.payments = await open_payments(self.settings, self.store)
            self.pipeline.payments = self.payments
            self._pruner = asyncio.create_task(self._prune_forever(self.store), name="gateway-store-prune")
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_catalog)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not the main thread (embedded, tests) or no SIGHUP on this platform
        # Everything alive now (imported modules, the app, the catalog: hundreds of thousands
        # of objects) lives as long as the process. Frozen, the collector stops walking it on
        # every full collection, which otherwise stalls the event loop for tens of ms under load
        # (seen as 100-200 ms chunk gaps with 512 streams). :meth:`stop` thaws them again.
        # Collected first: garbage frozen would never be freed.
        gc.collect()
        gc.freeze()
        _return_free_heap()
        # A young collection starts whenever 700 (the default) more container objects are
        # alive than at the last one. Under load the objects of the calls in flight alone (64
        # connections: thousands) cross that all the time, so the collector kept walking live
        # objects: 2.8% of the CPU at c=64, ~730 collections in 20 s. Almost everything a call
        # allocates is freed by reference counting; cycles are still collected, a little later.
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(_YOUNG_COLLECTION_THRESHOLD, *self._gc_threshold[1:])

    async def _prune_forever(self, store: Store) -> None:
        """``gateway store prune`` every ``GATEWAY_PRUNE_INTERVAL`` s: expired records go and
        holds of crashed calls are released after ``GATEWAY_HOLD_TTL`` (spec/README.md § CLI)."""
        while True:
            await asyncio.sleep(self.settings.prune_interval)
            try:
                await store.prune(int(time.time() * 1000), hold_ttl_s=self.settings.hold_ttl)
                if self.payments is not None:
                    await self.payments.x402.reconcile()
            except Exception:  # a failed sweep is retried next time; it must never kill the loop
                log.exception("store prune or x402 reconciliation failed")

    async def stop(self) -> None:
        # Collectable again: an embedding process (tests) may go on to start other runtimes.
        gc.unfreeze()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
        if self._pruner is not None:
            self._pruner.cancel()
        # Background runs record how they ended (and settle what they delivered) while the
        # upstream clients and the store are still open.
        await self.background.stop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await self.clients.aclose()
        if self.payments is not None:
            await self.payments.aclose()
        if self.store is not None:
            await self.store.close()


def _return_free_heap() -> None:
    """Give the C heap that start-up freed (import-time garbage, parsed configuration) back to
    the OS: glibc keeps it mapped otherwise (~2.5 MiB of a served process's resident memory).
    Best effort: only glibc has ``malloc_trim``."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here: only for this, once

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, …)
        return
    trim(0)


def _record(plugins: GatewayPluginManager, provider_name: str, error: str) -> None:
    provider = plugins.providers[provider_name]
    plugins.failures.append(PluginFailure(provider.plugin_name, provider.distribution, provider.version, error))


def _plugin_rows(plugins: GatewayPluginManager) -> dict[str, list[Mapping[str, Any]]]:
    """Every provider's model listing; a listing hook that raises is reported and skipped."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for name, provider in plugins.providers.items():
        try:
            listed = provider.hooks.list_models(provider.context)
        except Exception as exc:  # noqa: BLE001 - one plugin's bug must not stop the gateway
            _record(plugins, name, f"gateway_list_models failed: {type(exc).__name__}: {exc}")
            continue
        if listed:
            rows[name] = listed
    return rows


def _load_catalog(
    settings: GatewaySettings, plugins: GatewayPluginManager, plugin_rows: dict[str, list[Mapping[str, Any]]]
) -> Catalog:
    priority = settings.provider_priority or tuple(plugins.provider_names())
    while True:
        try:
            return Catalog.load(
                settings.catalog_files,
                settings.extended_catalog_files,
                plugin_rows=plugin_rows,
                provider_priority=priority,
            )
        except CatalogError as exc:
            # A plugin listing an invalid row loses its listing, not the gateway: an error
            # whose source names a plugin is that plugin's; any other is a file's, raised.
            culprit = next((name for name in plugin_rows if exc.source == f"plugin '{name}'"), None)
            if culprit is None:
                raise
            del plugin_rows[culprit]
            _record(plugins, culprit, f"gateway_list_models returned an invalid row: {exc}")


def build_runtime(
    settings: GatewaySettings,
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
    payments: PaymentGate | None = None,
) -> Runtime:
    """Load plugins and the catalog.

    Plugins to load = the providers the catalog files name, plus ``GATEWAY_PLUGINS``,
    restricted by ``GATEWAY_PLUGINS_ALLOW`` when set. ``extra_plugins`` are registered
    directly (tests, embedding applications).

    :raises gateway_core.catalog.CatalogError: a catalog file is invalid.
    :raises gateway_core.plugins.PluginValidationError: an ``extra_plugins`` entry is invalid.
    """
    # First pass over the files only: which providers do they name? (Validates them too.)
    file_catalog = Catalog.load(
        settings.catalog_files, settings.extended_catalog_files, provider_priority=settings.provider_priority
    )
    if payments is None:
        check_payment_settings(settings)
    plugins = GatewayPluginManager()
    plugins.register_defaults()
    for name, plugin in extra_plugins:
        plugins.register(plugin, name)
    plugins.load_entry_points(
        [*file_catalog.providers(), *settings.plugins], allow=settings.plugins_allow, required=settings.plugins
    )
    plugins.build_providers(settings.config)
    plugin_rows = _plugin_rows(plugins)
    catalog = _load_catalog(settings, plugins, plugin_rows)
    return Runtime(settings, plugins, catalog, payments, plugin_rows)

"""Building the runtime: plugin model listings, isolation of faulty listings, catalog reload."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_core.hookspecs import hookimpl
from gateway_core.payments import NoPayment
from gateway_core.runtime import build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.types import OperationSupport, ProviderContext, ProviderSettings, ProviderSpec

PRICING = {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1, "output": 2}}]}


class _Open(ProviderSettings):
    def is_configured(self) -> bool:
        return True


class Lister:
    """A provider whose models come from its plugin, not from a catalog file."""

    def __init__(self, name: str, rows: Sequence[Mapping[str, Any]] | Exception) -> None:
        self.name = name
        self.rows = rows

    @hookimpl
    def gateway_providers(self, config: Mapping[str, Any]) -> list[ProviderSpec]:
        return [ProviderSpec(name=self.name, settings_model=_Open, operations={"chat": OperationSupport()})]

    @hookimpl
    def gateway_list_models(self, provider: ProviderContext) -> Sequence[Mapping[str, Any]]:
        if isinstance(self.rows, Exception):
            raise self.rows
        return self.rows


def _settings(tmp_path: Path, rows: list[dict[str, Any]]) -> GatewaySettings:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(rows), encoding="utf-8")
    return GatewaySettings.from_config({"GATEWAY_CATALOG": str(catalog)})


def test_plugin_rows_merge_under_file_rows(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, [{"modelId": "listed-1", "provider": "lister", "pricing": PRICING, "name": "From the file"}]
    )
    plugin = Lister(
        "lister",
        [
            {"modelId": "listed-1", "type": "chat", "name": "From the plugin"},
            {"modelId": "listed-2", "type": "chat", "pricing": PRICING},
        ],
    )
    runtime = build_runtime(settings, extra_plugins=[("lister", plugin)])
    first, second = runtime.catalog.resolve("listed-1"), runtime.catalog.resolve("listed-2")
    assert first is not None and second is not None
    assert first.data["name"] == "From the file", "file fields win"
    assert first.operation_names() == ["chat"], "plugin fields fill the rest"
    assert second.provider == "lister"


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(RuntimeError("listing exploded"), id="listing-raises"),
        pytest.param(
            [{"modelId": "bad", "pricing": {"sections": [{"unitKey": "usd_per_x", "entries": {"a": -1}}]}}],
            id="invalid-row",
        ),
    ],
)
def test_faulty_listing_is_reported_and_the_rest_serves(tmp_path: Path, rows: Any) -> None:
    settings = _settings(
        tmp_path, [{"modelId": "sandbox-echo", "provider": "sandbox", "type": "chat", "pricing": PRICING}]
    )
    runtime = build_runtime(settings, extra_plugins=[("lister", Lister("lister", rows))])
    assert runtime.catalog.resolve("sandbox-echo") is not None
    (failure,) = runtime.plugins.failures
    assert failure.name == "lister" and "gateway_list_models" in failure.error


def test_reload_catalog_keeps_the_old_one_when_invalid(tmp_path: Path) -> None:
    settings = _settings(tmp_path, [{"modelId": "one", "provider": "sandbox", "type": "chat", "pricing": PRICING}])
    runtime = build_runtime(settings)
    catalog_file = settings.catalog_files[0]

    catalog_file.write_text(yaml.safe_dump([{"modelId": "two", "provider": "sandbox", "type": "chat"}]), "utf-8")
    assert runtime.reload_catalog() is True
    assert runtime.catalog.resolve("two") is not None and runtime.catalog.resolve("one") is None

    catalog_file.write_text(yaml.safe_dump([{"modelId": "three"}]), "utf-8")  # no provider: invalid
    assert runtime.reload_catalog() is False
    assert runtime.catalog.resolve("two") is not None


def test_a_requested_plugin_that_is_not_installed_is_reported(tmp_path: Path) -> None:
    settings = _settings(tmp_path, [{"modelId": "x", "provider": "not-installed-either", "type": "chat"}])
    settings = GatewaySettings.from_config({**settings.config, "GATEWAY_PLUGINS": "typo-plugin"})
    runtime = build_runtime(settings)
    (failure,) = runtime.plugins.failures
    assert failure.name == "typo-plugin" and "no installed plugin" in failure.error
    row = runtime.catalog.resolve("x")
    assert row is not None and runtime.is_available(row.provider) is False


def test_the_running_gateway_releases_stale_holds() -> None:
    import time as clock

    from gateway_core.testing.server import run_gateway

    with run_gateway({"GATEWAY_HOLD_TTL": "1", "GATEWAY_PRUNE_INTERVAL": "0.1"}) as server:
        store = server.runtime.store
        assert store is not None
        key = server.call(store.list_keys())[0]
        # A hold whose call never settled (as if its replica crashed) ...
        outcome = server.call(store.hold(key.key_id, 500, 1, "req_crashed", int(clock.time() * 1000) - 5000))
        assert outcome.hold is not None and outcome.key.budget_reserved == 500
        # ... is released by the sweeper once GATEWAY_HOLD_TTL has passed.
        deadline = clock.monotonic() + 5
        while server.call(store.get_key(key.key_id)).budget_reserved and clock.monotonic() < deadline:  # type: ignore[union-attr]
            clock.sleep(0.05)
        assert server.call(store.get_key(key.key_id)).budget_reserved == 0  # type: ignore[union-attr]


def test_start_freezes_what_lives_for_the_process_and_stop_thaws_it(tmp_path: Path) -> None:
    # What exists at start-up is frozen so full collections stop walking it (event-loop
    # stalls under load); a stopped runtime gives it back to the collector.
    runtime = build_runtime(_settings(tmp_path, []), payments=NoPayment())
    gc.unfreeze()

    before = gc.get_threshold()

    async def lifecycle() -> tuple[int, int, tuple[int, ...]]:
        await runtime.start()
        frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
        await runtime.stop()
        return frozen, gc.get_freeze_count(), threshold

    frozen, after, serving = asyncio.run(lifecycle())
    assert frozen > 10_000  # the imported modules and the app, at least
    assert after == 0
    # Young collections wait for more than the objects of the calls in flight; restored after.
    assert serving == (10_000, *before[1:])
    assert gc.get_threshold() == before


def test_start_freezes_no_garbage(tmp_path: Path) -> None:
    # Cyclic garbage left by start-up would never be collected once frozen.
    runtime = build_runtime(_settings(tmp_path, []), payments=NoPayment())
    gc.unfreeze()

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    async def lifecycle() -> bool:
        garbage = weakref.ref(Cycle())  # unreachable at once, but only the collector frees a cycle
        await runtime.start()
        collected = garbage() is None
        await runtime.stop()
        return collected

    gc.disable()  # no automatic collection meanwhile: only start-up's own may free it
    try:
        assert asyncio.run(lifecycle())
    finally:
        gc.enable()

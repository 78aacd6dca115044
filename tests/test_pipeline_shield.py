"""How the pipeline shields settlement and release (:meth:`Pipeline.settle`): in the caller's
own task when the gate says its work allows it (no task, no loop turns), in a task of its own
otherwise; and which payments allow it (:meth:`Payments.settles_in_place`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway_core.payments import Authorization, NoPayment, Receipt
from gateway_core.pipeline import CallRequest
from gateway_core.runtime import build_runtime
from gateway_core.settings import GatewaySettings
from gateway_core.store import Store
from gateway_core.types import Message, Usage


class _RecordingGate(NoPayment):
    """Records the task each settlement and release ran in."""

    def __init__(self, in_place: bool) -> None:
        self.in_place = in_place
        self.tasks: list[asyncio.Task[object] | None] = []

    async def settle(
        self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool = False
    ) -> Receipt | None:
        self.tasks.append(asyncio.current_task())
        return None

    async def release(self, authorization: Authorization) -> Mapping[str, str]:
        self.tasks.append(asyncio.current_task())
        return {}

    def settles_in_place(self, authorization: Authorization) -> bool:
        return self.in_place


@pytest.mark.parametrize("in_place", [True, False])
def test_settlement_runs_in_the_callers_task_only_when_the_gate_allows(in_place: bool) -> None:
    gate = _RecordingGate(in_place)
    runtime = build_runtime(GatewaySettings.from_config({}), payments=gate)
    request = CallRequest(
        route="chat",
        model="sandbox-echo",
        request_id="req_1",
        headers={},
        messages=[Message(role="user", content="hi")],
    )

    async def call() -> asyncio.Task[object] | None:
        settled = await runtime.pipeline.prepare(request)
        released = await runtime.pipeline.prepare(request)
        await runtime.pipeline.settle(settled, Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2), "provider")
        await runtime.pipeline.release(released)
        return asyncio.current_task()

    caller = asyncio.run(call())
    assert len(gate.tasks) == 2
    if in_place:
        assert gate.tasks == [caller, caller]
    else:
        assert caller not in gate.tasks


def test_only_key_payments_on_sqlite_settle_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GatewaySettings.from_config({"GATEWAY_STORE_URL": f"sqlite:///{tmp_path / 'gateway.db'}"})
    runtime = build_runtime(settings)

    async def decisions() -> list[bool]:
        await runtime.start()
        try:
            payments = runtime.payments
            assert payments is not None
            found = [payments.settles_in_place(Authorization(mode=mode)) for mode in ("compose_key", "x402")]
            # A key's store work over asyncpg suspends (and the driver's pool has its own waits).
            monkeypatch.setattr(Store, "dialect", property(lambda _store: "postgresql"))
            return [*found, payments.settles_in_place(Authorization(mode="compose_key"))]
        finally:
            await runtime.stop()

    assert asyncio.run(decisions()) == [True, False, False]

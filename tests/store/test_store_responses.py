"""Response records (responses.md §6) and the revision that adds them."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from store_helpers import NOW, POSTGRES_URL, WALLET, Target, make_key, postgres_execute

from gateway_core.store import DuplicateRecord, ResponseChainError, ResponseRecord, ResponseStatus, Store
from gateway_core.store.database import Database
from gateway_core.store.migrate import MIGRATIONS_DIR, run_locked

pytestmark = pytest.mark.anyio

TTL_MS = 86_400_000


def make_response(response_id: str = "resp_1", **fields: object) -> ResponseRecord:
    values: dict[str, object] = {
        "response_id": response_id,
        "status": "in_progress",
        "model": "openai/gpt-4o-mini",
        "owner_kind": "x402",
        "owner_id": WALLET,
        "request_json": '{"model":"openai/gpt-4o-mini"}',
        "input_items_json": '[{"type":"message","role":"user","content":"hi"}]',
        "created_at": NOW,
        "updated_at": NOW,
        "expires_at": NOW + TTL_MS,
    }
    values.update(fields)
    return ResponseRecord(**values)  # type: ignore[arg-type]


async def test_create_and_get_round_trip(store: Store) -> None:
    record = make_response(
        "resp_1",
        owner_kind="compose_key",
        owner_id="k1",
        previous_response_id="resp_0",
        output_json="[]",
        usage_json='{"input_tokens":1}',
        background=True,
        cancel_requested=True,
    )
    await store.create_response(record)
    assert await store.get_response("resp_1", NOW) == record
    assert await store.get_response("missing", NOW) is None


async def test_duplicate_response_id_is_refused(store: Store) -> None:
    await store.create_response(make_response("resp_1"))
    with pytest.raises(DuplicateRecord):
        await store.create_response(make_response("resp_1", model="other"))


async def test_expired_record_reads_as_missing_everywhere(store: Store) -> None:
    await store.create_response(make_response("resp_1"))
    expiry = NOW + TTL_MS
    assert await store.get_response("resp_1", expiry - 1) is not None
    assert await store.get_response("resp_1", expiry) is None
    assert await store.update_response("resp_1", status="completed", now_ms=expiry) is False
    assert await store.request_cancel("resp_1", expiry) is None
    with pytest.raises(ResponseChainError):
        await store.response_chain("resp_1", expiry)


async def test_update_sets_only_the_given_fields(store: Store) -> None:
    await store.create_response(make_response("resp_1", usage_json='{"n":0}'))
    assert await store.update_response("resp_1", output_json='[{"type":"message"}]', now_ms=NOW + 5)
    assert await store.update_response("resp_1", status="completed", error_json='{"e":1}', now_ms=NOW + 9)
    assert await store.get_response("resp_1", NOW) == make_response(
        "resp_1",
        status="completed",
        output_json='[{"type":"message"}]',
        usage_json='{"n":0}',
        error_json='{"e":1}',
        updated_at=NOW + 9,
    )
    assert await store.update_response("missing", status="completed", now_ms=NOW) is False


@pytest.mark.parametrize(
    ("start", "to", "moved"),
    [
        pytest.param("queued", "in_progress", True, id="queued-to-in_progress"),
        pytest.param("queued", "cancelled", True, id="queued-to-cancelled"),
        pytest.param("in_progress", "completed", True, id="in_progress-to-completed"),
        pytest.param("in_progress", "incomplete", True, id="in_progress-to-incomplete"),
        pytest.param("in_progress", "failed", True, id="in_progress-to-failed"),
        pytest.param("in_progress", "cancelled", True, id="in_progress-to-cancelled"),
        pytest.param("in_progress", "queued", False, id="in_progress-not-back-to-queued"),
        pytest.param("cancelled", "completed", False, id="cancelled-stays"),
        pytest.param("cancelled", "in_progress", False, id="cancelled-not-reopened"),
        pytest.param("completed", "failed", False, id="completed-stays"),
        pytest.param("failed", "in_progress", False, id="failed-not-reopened"),
        pytest.param("incomplete", "completed", False, id="incomplete-stays"),
    ],
)
async def test_update_never_moves_a_final_record(
    store: Store, start: ResponseStatus, to: ResponseStatus, moved: bool
) -> None:
    await store.create_response(make_response("resp_1", status=start))
    assert await store.update_response("resp_1", status=to, output_json="[]", now_ms=NOW + 1) is moved
    stored = await store.get_response("resp_1", NOW)
    assert stored is not None
    assert (stored.status, stored.output_json) == ((to, "[]") if moved else (start, None))


async def test_final_record_keeps_its_output(store: Store) -> None:
    await store.create_response(make_response("resp_1", status="cancelled"))
    assert await store.update_response("resp_1", output_json='["late"]', now_ms=NOW + 1) is False
    stored = await store.get_response("resp_1", NOW)
    assert stored is not None and stored.output_json is None


async def test_unknown_status_is_refused(store: Store) -> None:
    await store.create_response(make_response("resp_1"))
    with pytest.raises(ValueError):
        await store.update_response("resp_1", status="done", now_ms=NOW)  # type: ignore[arg-type]


async def test_cancel_of_a_queued_record_cancels_it_at_once(store: Store) -> None:
    await store.create_response(make_response("resp_1", status="queued", background=True))
    cancelled = await store.request_cancel("resp_1", NOW + 3)
    assert cancelled == make_response(
        "resp_1", status="cancelled", background=True, cancel_requested=True, updated_at=NOW + 3
    )
    assert await store.get_response("resp_1", NOW) == cancelled
    # The worker that would have picked it up cannot start it.
    assert await store.update_response("resp_1", status="in_progress", now_ms=NOW + 4) is False


async def test_cancel_of_a_running_record_cancels_it_and_keeps_its_final_output(store: Store) -> None:
    await store.create_response(make_response("resp_1", status="in_progress"))
    cancelled = await store.request_cancel("resp_1", NOW + 3)
    assert cancelled is not None
    assert (cancelled.status, cancelled.cancel_requested, cancelled.updated_at) == ("cancelled", True, NOW + 3)
    # The runner's progress write now finds no open record: that is how it learns to stop.
    assert await store.update_response("resp_1", output_json="[1]", now_ms=NOW + 4) is False
    # It cannot complete the record, but records what it delivered before stopping.
    assert await store.update_response("resp_1", status="completed", now_ms=NOW + 4) is False
    assert await store.update_response("resp_1", status="cancelled", output_json="[2]", now_ms=NOW + 5)
    stored = await store.get_response("resp_1", NOW)
    assert stored is not None and (stored.status, stored.output_json) == ("cancelled", "[2]")


async def test_cancel_of_a_final_record_changes_nothing(store: Store) -> None:
    record = make_response("resp_1", status="completed", output_json="[]")
    await store.create_response(record)
    assert await store.request_cancel("resp_1", NOW + 3) == record
    assert await store.request_cancel("missing", NOW) is None


async def test_cancel_and_completion_from_two_stores_agree(store: Store, second_store: Store) -> None:
    # Whichever replica writes first, a cancelled record is never completed afterwards.
    await store.create_response(make_response("resp_1", status="queued"))
    assert (await store.request_cancel("resp_1", NOW + 1)) is not None
    assert await second_store.update_response("resp_1", status="completed", now_ms=NOW + 2) is False
    stored = await second_store.get_response("resp_1", NOW)
    assert stored is not None and stored.status == "cancelled"


async def test_chain_is_oldest_first(store: Store) -> None:
    await store.create_response(make_response("resp_a", status="completed"))
    await store.create_response(make_response("resp_b", status="completed", previous_response_id="resp_a"))
    await store.create_response(make_response("resp_c", previous_response_id="resp_b"))
    await store.create_response(make_response("resp_x", previous_response_id="resp_a"))  # a sibling branch
    assert [r.response_id for r in await store.response_chain("resp_c", NOW)] == ["resp_a", "resp_b", "resp_c"]
    assert [r.response_id for r in await store.response_chain("resp_a", NOW)] == ["resp_a"]


@pytest.mark.parametrize(
    ("links", "start", "reason", "at"),
    [
        pytest.param({"resp_a": "resp_a"}, "resp_a", "cycle", "resp_a", id="self-reference"),
        pytest.param(
            {"resp_a": "resp_c", "resp_b": "resp_a", "resp_c": "resp_b"}, "resp_c", "cycle", "resp_c", id="cycle"
        ),
        pytest.param({"resp_b": "resp_gone"}, "resp_b", "missing", "resp_gone", id="missing-link"),
        pytest.param({"resp_b": "resp_old"}, "resp_b", "missing", "resp_old", id="expired-link"),
        pytest.param({}, "resp_none", "missing", "resp_none", id="missing-start"),
    ],
)
async def test_broken_chains_name_the_record_at_fault(
    store: Store, links: dict[str, str], start: str, reason: str, at: str
) -> None:
    await store.create_response(make_response("resp_old", expires_at=NOW))
    for response_id, previous in links.items():
        await store.create_response(make_response(response_id, previous_response_id=previous))
    with pytest.raises(ResponseChainError) as raised:
        await store.response_chain(start, NOW)
    assert (raised.value.reason, raised.value.response_id) == (reason, at)


async def test_chain_longer_than_max_depth_is_refused(store: Store) -> None:
    previous = None
    for n in range(5):
        await store.create_response(make_response(f"resp_{n}", previous_response_id=previous))
        previous = f"resp_{n}"
    assert len(await store.response_chain("resp_4", NOW, max_depth=5)) == 5
    with pytest.raises(ResponseChainError) as raised:
        await store.response_chain("resp_4", NOW, max_depth=4)
    assert (raised.value.reason, raised.value.response_id) == ("too_deep", "resp_0")


async def test_prune_deletes_expired_records(store: Store) -> None:
    await store.create_response(make_response("resp_old", expires_at=NOW))
    await store.create_response(make_response("resp_new", expires_at=NOW + 1))
    counts = await store.prune(NOW)
    assert counts["responses"] == 1
    assert await store.get_response("resp_new", NOW) is not None
    # Gone, not just hidden: the id may be stored again.
    await store.create_response(make_response("resp_old"))
    assert (await store.prune(NOW))["responses"] == 0


def _upgrade_to_0001(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "0001")


async def test_upgrade_from_0001_adds_response_records(target: Target, tmp_path: Path) -> None:
    # A database left at 0001 by an earlier release, with data in it.
    if target.dialect == "sqlite":
        old = Target("sqlite", f"sqlite:///{tmp_path / 'old.db'}")
    else:
        old = Target("postgresql", POSTGRES_URL, "gw_test_" + secrets.token_hex(6))
    db = Database(old.url, schema=old.schema)
    try:
        await run_locked(db, _upgrade_to_0001)
    finally:
        await db.dispose()
    try:
        store = await old.open()
        try:
            assert await store.revision() == "0001"
            await store.create_key(make_key("k1"))
            await store.upgrade()
            assert await store.revision() == Store.head_revision() == "0002"
            assert await store.get_key("k1") == make_key("k1")
            record = replace(make_response("resp_1"), owner_kind="compose_key", owner_id="k1")
            await store.create_response(record)
            assert await store.get_response("resp_1", NOW) == record
        finally:
            await store.close()
    finally:
        if old.schema is not None:
            await postgres_execute(f'DROP SCHEMA IF EXISTS "{old.schema}" CASCADE')

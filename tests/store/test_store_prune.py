"""Retention: what prune deletes and releases (spec/README.md § Store)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from store_helpers import ASSET, NETWORK, NOW, WALLET, make_key

from gateway_core.store import Cumulative, ReceiptRow, Store, direct, holds, retention

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _receipt(receipt_id: str, created_at: int) -> ReceiptRow:
    return ReceiptRow(receipt_id, WALLET, NETWORK, "x402", None, 10, 9, 1, "{}", created_at)


async def test_prune_applies_every_retention_rule(store: Store) -> None:
    now = NOW + 200 * DAY_MS
    now_s = now // 1000
    # Reservations: deleted at deadline + 1 day, whatever their state.
    for nonce, deadline in (("0x01", now_s - 86_401), ("0x02", now_s - 86_399)):
        assert await store.reserve_authorization(NETWORK, ASSET, WALLET, nonce, deadline, "r") == "reserved"
    await store.set_reservation_state(NETWORK, ASSET, WALLET, "0x01", "settled")
    # Receipts: 180 days.
    await store.insert_receipt(_receipt("rct_old", now - 180 * DAY_MS - 1))
    await store.insert_receipt(_receipt("rct_new", now - 180 * DAY_MS + 1))
    # Signature proofs: once expired.
    await store.use_signature_proof("0xaa", now_s, now_s=0)
    await store.use_signature_proof("0xbb", now_s + 1, now_s=0)
    # Holds: stale ones released, finished ones deleted a day after the TTL.
    await store.create_key(make_key("k1", limit=1000, expires_at=now + DAY_MS))
    stale = (await store.hold("k1", 10, 10, "stale", now - HOUR_MS - 1)).hold
    fresh = (await store.hold("k1", 20, 20, "fresh", now - HOUR_MS + 1)).hold
    ancient = (await store.hold("k1", 40, 40, "ancient", now - HOUR_MS - DAY_MS - 1)).hold
    assert stale and fresh and ancient
    await store.settle_hold(ancient.hold_id, 40, now - HOUR_MS - DAY_MS)

    assert await store.prune(now, hold_ttl_s=3600) == {
        "holds_released": 1,
        "holds_deleted": 1,
        "reservations": 1,
        "receipts": 1,
        "signature_proofs": 1,
        "responses": 0,
    }
    assert await store.reserve_authorization(NETWORK, ASSET, WALLET, "0x01", now_s, "r") == "reserved"
    assert await store.reserve_authorization(NETWORK, ASSET, WALLET, "0x02", now_s, "r") == "in_use"
    assert await store.get_receipt("rct_old") is None and await store.get_receipt("rct_new") is not None
    # Pruned receipts still count in the running totals.
    assert (await store.list_receipts(WALLET, NETWORK, 10, 0))[1] == Cumulative(20, 18, 2, 2)
    assert await store.use_signature_proof("0xaa", now_s + 600, now_s=now_s) is True
    assert await store.use_signature_proof("0xbb", now_s + 600, now_s=now_s) is False
    assert await store.get_hold(ancient.hold_id) is None
    swept = await store.get_hold(stale.hold_id)
    assert swept is not None and (swept.status, swept.release_reason) == ("released", "sweeper")
    assert await store.get_hold(fresh.hold_id) == fresh
    key = await store.get_key("k1")
    assert key is not None and (key.budget_used, key.budget_reserved) == (40, 20)
    assert await store.prune(now, hold_ttl_s=3600) == dict.fromkeys(
        ("holds_released", "holds_deleted", "reservations", "receipts", "signature_proofs", "responses"), 0
    )


async def test_prune_deletes_through_indexes_on_sqlite(sqlite_store: Store) -> None:
    """Prune's statements run inline on the event loop: none may scan a whole table (it did for
    finished holds and reservations, a pause that grew with the store every 60 s)."""
    runner = sqlite_store._db._direct
    assert isinstance(runner, direct.SqliteRunner)
    connection = runner._inline_connection()
    dialect = SQLiteDialect_pysqlite(dbapi=sqlite3)
    statements = (
        holds._STALE,
        retention._FINISHED_HOLDS,
        retention._RESERVATIONS,
        retention._RECEIPTS,
        retention._SIGNATURE_PROOFS,
        retention._RESPONSES,
    )
    for statement in statements:
        compiled = statement.compiled(dialect)
        params = dict.fromkeys((name for name, _convert in compiled.positions), 0)
        plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + compiled.sql, compiled.args(params))]
        assert plan and all(detail.startswith("SEARCH") for detail in plan), (compiled.sql, plan)

"""Key holds: hold math, refusals, and the budget invariant under concurrency (payments.md §3.1)."""

from __future__ import annotations

import asyncio
import random

import pytest
from store_helpers import NOW, make_key, sqlite_statements

from gateway_core.store import KeyRecord, Store, UnknownKey, holds

pytestmark = pytest.mark.anyio


async def _key(store: Store, key_id: str = "k1") -> KeyRecord:
    key = await store.get_key(key_id)
    assert key is not None
    return key


@pytest.mark.parametrize(
    ("already_held", "wanted", "minimum", "granted"),
    [
        pytest.param(0, 30, 1, 30, id="fits"),
        pytest.param(80, 30, 10, 20, id="partial-above-minimum"),
        pytest.param(80, 30, 20, 20, id="partial-equal-minimum"),
        pytest.param(80, 30, 25, None, id="partial-below-minimum"),
        pytest.param(80, 20, 20, 20, id="all-or-nothing-fits"),
        pytest.param(81, 20, 20, None, id="all-or-nothing-refused"),
        pytest.param(100, 1, 0, None, id="nothing-left-even-with-minimum-0"),
    ],
)
async def test_hold_amount_is_min_of_wanted_and_remaining(
    store: Store, already_held: int, wanted: int, minimum: int, granted: int | None
) -> None:
    await store.create_key(make_key("k1", limit=100))
    if already_held:
        first = await store.hold("k1", already_held, already_held, "req_0", NOW)
        assert first.hold is not None
    outcome = await store.hold("k1", wanted, minimum, "req_1", NOW + 5)
    assert outcome.remaining_before == 100 - already_held
    if granted is None:
        assert outcome.hold is None and outcome.refusal == "budget_exhausted"
        assert outcome.key.budget_reserved == already_held
        return
    assert outcome.hold is not None
    assert outcome.hold.amount == granted and outcome.hold.status == "held"
    assert outcome.hold.hold_id.startswith("hold_") and len(outcome.hold.hold_id) == 37
    assert outcome.key.budget_reserved == already_held + granted
    assert outcome.key.last_used_at == NOW + 5
    assert await store.get_hold(outcome.hold.hold_id) == outcome.hold
    assert await _key(store) == outcome.key


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        pytest.param({"revoked_at": NOW - 1}, "revoked", id="revoked"),
        pytest.param({"expires_at": NOW}, "expired", id="expired"),
    ],
)
async def test_hold_refuses_revoked_and_expired_keys(store: Store, fields: dict[str, int], refusal: str) -> None:
    await store.create_key(make_key("k1", limit=100, **fields))
    outcome = await store.hold("k1", 10, 1, "req_1", NOW)
    assert (outcome.hold, outcome.refusal, outcome.key.budget_reserved) == (None, refusal, 0)


async def test_hold_on_unknown_key_raises(store: Store) -> None:
    with pytest.raises(UnknownKey):
        await store.hold("missing", 10, 1, "req_1", NOW)


@pytest.mark.parametrize(
    ("wanted", "minimum"),
    [pytest.param(0, 0, id="nothing-wanted"), pytest.param(10, 11, id="minimum-above-wanted")],
)
async def test_hold_rejects_nonsense_amounts(store: Store, wanted: int, minimum: int) -> None:
    await store.create_key(make_key("k1"))
    with pytest.raises(ValueError):
        await store.hold("k1", wanted, minimum, "req_1", NOW)


@pytest.mark.parametrize("all_or_nothing", [pytest.param(False, id="partial"), pytest.param(True, id="all-or-nothing")])
@pytest.mark.parametrize("processes", [pytest.param(1, id="one-store"), pytest.param(2, id="two-stores")])
async def test_concurrent_holds_never_exceed_the_budget(
    store: Store, second_store: Store, processes: int, all_or_nothing: bool
) -> None:
    limit = 1000
    await store.create_key(make_key("k1", limit=limit))
    stores = [store, second_store][:processes]
    wanted = [random.Random(i).randint(20, 60) for i in range(50)]
    assert sum(wanted) > limit

    async def one(i: int) -> int:
        outcome = await stores[i % processes].hold("k1", wanted[i], wanted[i] if all_or_nothing else 1, f"req_{i}", NOW)
        key = outcome.key
        assert key.budget_used + key.budget_reserved <= key.budget_limit
        return 0 if outcome.hold is None else outcome.hold.amount

    granted = await asyncio.gather(*(one(i) for i in range(50)))
    key = await _key(store)
    assert sum(granted) == key.budget_reserved <= limit
    if not all_or_nothing:
        assert key.budget_reserved == limit  # partial holds use up the budget exactly


async def test_concurrent_hold_settle_release_keeps_the_books(store: Store, second_store: Store) -> None:
    await store.create_key(make_key("k1", limit=500))

    async def call(i: int) -> int:
        s = (store, second_store)[i % 2]
        outcome = await s.hold("k1", 40, 1, f"req_{i}", NOW)
        if outcome.hold is None:
            return 0
        if i % 3 == 0:
            assert await s.release_hold(outcome.hold.hold_id)
            return 0
        settled = await s.settle_hold(outcome.hold.hold_id, 25 + i % 30, NOW + 1)
        return settled.charged

    charged = await asyncio.gather(*(call(i) for i in range(40)))
    key = await _key(store)
    assert (key.budget_used, key.budget_reserved) == (sum(charged), 0)
    assert key.budget_used <= 500


@pytest.mark.parametrize(
    ("meanwhile", "wanted", "granted", "remaining_before"),
    [
        pytest.param("nothing", 30, 30, 100, id="unchanged"),
        pytest.param("held-elsewhere", 30, 30, 60, id="budget-shrank-still-enough"),
        pytest.param("held-elsewhere", 80, 60, 60, id="budget-shrank-below-wanted"),
        pytest.param("released-elsewhere", 95, 95, 100, id="budget-grew-back"),
    ],
)
async def test_hold_from_a_stale_view_of_the_key_holds_what_is_there(
    store: Store, second_store: Store, meanwhile: str, wanted: int, granted: int, remaining_before: int
) -> None:
    await store.create_key(make_key("k1", limit=100))
    if meanwhile == "released-elsewhere":
        other = await second_store.hold("k1", 40, 40, "req_0", NOW)
        assert other.hold is not None
    seen = await _key(store)  # what token validation read
    if meanwhile == "held-elsewhere":
        assert (await second_store.hold("k1", 40, 40, "req_0", NOW)).hold is not None
    if meanwhile == "released-elsewhere":
        assert other.hold is not None and await second_store.release_hold(other.hold.hold_id)
    outcome = await store.hold("k1", wanted, 1, "req_1", NOW + 1, seen=seen)
    assert outcome.hold is not None and (outcome.hold.amount, outcome.remaining_before) == (granted, remaining_before)
    assert outcome.key == await _key(store)
    assert await store.get_hold(outcome.hold.hold_id) == outcome.hold


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        pytest.param({"revoked_at": NOW}, "revoked", id="revoked-since"),
        pytest.param({"budget_reserved": 100}, "budget_exhausted", id="used-up-since"),
    ],
)
async def test_hold_from_a_stale_view_sees_a_refusal(store: Store, change: dict[str, int], refusal: str) -> None:
    await store.create_key(make_key("k1", limit=100))
    seen = await _key(store)
    if "revoked_at" in change:
        await store.revoke_key("k1", NOW)
    else:
        assert (await store.hold("k1", 100, 100, "req_0", NOW)).hold is not None
    outcome = await store.hold("k1", 10, 1, "req_1", NOW + 1, seen=seen)
    assert (outcome.hold, outcome.refusal) == (None, refusal)
    assert outcome.key == await _key(store)


async def test_hold_ignores_a_view_of_another_key(store: Store) -> None:
    await store.create_key(make_key("k1", limit=100))
    await store.create_key(make_key("k2", limit=5))
    outcome = await store.hold("k2", 10, 1, "req_1", NOW, seen=await _key(store, "k1"))
    assert outcome.hold is not None and (outcome.hold.key_id, outcome.hold.amount) == ("k2", 5)


@pytest.mark.parametrize("attempts", [pytest.param(3, id="default"), pytest.param(1, id="one-attempt")])
async def test_concurrent_holds_from_one_stale_view_never_exceed_the_budget(
    store: Store, second_store: Store, attempts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every hold starts from the same (soon wrong) view, as calls validated at once do: they
    # are retried on the real budget, and the busiest fall back to the key's row lock (with
    # one attempt, most of them on PostgreSQL).
    monkeypatch.setattr(holds, "_PG_HOLD_ATTEMPTS", attempts)
    await store.create_key(make_key("k1", limit=1000))
    seen = await _key(store)

    async def one(i: int) -> int:
        outcome = await (store, second_store)[i % 2].hold("k1", 30 + i % 7, 1, f"req_{i}", NOW, seen=seen)
        return 0 if outcome.hold is None else outcome.hold.amount

    granted = await asyncio.gather(*(one(i) for i in range(60)))
    key = await _key(store)
    assert sum(granted) == key.budget_reserved == 1000


async def test_sqlite_hold_writes_without_reading_the_key_first(sqlite_store: Store) -> None:
    """The hold is inserted from the key row and reserved on it; only a refusal reads the key,
    to tell which refusal it is."""
    await sqlite_store.create_key(make_key("k1", limit=100))
    with sqlite_statements(sqlite_store) as held:
        outcome = await sqlite_store.hold("k1", 60, 1, "req_1", NOW)
    with sqlite_statements(sqlite_store) as refused:
        refusal = await sqlite_store.hold("k1", 60, 50, "req_2", NOW)
    assert outcome.hold is not None and (outcome.hold.amount, outcome.remaining_before) == (60, 100)
    assert (refusal.hold, refusal.refusal, refusal.remaining_before) == (None, "budget_exhausted", 40)
    assert held == ["BEGIN", "INSERT", "UPDATE", "COMMIT"]
    assert refused == ["BEGIN", "INSERT", "SELECT", "COMMIT"]

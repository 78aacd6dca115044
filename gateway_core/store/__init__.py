"""Durable state: one storage interface over SQLite (the embedded default) and PostgreSQL.

``GATEWAY_STORE_URL`` is ``sqlite:///./gateway.db`` (aiosqlite; WAL mode and a busy timeout
so several processes share the file) or ``postgresql://…`` (asyncpg; any number of
replicas). Open it with :meth:`Store.open`, which applies pending migrations unless told
not to (``gateway db upgrade`` does the same on demand).

Layout::

    store.py         Store: the facade every caller uses
    records.py       the dataclasses it returns
    errors.py        StoreUnavailable (→ 503 store_unavailable) and friends
    database.py      engines, URL handling, write/read transactions, error translation
    prepared.py      statements compiled once per dialect; the Tx interface operations use
    direct.py        runs operations on the driver: inline on the event loop (SQLite)
    direct_postgres.py   … or one round trip per statement with asyncpg (PostgreSQL; its own
                     module so a SQLite deployment never loads asyncpg)
    schema.py        table definitions (and the place that describes tables still to come)
    migrate.py       Alembic, in-process, under a cross-process lock
    migrations/      env.py and the revisions (v0001_initial …)
    keys.py holds.py ledger.py reservations.py receipts.py responses.py generated.py
    proofs.py
                     one module per kind of record
    retention.py     what prune deletes or releases

Concurrency: every invariant (a key's ``used + reserved ≤ limit``, one use per x402
authorization, per ledger nonce and per wallet signature, non-negative balances, first
writer wins for generated secrets, a final response status never changes) is enforced
inside one database transaction — with ``BEGIN IMMEDIATE`` on SQLite and row locks plus
conditional updates or unique-key upserts on PostgreSQL, where a paid call's hold and
settlement are each a single statement — so it holds across processes; nothing is cached in
memory.
"""

from __future__ import annotations

from gateway_core.store.errors import (
    DuplicateRecord,
    NotFound,
    StoreError,
    StoreUnavailable,
    UnknownHold,
    UnknownKey,
)
from gateway_core.store.records import (
    UINT256_MAX,
    AllowanceKind,
    Cumulative,
    Hold,
    HoldOutcome,
    HoldRefusal,
    KeyRecord,
    LedgerAccount,
    LedgerTransfer,
    LedgerTransferRecord,
    ReceiptRow,
    Reservation,
    ReservationState,
    ReserveResult,
    ResponseOwnerKind,
    ResponseRecord,
    ResponseStatus,
    SettleOutcome,
    SettleStatus,
    TransferFailure,
    TransferOutcome,
)
from gateway_core.store.responses import ResponseChainError
from gateway_core.store.store import Store

__all__ = [
    "UINT256_MAX",
    "AllowanceKind",
    "Cumulative",
    "DuplicateRecord",
    "Hold",
    "HoldOutcome",
    "HoldRefusal",
    "KeyRecord",
    "LedgerAccount",
    "LedgerTransfer",
    "LedgerTransferRecord",
    "NotFound",
    "ReceiptRow",
    "Reservation",
    "ReservationState",
    "ReserveResult",
    "ResponseChainError",
    "ResponseOwnerKind",
    "ResponseRecord",
    "ResponseStatus",
    "SettleOutcome",
    "SettleStatus",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TransferFailure",
    "TransferOutcome",
    "UnknownHold",
    "UnknownKey",
]

"""The :class:`Store` facade: the one object the gateway uses for durable state.

Each method is one atomic operation delegated to the module that owns its tables. Methods
that need the time take it as an argument where the caller already has it (so one request
uses one clock reading); the others default to the wall clock.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Literal

from sqlalchemy import Integer, literal, select

from gateway_core.store import (
    generated,
    holds,
    keys,
    ledger,
    migrate,
    proofs,
    receipts,
    reservations,
    responses,
    retention,
)
from gateway_core.store.database import Database
from gateway_core.store.errors import StoreUnavailable
from gateway_core.store.prepared import Prepared
from gateway_core.store.records import (
    AllowanceKind,
    Cumulative,
    Hold,
    HoldOutcome,
    KeyRecord,
    LedgerAccount,
    LedgerTransfer,
    LedgerTransferRecord,
    ReceiptRow,
    Reservation,
    ReservationState,
    ReserveResult,
    ResponseRecord,
    ResponseStatus,
    SettleOutcome,
    TransferOutcome,
)

__all__ = ["Store"]

_PING = Prepared(select(literal(1, Integer).label("one")))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Store:
    """Durable gateway state on SQLite (``sqlite:///path``) or PostgreSQL (``postgresql://…``).

    Every invariant holds across processes and replicas sharing the database; nothing is
    cached in the process. Failures to reach the database raise :class:`StoreUnavailable`.
    Use :meth:`open`, not the constructor.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, schema: str | None = None) -> Store:
        """Connect to ``url``; with ``migrate`` apply pending migrations first.

        :param schema: PostgreSQL schema holding the tables (created if missing on upgrade);
            None uses the connection's default ``search_path``.
        :raises ValueError: unsupported URL, or ``schema`` with SQLite.
        :raises StoreUnavailable: ``migrate`` and the database cannot be reached.
        """
        store = cls(Database(url, schema=schema))
        if migrate:
            try:
                await store.upgrade()
            except BaseException:
                await store.close()
                raise
        return store

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return "postgresql" if self._db.is_postgresql else "sqlite"

    async def close(self) -> None:
        await self._db.dispose()

    async def upgrade(self) -> None:
        """Apply pending migrations (idempotent; safe to run from several processes at once)."""
        await migrate.upgrade(self._db)

    async def revision(self) -> str | None:
        """The schema revision of the database (None before the first upgrade)."""
        return await migrate.current_revision(self._db)

    @staticmethod
    def head_revision() -> str:
        """The newest schema revision this package ships."""
        return migrate.head_revision()

    async def ping(self) -> bool:
        """True when a round trip to the database succeeds (health checks); never raises."""
        try:
            row = await self._db.one(_PING, {}, write=False)
        except StoreUnavailable:
            return False
        return row is not None and row["one"] == 1

    # -- generated secrets ---------------------------------------------------------------

    async def get_or_create_secret(self, name: str, value_if_absent: str) -> str:
        """Store ``value_if_absent`` under ``name`` unless present; return the stored value."""
        return await generated.get_or_create_secret(self._db, name, value_if_absent, _now_ms())

    async def get_secret(self, name: str) -> str | None:
        """The value stored under ``name``; None when it was never created."""
        return await generated.get_secret(self._db, name)

    # -- Compose Keys (payments.md §2.3, §3.1) -------------------------------------------

    async def create_key(self, record: KeyRecord) -> None:
        """:raises DuplicateRecord: the key id exists."""
        await keys.create_key(self._db, record)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        return await keys.get_key(self._db, key_id)

    async def list_keys(self, wallet: str | None = None, chain_id: int | None = None) -> list[KeyRecord]:
        """Keys newest first, optionally of one wallet and/or chain (revoked and expired included)."""
        return await keys.list_keys(self._db, wallet, chain_id)

    async def revoke_key(self, key_id: str, now_ms: int) -> KeyRecord | None:
        """Set ``revokedAt`` unless already set; the record after, or None if unknown."""
        return await keys.revoke_key(self._db, key_id, now_ms)

    async def touch_key(self, key_id: str, now_ms: int) -> None:
        """Set ``lastUsedAt`` (never backwards)."""
        await keys.touch_key(self._db, key_id, now_ms)

    async def hold(
        self,
        key_id: str,
        wanted: int,
        minimum: int,
        request_id: str,
        now_ms: int,
        *,
        seen: KeyRecord | None = None,
    ) -> HoldOutcome:
        """Reserve ``min(wanted, remaining)`` when remaining ≥ ``minimum`` and > 0 (§3.1 step 3).

        Refused (``hold`` None, ``refusal`` set) when the budget does not reach ``minimum``,
        or the key is revoked or expired at ``now_ms``. ``minimum == wanted`` is the
        all-or-nothing hold of a quotable media call.

        :param seen: the key as the caller just read it (token validation). On PostgreSQL the
            hold is then one statement when the key has not changed since; it is only a
            starting point, never trusted over the database.
        :raises UnknownKey: no such key.
        """
        return await holds.hold(self._db, key_id, wanted, minimum, request_id, now_ms, seen)

    async def get_hold(self, hold_id: str) -> Hold | None:
        return await holds.get_hold(self._db, hold_id)

    async def settle_hold(
        self,
        hold_id: str,
        charge: int,
        now_ms: int,
        transfer: LedgerTransfer | None = None,
        *,
        receipt: ReceiptRow | None = None,
    ) -> SettleOutcome:
        """Settle a hold with the metered amount ``charge`` (§3.1 steps 6 and 9).

        With ``transfer`` (sandbox collection), ``transfer.amount`` is ignored: the charged
        amount moves on the ledger in the same transaction, or — when the ledger refuses —
        the hold is released and nothing is charged (``released_transfer_failed``).

        With ``receipt``, the receipt is stored in the same transaction when what this call
        charges is ``receipt.final_amount`` (``settled`` or ``settled_after_release``), and
        ``cumulative`` of the outcome is set; otherwise it is not stored and ``cumulative`` is
        None. The caller builds it for the charge it expects — with sandbox collection, naming
        the ``transfer.tx_hash`` it passes.

        :raises UnknownHold: no such hold.
        :raises DuplicateRecord: the receipt id exists (nothing is settled then).
        """
        return await holds.settle_hold(self._db, hold_id, charge, now_ms, transfer, receipt)

    async def release_hold(self, hold_id: str, *, now_ms: int | None = None) -> bool:
        """Release a hold still ``held`` (no charge); False when it was not."""
        return await holds.release_hold(self._db, hold_id, _now_ms() if now_ms is None else now_ms)

    async def release_stale_holds(self, older_than_ms: int, *, now_ms: int | None = None) -> int:
        """Release holds created before the instant ``older_than_ms`` that are still ``held``."""
        return await holds.release_stale_holds(self._db, older_than_ms, _now_ms() if now_ms is None else now_ms)

    # -- x402 reservations (payments.md §6.6) --------------------------------------------

    async def reserve_authorization(
        self,
        network: str,
        asset: str,
        payer: str,
        nonce: str,
        expires_at: int,
        request_id: str,
        *,
        now_ms: int | None = None,
    ) -> ReserveResult:
        """Insert an ``in_flight`` reservation; ``expires_at`` is the deadline in seconds."""
        now = _now_ms() if now_ms is None else now_ms
        return await reservations.reserve(self._db, network, asset, payer, nonce, expires_at, request_id, now)

    async def set_reservation_state(
        self,
        network: str,
        asset: str,
        payer: str,
        nonce: str,
        state: Literal["used", "settled", "pending", "failed"],
        *,
        detail_json: str | None = None,
        now_ms: int | None = None,
    ) -> bool:
        """Move a reservation on (``in_flight`` → any; ``pending`` → ``settled``/``failed``).

        :param detail_json: kept with the row, e.g. what the reconciler needs to retry a
            ``pending`` settlement.
        :returns: False when the reservation is missing or already terminal.
        """
        target: ReservationState = state
        now = _now_ms() if now_ms is None else now_ms
        return await reservations.set_state(self._db, network, asset, payer, nonce, target, now, detail_json)

    async def release_reservation(self, network: str, asset: str, payer: str, nonce: str) -> bool:
        """Delete the reservation if still ``in_flight``; True when deleted."""
        return await reservations.release(self._db, network, asset, payer, nonce)

    async def pending_reservations(self) -> list[Reservation]:
        return await reservations.pending(self._db)

    # -- receipts (payments.md §8) -------------------------------------------------------

    async def insert_receipt(self, receipt: ReceiptRow) -> Cumulative:
        """Store a receipt; returns the payer's totals on its network including it.

        :raises DuplicateRecord: the receipt id exists.
        """
        return await receipts.insert_receipt(self._db, receipt)

    async def get_receipt(self, receipt_id: str) -> ReceiptRow | None:
        return await receipts.get_receipt(self._db, receipt_id)

    async def list_receipts(
        self, wallet: str, network: str, limit: int, offset: int
    ) -> tuple[list[ReceiptRow], Cumulative]:
        """A page of the wallet's receipts on ``network``, newest first, with current totals."""
        return await receipts.list_receipts(self._db, wallet, network, limit, offset)

    # -- sandbox ledger (payments.md §9.7) -----------------------------------------------

    async def ledger_account(self, network: str, asset: str, address: str) -> LedgerAccount:
        return await ledger.account(self._db, network, asset, address)

    async def ledger_fund(
        self,
        network: str,
        asset: str,
        address: str,
        amount: int,
        approve_permit2: bool,
        approve_spender: bool,
        *,
        now_ms: int | None = None,
    ) -> LedgerAccount:
        """Add ``amount``; each approval sets that allowance to 2^256-1 (unlimited)."""
        return await ledger.fund(
            self._db,
            network,
            asset,
            address,
            amount,
            approve_permit2=approve_permit2,
            approve_spender=approve_spender,
            now_ms=_now_ms() if now_ms is None else now_ms,
        )

    async def ledger_approve(
        self, network: str, asset: str, address: str, kind: AllowanceKind, amount: int, *, now_ms: int | None = None
    ) -> LedgerAccount:
        """Set the ``permit2`` or ``spender`` allowance of ``address`` to ``amount`` (may be finite)."""
        now = _now_ms() if now_ms is None else now_ms
        return await ledger.approve(self._db, network, asset, address, kind, amount, now_ms=now)

    async def ledger_nonce_used(self, network: str, asset: str, address: str, nonce: str) -> bool:
        return await ledger.nonce_used(self._db, network, asset, address, nonce)

    async def ledger_transfer(self, transfer: LedgerTransfer, *, now_ms: int | None = None) -> TransferOutcome:
        """Move funds in one transaction, after checking nonce, allowance and balance."""
        return await ledger.transfer(self._db, transfer, _now_ms() if now_ms is None else now_ms)

    async def ledger_transfers(
        self, network: str, asset: str, address: str, limit: int = 20
    ) -> list[LedgerTransferRecord]:
        """Transfers from or to ``address``, newest first."""
        return await ledger.transfers(self._db, network, asset, address, limit)

    # -- response records (responses.md §6) ----------------------------------------------

    async def create_response(self, record: ResponseRecord) -> None:
        """:raises DuplicateRecord: the response id exists."""
        await responses.create_response(self._db, record)

    async def get_response(self, response_id: str, now_ms: int) -> ResponseRecord | None:
        """The record, or None when missing or expired at ``now_ms``."""
        return await responses.get_response(self._db, response_id, now_ms)

    async def update_response(
        self,
        response_id: str,
        *,
        status: ResponseStatus | None = None,
        output_json: str | None = None,
        usage_json: str | None = None,
        error_json: str | None = None,
        now_ms: int,
    ) -> bool:
        """Set the given fields (None = unchanged) while the record is ``queued`` or ``in_progress``.

        A final record (``completed``, ``incomplete``, ``failed``) never changes, and an
        ``in_progress`` one does not go back to ``queued``; a ``cancelled`` one only takes its
        run's final output with ``status="cancelled"``.

        :returns: False when the record is missing, expired or may not change so.
        """
        return await responses.update_response(
            self._db,
            response_id,
            now_ms,
            status=status,
            output_json=output_json,
            usage_json=usage_json,
            error_json=error_json,
        )

    async def request_cancel(self, response_id: str, now_ms: int) -> ResponseRecord | None:
        """Cancel an open (``queued`` or ``in_progress``) record: ``status`` ``cancelled`` and
        ``cancel_requested`` set, at once.

        A running call learns it at its next conditional write (which then matches no open
        record) and records what it delivered with ``update_response(status="cancelled")``.
        A final record is returned unchanged.

        :returns: the record after, or None when missing or expired.
        """
        return await responses.request_cancel(self._db, response_id, now_ms)

    async def response_chain(
        self, response_id: str, now_ms: int, max_depth: int = responses.DEFAULT_MAX_CHAIN_DEPTH
    ) -> list[ResponseRecord]:
        """``response_id`` and the records its ``previous_response_id`` links reach, oldest first.

        :raises ResponseChainError: a cycle, a missing or expired link, or more than
            ``max_depth`` records; its ``response_id`` names the record at fault.
        """
        return await responses.response_chain(self._db, response_id, now_ms, max_depth)

    # -- wallet-signature replay (payments.md §4.5) --------------------------------------

    async def use_signature_proof(self, digest: str, expires_at: int, *, now_s: int | None = None) -> bool:
        """Accept a signature once: False while an earlier use (until ``expires_at``, seconds) is remembered."""
        now = time.time_ns() // 1_000_000_000 if now_s is None else now_s
        return await proofs.use_signature_proof(self._db, digest, expires_at, now)

    # -- retention -----------------------------------------------------------------------

    async def prune(self, now_ms: int, *, hold_ttl_s: int = retention.DEFAULT_HOLD_TTL_S) -> dict[str, int]:
        """Delete expired records and release stale holds (see :mod:`gateway_core.store.retention`)."""
        return await retention.prune(self._db, now_ms, hold_ttl_s)

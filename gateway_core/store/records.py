"""The records the store hands out: plain frozen dataclasses, no ORM objects.

Money is always an ``int`` of atomic USDC units; times are Unix milliseconds unless a field
says seconds (x402 deadlines and signature-proof expiries are seconds, as on the wire).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "UINT256_MAX",
    "AllowanceKind",
    "Cumulative",
    "Hold",
    "HoldOutcome",
    "HoldRefusal",
    "HoldStatus",
    "KeyRecord",
    "LedgerAccount",
    "LedgerTransfer",
    "LedgerTransferRecord",
    "ReceiptRow",
    "ReleaseReason",
    "Reservation",
    "ReservationState",
    "ReserveResult",
    "ResponseOwnerKind",
    "ResponseRecord",
    "ResponseStatus",
    "SettleOutcome",
    "SettleStatus",
    "TransferFailure",
    "TransferOutcome",
]

# An ERC-20 "unlimited" approval; the ledger never decrements an allowance at this value.
UINT256_MAX = 2**256 - 1

HoldStatus = Literal["held", "settled", "released"]
# Who released a hold: the caller (call failed), the sweeper (TTL) or a failed sandbox transfer.
# Only a sweeper release may still be settled late (payments.md §3.1 step 9).
ReleaseReason = Literal["caller", "sweeper", "transfer_failed"]
HoldRefusal = Literal["budget_exhausted", "revoked", "expired"]
SettleStatus = Literal[
    "settled",  # the hold was held: charged = min(charge, hold)
    "settled_after_release",  # the sweeper had released it: charged = min(charge, hold, remaining budget)
    "released_transfer_failed",  # sandbox collection failed: hold released, nothing charged
    "already_settled",  # no-op: settled before
    "already_released",  # no-op: released by the caller or after a failed transfer
]
ReservationState = Literal["in_flight", "used", "settled", "pending", "failed"]
ReserveResult = Literal["reserved", "in_use", "already_used"]
AllowanceKind = Literal["permit2", "spender"]
TransferFailure = Literal["nonce_already_used", "allowance_too_low", "insufficient_funds"]
# queued and in_progress may still change; the other four are final (responses.md §6.1).
ResponseStatus = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
ResponseOwnerKind = Literal["compose_key", "x402", "none"]


@dataclass(frozen=True)
class KeyRecord:
    """A Compose Key (payments.md §2.3). ``user_address`` is stored lowercase."""

    key_id: str
    user_address: str
    purpose: str
    budget_limit: int
    budget_used: int
    budget_reserved: int
    created_at: int
    expires_at: int
    chain_id: int
    name: str | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    @property
    def remaining(self) -> int:
        """``budgetRemaining``: never negative, even on a record built by hand."""
        return max(0, self.budget_limit - self.budget_used - self.budget_reserved)


@dataclass(frozen=True)
class Hold:
    """A key hold row (``hold_`` + 32 hex). ``charged`` is set once settled."""

    hold_id: str
    key_id: str
    amount: int
    status: HoldStatus
    request_id: str
    created_at: int
    charged: int | None = None
    finished_at: int | None = None
    release_reason: ReleaseReason | None = None


@dataclass(frozen=True)
class HoldOutcome:
    """Result of :meth:`Store.hold`. ``hold`` is None when refused; ``refusal`` says why."""

    hold: Hold | None
    key: KeyRecord
    remaining_before: int
    refusal: HoldRefusal | None = None


@dataclass(frozen=True)
class SettleOutcome:
    """Result of :meth:`Store.settle_hold`.

    ``charged`` is what *this call* added to ``budgetUsed`` (0 for the no-op statuses);
    ``uncollected`` = requested charge - charged when the charge was capped (receipt
    ``uncollected_amount_wei``). ``reason`` is the ledger failure for
    ``released_transfer_failed``. ``cumulative`` is set when a receipt given to the settlement
    was stored with it: the payer's totals including that receipt.
    """

    status: SettleStatus
    charged: int
    uncollected: int
    key: KeyRecord
    hold: Hold
    tx_hash: str | None = None
    reason: TransferFailure | None = None
    cumulative: Cumulative | None = None


@dataclass(frozen=True)
class Reservation:
    """An x402 authorization reservation (payments.md §6.6). ``expires_at`` is the
    authorization's ``validBefore``/``deadline`` in **seconds**."""

    network: str
    asset: str
    payer: str
    nonce: str
    state: ReservationState
    expires_at: int
    request_id: str
    created_at: int
    updated_at: int
    detail_json: str | None = None


@dataclass(frozen=True)
class Cumulative:
    """Running totals over all receipts of one payer on one network (payments.md §8.1)."""

    total_amount: int = 0
    provider_amount: int = 0
    platform_fee: int = 0
    receipt_count: int = 0


@dataclass(frozen=True)
class ReceiptRow:
    """A stored receipt. ``body_json`` is the §8.1 body as the caller rendered it; the
    store never parses it. ``cumulative`` is the snapshot taken when it was inserted
    (filled on reads, ignored on insert)."""

    receipt_id: str
    payer: str
    network: str
    payment_method: str
    key_id: str | None
    final_amount: int
    provider_amount: int
    platform_fee: int
    body_json: str
    created_at: int
    cumulative: Cumulative | None = None


@dataclass(frozen=True)
class LedgerAccount:
    """A sandbox ledger account; all zeros when the address never appeared."""

    network: str
    asset: str
    address: str
    balance: int = 0
    permit2_allowance: int = 0
    spender_allowance: int = 0


@dataclass(frozen=True)
class LedgerTransfer:
    """A transfer to perform. ``nonce`` (when set) is consumed for (network, asset,
    from_address); ``allowance`` names the allowance of ``from_address`` it spends;
    ``tx_hash`` is generated (``0x`` + 64 random hex) unless the caller supplies one."""

    network: str
    asset: str
    from_address: str
    to_address: str
    amount: int
    nonce: str | None = None
    allowance: AllowanceKind | None = None
    tx_hash: str | None = None


@dataclass(frozen=True)
class TransferOutcome:
    """``ok`` with a ``tx_hash`` (``0x`` + 64 hex), or not ``ok`` with a ``reason``."""

    ok: bool
    tx_hash: str | None = None
    reason: TransferFailure | None = None


@dataclass(frozen=True)
class LedgerTransferRecord:
    """A transfer that happened; ``at`` is Unix milliseconds."""

    tx_hash: str
    network: str
    asset: str
    from_address: str
    to_address: str
    amount: int
    at: int


@dataclass(frozen=True)
class ResponseRecord:
    """A stored chat/responses/embeddings result (``resp_…``, responses.md §6.1).

    The ``*_json`` fields are JSON text as the caller rendered it; the store never parses
    them. ``request_json`` is the normalized request needed to continue the conversation,
    ``input_items_json`` the input item list in order. ``owner_id`` is the paying
    wallet, lowercase: the Compose Key's owner (``compose_key``, so any key of that wallet may
    read it, spec/responses.md §6.2) or the x402 payer (``x402``); None for ``none``. The record reads
    as missing from ``expires_at`` on.
    """

    response_id: str
    status: ResponseStatus
    model: str
    owner_kind: ResponseOwnerKind
    request_json: str
    input_items_json: str
    created_at: int
    updated_at: int
    expires_at: int
    owner_id: str | None = None
    previous_response_id: str | None = None
    output_json: str | None = None
    usage_json: str | None = None
    error_json: str | None = None
    background: bool = False
    cancel_requested: bool = False

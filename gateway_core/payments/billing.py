"""What both payment modes share: the price quote before a call and the receipt after it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway_core.errors import GatewayError
from gateway_core.payments.gate import PaymentRequest, Receipt
from gateway_core.payments.pricing import Metered, PricingError, is_quotable, largest_output_cap, max_cost
from gateway_core.payments.receipts import build_receipt, new_receipt_id, with_cumulative
from gateway_core.store import Cumulative, ReceiptRow, Store, StoreUnavailable

__all__ = ["PendingReceipt", "Quote", "ReceiptBook", "lowered_cap", "quote", "store_unavailable"]


_TOTALS = ("total_amount_wei", "provider_amount_wei", "platform_fee_wei", "receipt_count")


def store_unavailable(exc: BaseException) -> GatewayError:
    return GatewayError(503, "store_unavailable", "Store is unavailable")


@dataclass(frozen=True)
class Quote:
    """The price bounds of a call before it runs (spec/payments.md §5).

    :ivar max_cost: M, the most it can cost with the requested output cap.
    :ivar min_cost: the smallest runnable cost (M with an output cap of 1 for text, M itself
        for quotable media), ``None`` for unquotable calls.
    """

    max_cost: int
    min_cost: int | None
    quotable: bool


def _not_priced(request: PaymentRequest) -> GatewayError:
    model = request.row.get("modelId", "")
    return GatewayError(503, "model_not_priced", f"Model '{model}' has no usable pricing")


def quote(request: PaymentRequest, *, fee_bps: int, default_media_hold: int) -> Quote:
    """M and the smallest runnable cost of ``request``."""
    try:
        if request.metrics is None:  # token-priced: text (and embeddings, whose cap is 0)
            full = max_cost(request.row, request.input_tokens_estimate, request.max_output_tokens, fee_bps=fee_bps)
            smallest = (
                max_cost(request.row, request.input_tokens_estimate, 1, fee_bps=fee_bps)
                if request.max_output_tokens > 0
                else full
            )
            return Quote(full, smallest, True)
        if not is_quotable(request.row, request.metrics):
            return Quote(default_media_hold, None, False)
        full = max_cost(request.row, 0, 0, fee_bps=fee_bps, metrics=request.metrics)
        return Quote(full, full, True)
    except PricingError as exc:
        raise _not_priced(request) from exc


def lowered_cap(request: PaymentRequest, budget: int, *, fee_bps: int) -> int | None:
    """The largest output cap the budget covers (§5.2); ``None`` when not even one token fits."""
    try:
        return largest_output_cap(
            request.row, request.input_tokens_estimate, request.max_output_tokens, budget, fee_bps=fee_bps
        )
    except PricingError as exc:
        raise _not_priced(request) from exc


@dataclass(frozen=True)
class PendingReceipt:
    """A receipt built but not yet stored: :attr:`row` goes to the store (alone, or with the
    settlement it describes), :meth:`finish` renders it once the store returned the totals."""

    row: ReceiptRow
    _stored: dict[str, Any]  # the §8.1 body without its running totals
    _headers: dict[str, str]
    _chat: bool

    def finish(self, totals: Cumulative, headers: dict[str, str] | None = None) -> Receipt:
        """The receipt's forms with the payer's totals; ``headers`` replace those given to
        :meth:`ReceiptBook.prepare` (when they depend on how the settlement went)."""
        full = with_cumulative(
            self._stored,
            {
                "total_amount_wei": totals.total_amount,
                "provider_amount_wei": totals.provider_amount,
                "platform_fee_wei": totals.platform_fee,
                "receipt_count": totals.receipt_count,
            },
        )
        return Receipt(full, self._headers if headers is None else headers, chat=self._chat)


class ReceiptBook:
    """Builds a receipt, stores it with the payer's running totals, and renders its forms."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def prepare(
        self,
        *,
        request: PaymentRequest,
        payer: str,
        payment_method: str,
        metered: Metered,
        charged: int,
        usage_source: str,
        network: str,
        settlement_status: str,
        tx_hash: str | None = None,
        payment_intent_id: str | None = None,
        key_id: str | None = None,
        headers: dict[str, str] | None = None,
        chat: bool = True,
        settled_at_ms: int | None = None,
    ) -> PendingReceipt:
        """Build the receipt of a settlement (``settled_at``: ``settled_at_ms`` or now)."""
        receipt_id = new_receipt_id()
        settled_at = int(self._clock() * 1000) if settled_at_ms is None else settled_at_ms

        # The stored body has no running totals: they are computed in the insert's own
        # transaction (the sum over the payer's receipts, this one included) and kept beside it;
        # :meth:`PendingReceipt.finish` adds them.
        stored = build_receipt(
            receipt_id=receipt_id,
            action=request.action,
            resource=request.resource_url,
            user_address=payer,
            payment_method=payment_method,
            metered=metered,
            charged=charged,
            usage_source=usage_source,
            network=network,
            settlement_status=settlement_status,
            tx_hash=tx_hash,
            payment_intent_id=payment_intent_id,
            settled_at_ms=settled_at,
            cumulative=dict.fromkeys(_TOTALS, 0),
        )
        del stored["cumulative"]
        row = ReceiptRow(
            receipt_id=receipt_id,
            payer=payer,
            network=network,
            payment_method=payment_method,
            key_id=key_id,
            final_amount=charged,
            provider_amount=metered.provider_amount,
            platform_fee=metered.platform_fee,
            body_json=orjson.dumps(stored).decode(),
            created_at=settled_at,
        )
        return PendingReceipt(row, stored, headers or {}, chat)

    async def issue(self, pending: PendingReceipt) -> Receipt:
        """Store a receipt built by :meth:`prepare` for a settlement that already happened (its
        own transaction), then render it with the payer's running totals."""
        try:
            totals = await self._store.insert_receipt(pending.row)
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc
        return pending.finish(totals)

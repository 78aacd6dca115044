"""Paying with a Compose Key: hold before the call, settle or release after (spec/payments.md §3)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway_core.errors import GatewayError
from gateway_core.payments.billing import PendingReceipt, ReceiptBook, lowered_cap, quote, store_unavailable
from gateway_core.payments.gate import Authorization, PaymentRequest, Receipt
from gateway_core.payments.keys import ComposeKeys, budget_headers
from gateway_core.payments.pricing import Metered, meter
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.store import Hold, KeyRecord, LedgerTransfer, Store, StoreUnavailable, UnknownKey
from gateway_core.types import Usage

__all__ = ["KeyPayments", "KeyState"]


@dataclass(frozen=True)
class KeyState:
    """What a key authorization remembers until settle or release."""

    request: PaymentRequest
    key: KeyRecord
    hold: Hold
    chain: ChainRow


def _exhausted(key: KeyRecord, message: str = "Compose key budget exhausted") -> GatewayError:
    headers = {**budget_headers(key), "x-session-invalid": "budget_exhausted"}
    return GatewayError(402, "budget_exhausted", message, headers=headers)


class KeyPayments:
    """:param settlement: ``ledger`` (the budget is the payment) or ``sandbox`` (collected on
    the sandbox ledger in the settle transaction). ``onchain`` is not implemented yet."""

    def __init__(
        self,
        *,
        store: Store,
        keys: ComposeKeys,
        receipts: ReceiptBook,
        chain_of: Callable[[int], ChainRow | None],
        pay_to: str,
        settlement: str,
        fee_bps: int,
        default_media_hold: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = keys
        self._receipts = receipts
        self._chain_of = chain_of
        self._pay_to = pay_to
        self._settlement = settlement
        self._fee_bps = fee_bps
        self._default_media_hold = default_media_hold
        self._clock = clock

    async def authorize(self, request: PaymentRequest, token: str, requested_chain: int | None) -> Authorization:
        # The key is read by the hold itself (its result carries the key row), not beforehand:
        # one statement fewer per call. The hold only succeeds on a key that is neither
        # revoked nor expired, and a refusal reads the key; the checks of §2.2 and of the
        # chain then run on that row in their usual order, before any budget error, and give
        # back a hold they refuse.
        claims = self._keys.claims(token)
        try:
            price = quote(request, fee_bps=self._fee_bps, default_media_hold=self._default_media_hold)
        except GatewayError:
            key = await self._keys.validate(token)  # the key's errors come before the price's
            self._chain(key, requested_chain)
            raise
        # Text calls run on any hold that buys one output token (the cap is lowered to fit);
        # quotable media need the whole price; unquotable calls take what is left (§3.1).
        minimum = price.min_cost if price.min_cost is not None else 1
        if request.metrics is not None and price.quotable:
            minimum = price.max_cost
        try:
            outcome = await self._store.hold(
                claims["keyId"], price.max_cost, max(minimum, 1), request.request_id, int(self._clock() * 1000)
            )
        except UnknownKey:
            outcome = None
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc
        try:
            key = self._keys.check(None if outcome is None else outcome.key, claims)
            chain = self._chain(key, requested_chain)
        except GatewayError:
            if outcome is not None and outcome.hold is not None:
                await self._release_quietly(outcome.hold)
            raise
        if outcome is None:  # pragma: no cover - check() refuses a missing key
            raise UnknownKey(claims["keyId"])
        if outcome.hold is None:
            remaining = outcome.remaining_before
            if remaining > 0 and request.metrics is not None and price.quotable:
                raise _exhausted(
                    outcome.key,
                    f"Compose key budget is insufficient for this request: requires {price.max_cost}, "
                    f"remaining {remaining}",
                )
            raise _exhausted(outcome.key)
        hold = outcome.hold
        cap: int | None = None
        if request.metrics is None and hold.amount < price.max_cost:
            cap = lowered_cap(request, hold.amount, fee_bps=self._fee_bps)
            if cap is None:  # raced: the hold shrank below one token; give it back
                await self._store.release_hold(hold.hold_id)
                raise _exhausted(outcome.key)
        headers = {**budget_headers(outcome.key), "x-payment-intent-id": hold.hold_id}
        state = KeyState(request, outcome.key, hold, chain)
        return Authorization(mode="compose_key", max_output_tokens=cap, headers=headers, state=state)

    def _chain(self, key: KeyRecord, requested_chain: int | None) -> ChainRow:
        if requested_chain is not None and requested_chain != key.chain_id:
            raise GatewayError(
                409,
                "chain_mismatch",
                "Compose key chainId does not match request chainId",
                headers={"x-session-invalid": "invalid_key"},
            )
        chain = self._chain_of(key.chain_id)
        if chain is None:
            raise GatewayError(400, "chain_not_supported", f"Chain {key.chain_id} is not supported")
        return chain

    async def _release_quietly(self, hold: Hold) -> None:
        """Give back a hold the call will not use; if the store fails, the sweeper does it
        after ``GATEWAY_HOLD_TTL`` (the caller's error matters more than this one)."""
        try:
            await self._store.release_hold(hold.hold_id)
        except StoreUnavailable:
            pass

    async def settle(self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool) -> Receipt:
        state: KeyState = authorization.state
        metered = meter(state.request.row, usage, fee_bps=self._fee_bps, metrics=state.request.metrics)
        charge = min(metered.final_amount, state.hold.amount)
        now_ms = int(self._clock() * 1000)
        transfer, tx_hash = None, None
        if self._settlement == "sandbox" and charge > 0:
            # Chosen here rather than by the ledger, so the receipt can name it before the
            # transfer happens (it is stored in the same transaction).
            tx_hash = "0x" + secrets.token_hex(32)
            transfer = LedgerTransfer(
                network=state.chain.network,
                asset=state.chain.usdc_address.lower(),
                from_address=state.key.user_address,
                to_address=self._pay_to,
                amount=charge,
                allowance="spender",
                tx_hash=tx_hash,
            )
        # The receipt of the expected outcome — charged the whole charge — is stored by the
        # settlement itself (one transaction, and readable as soon as the answer is sent).
        pending = self._receipt(state, metered, charge, usage_source, tx_hash, now_ms)
        try:
            outcome = await self._store.settle_hold(
                state.hold.hold_id, charge, now_ms, transfer=transfer, receipt=pending.row
            )
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc
        if outcome.status == "released_transfer_failed":
            raise GatewayError(
                402,
                "settlement_failed",
                f"Payment settlement failed: {outcome.reason}",
                headers=budget_headers(outcome.key),
            )
        charged = outcome.charged
        headers = {
            **budget_headers(outcome.key),
            "x-payment-intent-id": state.hold.hold_id,
            "x-key-final-amount-wei": str(charged),
            "x-settlement": "settled",
        }
        if outcome.tx_hash:
            headers["x-key-tx-hash"] = headers["X-Transaction-Hash"] = outcome.tx_hash
        if outcome.cumulative is not None:
            return pending.finish(outcome.cumulative, headers)
        # Charged something else (a late settlement after the sweeper, a hold settled before):
        # the receipt states what was charged; whatever the hold could not cover is uncollected.
        other = self._receipt(state, metered, charged, usage_source, outcome.tx_hash, now_ms)
        try:
            totals = await self._store.insert_receipt(other.row)
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc
        return other.finish(totals, headers)

    def _receipt(
        self, state: KeyState, metered: Metered, charged: int, usage_source: str, tx_hash: str | None, now_ms: int
    ) -> PendingReceipt:
        return self._receipts.prepare(
            request=state.request,
            payer=state.key.user_address,
            payment_method="compose_key",
            metered=metered,
            charged=charged,
            usage_source=usage_source,
            network=state.chain.network,
            settlement_status="settled",
            tx_hash=tx_hash,
            payment_intent_id=state.hold.hold_id,
            key_id=state.key.key_id,
            settled_at_ms=now_ms,
        )

    async def release(self, authorization: Authorization) -> dict[str, str]:
        """Release the hold; returns the key's budget headers after it (spec/payments.md §3.5)."""
        state: KeyState = authorization.state
        try:
            await self._store.release_hold(state.hold.hold_id)
            key = await self._store.get_key(state.key.key_id)
        except StoreUnavailable:
            return {}  # the sweeper releases it after GATEWAY_HOLD_TTL
        return budget_headers(key) if key is not None else {}

"""Paying with raw x402: challenge, accept + verify + reserve before the call, settle after
(spec/payments.md §6).

Every refusal before the provider call is the §6.3 challenge with ``error`` set; after the
call, a refused settlement withholds the output (non-stream) or ends the stream with a
``settlement_failed`` frame, and an unknown outcome is never answered with a 402 (that would
invite a second payment).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import orjson
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse

from gateway_core.errors import GatewayError
from gateway_core.payments.billing import Quote, ReceiptBook, lowered_cap, quote, store_unavailable
from gateway_core.payments.gate import Authorization, PaymentRequest, Receipt
from gateway_core.payments.pricing import meter
from gateway_core.payments.x402.acceptance import Accepted, accept
from gateway_core.payments.x402.challenge import build_challenge, select_envelope
from gateway_core.payments.x402.codec import (
    decode_payment_header,
    encode_payment_required_header,
    encode_payment_response_header,
    payment_required_json,
)
from gateway_core.payments.x402.config import X402Settings
from gateway_core.payments.x402.errors import FacilitatorUnavailable, PaymentRefused
from gateway_core.payments.x402.facilitator import (
    Facilitator,
    facilitator_address,
    facilitator_signers,
    is_nonce_used_reason,
    settle_with_retry,
)
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.store import Store, StoreUnavailable
from gateway_core.types import Usage

__all__ = ["X402Payments", "X402State"]


@dataclass(frozen=True)
class X402State:
    request: PaymentRequest
    accepted: Accepted
    price: Quote


class X402Payments:
    def __init__(
        self,
        *,
        store: Store,
        facilitator: Facilitator,
        supported: Callable[[], SupportedResponse],
        settings: X402Settings,
        pay_to: str,
        enabled_rows: Callable[[], Sequence[ChainRow]],
        receipts: ReceiptBook,
        fee_bps: int,
        default_media_hold: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._facilitator = facilitator
        self._supported = supported
        self._settings = settings
        self._pay_to = pay_to
        self._enabled_rows = enabled_rows
        self._receipts = receipts
        self._fee_bps = fee_bps
        self._default_media_hold = default_media_hold
        self._clock = clock

    def _quote(self, request: PaymentRequest) -> Quote:
        return quote(request, fee_bps=self._fee_bps, default_media_hold=self._default_media_hold)

    # -- the challenge --------------------------------------------------------------------------

    def challenge(self, request: PaymentRequest, row: ChainRow, *, error: str | None = None) -> GatewayError:
        """The 402 of §6.3: ``PAYMENT-REQUIRED`` header and the identical raw body."""
        price = self._quote(request)
        envelope = select_envelope(
            header=request.headers.get("x-x402-max-amount-wei"),
            body_value=request.max_payment_amount_wei,
            max_cost=price.max_cost,
            default_envelope=self._settings.default_envelope,
            max_envelope=self._settings.max_envelope,
        )
        required = build_challenge(
            resource_url=request.resource_url,
            method=request.method,
            path=request.path,
            row=row,
            pay_to=self._pay_to,
            envelope=envelope,
            max_cost=price.max_cost,
            schemes=self._settings.schemes,
            facilitator_address=facilitator_address(self._supported(), row.network, "upto"),
            max_timeout_seconds=self._settings.max_timeout_seconds,
            quotable=price.quotable,
            extensions=self._settings.extensions,
            error=error,
        )
        return GatewayError(
            402,
            "payment_required",
            error or "Payment required",
            headers={"PAYMENT-REQUIRED": encode_payment_required_header(required), "cache-control": "no-store"},
            raw_body=payment_required_json(required),
        )

    # -- before the call ----------------------------------------------------------------------

    async def authorize(self, request: PaymentRequest, header: str, challenge_row: ChainRow) -> Authorization:
        price = self._quote(request)
        try:
            payload = decode_payment_header(header)
            supported = self._supported()
            accepted = accept(
                payload,
                now=int(self._clock()),
                network_rows=self._enabled_rows(),
                pay_to=self._pay_to,
                schemes=self._settings.schemes,
                max_envelope=self._settings.max_envelope,
                min_runnable_cost=price.min_cost,
                exact_cost=price.max_cost if price.quotable else None,
                facilitator_signers=facilitator_signers(supported),
                max_timeout_seconds=self._settings.max_timeout_seconds,
            )
            accepted = accepted.verified(await self._facilitator.verify(accepted.payload, accepted.requirement))
        except PaymentRefused as refused:
            raise self.challenge(request, challenge_row, error=refused.challenge_error) from None
        except FacilitatorUnavailable as exc:
            raise exc.gateway_error() from exc
        try:
            reserved = await self._store.reserve_authorization(
                *accepted.reservation_key, expires_at=accepted.deadline, request_id=request.request_id
            )
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc
        if reserved == "in_use":
            error = "authorization_in_use: This payment authorization is being used by another request"
            raise self.challenge(request, challenge_row, error=error)
        if reserved == "already_used":
            error = "authorization_already_used: This payment authorization was already used"
            raise self.challenge(request, challenge_row, error=error)
        cap = None
        if accepted.scheme == "upto" and request.metrics is None and accepted.amount < price.max_cost:
            cap = lowered_cap(request, accepted.amount, fee_bps=self._fee_bps)
        return Authorization(mode="x402", max_output_tokens=cap, state=X402State(request, accepted, price))

    # -- after the call -----------------------------------------------------------------------

    def _response_headers(self, accepted: Accepted, response: SettleResponse) -> dict[str, str]:
        encoded = encode_payment_response_header(response)
        headers = {"PAYMENT-RESPONSE": encoded}
        if accepted.version == 1:
            headers["X-PAYMENT-RESPONSE"] = encoded
        return headers

    async def _set_state(self, accepted: Accepted, state: str, detail_json: str | None = None) -> None:
        try:
            await self._store.set_reservation_state(
                *accepted.reservation_key,
                state,  # type: ignore[arg-type]
                detail_json=detail_json,
            )
        except StoreUnavailable as exc:
            raise store_unavailable(exc) from exc

    async def settle(self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool) -> Receipt:
        state: X402State = authorization.state
        accepted = state.accepted
        metered = meter(state.request.row, usage, fee_bps=self._fee_bps, metrics=state.request.metrics)
        if accepted.scheme == "exact":
            # The quoted amount is settled in full (§6.7); the items still show actual usage.
            charge = accepted.amount
            metered = replace(metered, final_amount=max(metered.final_amount, charge))
        else:
            charge = min(metered.final_amount, accepted.amount)
        network = accepted.network
        tx_hash: str | None = None
        if charge == 0:
            await self._set_state(accepted, "used")
            response = SettleResponse(success=True, transaction="", network=network, payer=accepted.payer, amount="0")
            headers, status = self._response_headers(accepted, response), "settled"
        else:
            outcome = await settle_with_retry(self._facilitator, accepted.payload, accepted.settle_requirement(charge))
            if outcome.status == "failed":
                await self._set_state(accepted, "failed")
                reason = (outcome.response.error_reason if outcome.response else None) or "settlement_failed"
                refusal = self.challenge(state.request, accepted.row, error=f"settlement_failed: {reason}")
                if outcome.response is not None:
                    refusal.headers.update(self._response_headers(accepted, outcome.response))
                refusal.message = f"Payment settlement failed: {reason}"
                raise refusal
            if outcome.status == "unknown":
                # Kept with the reservation so the reconciler can ask again (§6.6).
                detail = orjson.dumps(
                    {
                        "payload": accepted.payload.model_dump(mode="json", by_alias=True),
                        "requirements": accepted.settle_requirement(charge).model_dump(mode="json", by_alias=True),
                    }
                ).decode()
                await self._set_state(accepted, "pending", detail)
                headers, status = {}, "queued"
            else:
                await self._set_state(accepted, "settled")
                assert outcome.response is not None
                headers, status = self._response_headers(accepted, outcome.response), "settled"
                tx_hash = outcome.response.transaction or None
                if tx_hash:
                    headers["X-Transaction-Hash"] = tx_hash
        pending = self._receipts.prepare(
            request=state.request,
            payer=accepted.payer,
            payment_method="x402",
            metered=metered,
            charged=charge,
            usage_source=usage_source,
            network=network,
            settlement_status=status,
            tx_hash=tx_hash,
            headers=headers,
        )
        return await self._receipts.issue(pending)

    async def reconcile(self) -> int:
        """Ask the facilitator again about every ``pending`` settlement (§6.6): success or a
        nonce-already-used answer means it landed (``settled``); another refusal, or the
        authorization's deadline passing, means ``failed``; no answer leaves it pending.

        :returns: how many reservations left ``pending``.
        """
        now = int(self._clock())
        done = 0
        for reservation in await self._store.pending_reservations():
            key = (reservation.network, reservation.asset, reservation.payer, reservation.nonce)
            if not reservation.detail_json:
                continue
            state: str | None = None
            if reservation.expires_at < now:
                state = "failed"
            else:
                detail = orjson.loads(reservation.detail_json)
                payload = PaymentPayload.model_validate(detail["payload"])
                requirements = PaymentRequirements.model_validate(detail["requirements"])
                outcome = await settle_with_retry(self._facilitator, payload, requirements, attempts=1)
                reason = outcome.response.error_reason if outcome.response else None
                if outcome.status == "settled" or is_nonce_used_reason(reason):
                    state = "settled"
                elif outcome.status == "failed":
                    state = "failed"
            if state is not None and await self._store.set_reservation_state(*key, state):  # type: ignore[arg-type]
                done += 1
        return done

    async def release(self, authorization: Authorization) -> None:
        state: X402State = authorization.state
        try:
            await self._store.release_reservation(*state.accepted.reservation_key)
        except StoreUnavailable:
            pass  # the row expires after its deadline; the client cannot reuse it before

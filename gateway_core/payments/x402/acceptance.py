"""Acceptance of a presented x402 payment, checks 1-9 of spec/payments.md §6.5 (and §6.9).

:func:`accept` is pure: it takes the decoded payload and the request's pricing, and either
returns an :class:`Accepted` (what the caller needs for check 10, the facilitator
``/verify``, and check 11, the reservation) or raises :class:`PaymentRefused` with the code
of the first failing check. Checks 1-2 are the decoding in
:func:`gateway_core.payments.x402.codec.decode_payment_header`.

Typical use::

    payload = decode_payment_header(header)                      # 1, 2
    accepted = accept(payload, now=..., network_rows=..., ...)  # 3-9
    verified = accepted.verified(await facilitator.verify(accepted.payload, accepted.requirement))  # 10
    reserve(accepted.reservation_key, ...)                       # 11
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from x402.schemas import PaymentPayload, PaymentRequirements, VerifyResponse
from x402.schemas.v1 import PaymentPayloadV1

from gateway_core.payments.x402.challenge import exact_requirement, requirement_for
from gateway_core.payments.x402.codec import upgrade_v1
from gateway_core.payments.x402.constants import SCHEME_EXACT, SCHEME_UPTO
from gateway_core.payments.x402.errors import PaymentRefused
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.payments.x402.payloads import (
    ExactAuthorization,
    PayloadError,
    UptoAuthorization,
    parse_exact,
    parse_upto,
)

__all__ = ["MIN_VALIDITY_SECONDS", "Accepted", "accept"]

# Check 9 (gateway choice): the call and its settlement must fit before the authorization
# expires; a minute covers a normal completion plus the settle retries.
MIN_VALIDITY_SECONDS = 60


@dataclass(frozen=True)
class Accepted:
    """A payment that passed checks 1-9.

    :ivar payload: always v2 (a v1 payload is upgraded, §6.9).
    :ivar version: the x402 version the client spoke; 1 means answers also carry
        ``X-PAYMENT-RESPONSE``.
    :ivar amount: the upto authorized amount B, or the exact quote M.
    :ivar payer: the payload's ``from`` (lowercase) until :meth:`verified` substitutes the
        facilitator's ``payer``.
    :ivar nonce: reservation form (§6.6).
    :ivar deadline: ``validBefore`` (exact) / ``deadline`` (upto), Unix seconds.
    :ivar requirement: the gateway's own requirement to send with /verify.
    """

    payload: PaymentPayload
    version: int
    scheme: str
    row: ChainRow
    pay_to: str
    amount: int
    payer: str
    nonce: str
    deadline: int
    requirement: PaymentRequirements
    authorization: ExactAuthorization | UptoAuthorization

    @property
    def network(self) -> str:
        return self.row.network

    @property
    def reservation_key(self) -> tuple[str, str, str, str]:
        """(network, asset lowercase, payer lowercase, nonce): unique per reservation (§6.6)."""
        return (self.row.network, self.row.usdc_address.lower(), self.payer.lower(), self.nonce)

    def verified(self, response: VerifyResponse) -> Accepted:
        """Check 10's answer: ``isValid: false`` refuses with the facilitator's reason.

        :raises PaymentRefused: code = ``invalidReason``, message = ``invalidMessage``.
        """
        if not response.is_valid:
            reason = response.invalid_reason or "invalid_payment"
            raise PaymentRefused(reason, response.invalid_message or f"Facilitator refused the payment ({reason})")
        return replace(self, payer=response.payer.lower()) if response.payer else self

    def settle_requirement(self, charge: int) -> PaymentRequirements:
        """The requirement for /settle: ``amount`` = the charge C (§6.7)."""
        return requirement_for(
            self.payload,
            self.row,
            pay_to=self.pay_to,
            amount=charge,
            max_timeout_seconds=self.requirement.max_timeout_seconds,
        )


def _digits(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def accept(
    payload: PaymentPayload | PaymentPayloadV1,
    *,
    now: int,
    network_rows: Iterable[ChainRow],
    pay_to: str,
    schemes: Sequence[str],
    max_envelope: int,
    min_runnable_cost: int | None,
    exact_cost: int | None,
    facilitator_signers: Collection[str],
    max_timeout_seconds: int,
) -> Accepted:
    """Checks 3-9 of §6.5, in order (v1 payloads first go through §6.9).

    :param now: Unix seconds.
    :param network_rows: the *enabled* chains (§6.2).
    :param schemes: the schemes offered (``GATEWAY_X402_SCHEMES``).
    :param min_runnable_cost: check 7's minimum (M at output cap 1, or M); ``None`` for an
        unquotable call (no minimum).
    :param exact_cost: M; ``None`` for an unquotable call, where ``exact`` is not offered.
    :param facilitator_signers: addresses a ``facilitatorAddress`` may name (any case).
    :raises PaymentRefused: the first failing check's code.
    """
    rows = {row.network: row for row in network_rows}
    version = 2
    if isinstance(payload, PaymentPayloadV1):
        version = 1
        payload = _upgrade(
            payload, rows.values(), pay_to=pay_to, schemes=schemes, exact_cost=exact_cost, timeout=max_timeout_seconds
        )
    accepted = payload.accepted

    row = rows.get(accepted.network)  # 3
    if row is None:
        raise PaymentRefused("invalid_network", f"Network {accepted.network} is not enabled")

    scheme = accepted.scheme  # 4
    if (
        scheme not in schemes
        or scheme not in (SCHEME_EXACT, SCHEME_UPTO)
        or (scheme == SCHEME_EXACT and exact_cost is None)
    ):
        raise PaymentRefused("unsupported_scheme", f"Scheme {scheme} is not offered for this request")

    if not row.is_asset(accepted.asset):  # 5
        raise PaymentRefused("invalid_payment_requirements", f"Asset {accepted.asset} is not USDC on {row.network}")
    if accepted.pay_to.lower() != pay_to.lower():
        raise PaymentRefused("invalid_payment_requirements", f"payTo {accepted.pay_to} is not this gateway's")

    if scheme == SCHEME_UPTO:
        amount = _upto_amount(accepted, max_envelope, min_runnable_cost, facilitator_signers)  # 6, 7
    else:
        amount = _exact_amount(accepted, exact_cost)  # 8

    authorization = _authorization(payload)
    if version == 1 and isinstance(authorization, ExactAuthorization) and authorization.value != amount:
        raise PaymentRefused("amount_mismatch", f"Authorization value {authorization.value} is not the quote {amount}")

    deadline = authorization.valid_before if isinstance(authorization, ExactAuthorization) else authorization.deadline
    if deadline < now + MIN_VALIDITY_SECONDS:  # 9
        raise PaymentRefused(
            "authorization_expires_too_soon",
            f"Authorization expires at {deadline}; it must be valid for at least {MIN_VALIDITY_SECONDS} s",
        )
    return Accepted(
        payload=payload,
        version=version,
        scheme=scheme,
        row=row,
        pay_to=pay_to,
        amount=amount,
        payer=authorization.from_address,
        nonce=authorization.nonce_key,
        deadline=deadline,
        requirement=requirement_for(
            payload, row, pay_to=pay_to, amount=amount, max_timeout_seconds=max_timeout_seconds
        ),
        authorization=authorization,
    )


def _upgrade(
    payload: PaymentPayloadV1,
    rows: Iterable[ChainRow],
    *,
    pay_to: str,
    schemes: Sequence[str],
    exact_cost: int | None,
    timeout: int,
) -> PaymentPayload:
    """§6.9: resolve the v1 network name (as check 3), require ``exact`` (as check 4)."""
    row = next((row for row in rows if row.v1_name and row.v1_name.lower() == payload.network.lower()), None)
    if row is None:
        raise PaymentRefused("invalid_network", f"Network {payload.network} is not enabled")
    if payload.scheme != SCHEME_EXACT or SCHEME_EXACT not in schemes or exact_cost is None:
        raise PaymentRefused("unsupported_scheme", f"x402 v1 scheme {payload.scheme} is not offered for this request")
    return upgrade_v1(payload, exact_requirement(row, pay_to=pay_to, amount=exact_cost, max_timeout_seconds=timeout))


def _upto_amount(
    accepted: PaymentRequirements,
    max_envelope: int,
    min_runnable_cost: int | None,
    signers: Collection[str],
) -> int:
    amount = _digits(accepted.amount)
    if amount is None or amount <= 0 or amount > max_envelope:  # 6
        raise PaymentRefused("invalid_payment_requirements", f"upto amount must be digits between 1 and {max_envelope}")
    facilitator = (accepted.extra or {}).get("facilitatorAddress")
    if not isinstance(facilitator, str) or facilitator.lower() not in {signer.lower() for signer in signers}:
        raise PaymentRefused("upto_facilitator_mismatch", "extra.facilitatorAddress is not a facilitator signer")
    if min_runnable_cost is not None and amount < min_runnable_cost:  # 7
        raise PaymentRefused(
            "authorization_too_small", f"Authorized {amount} is below the smallest runnable cost {min_runnable_cost}"
        )
    return amount


def _exact_amount(accepted: PaymentRequirements, exact_cost: int | None) -> int:
    amount = _digits(accepted.amount)
    if exact_cost is None or amount != exact_cost:
        raise PaymentRefused("amount_mismatch", f"exact amount {accepted.amount} is not the quote {exact_cost}")
    return exact_cost


def _authorization(payload: PaymentPayload) -> ExactAuthorization | UptoAuthorization:
    """The inner payload, read for check 9 (and the reservation); a malformed one is refused
    here with ``invalid_payload`` rather than costing a facilitator round trip."""
    try:
        if payload.accepted.scheme == SCHEME_UPTO:
            return parse_upto(payload.payload)
        return parse_exact(payload.payload)
    except PayloadError as exc:
        raise PaymentRefused("invalid_payload", str(exc)) from exc

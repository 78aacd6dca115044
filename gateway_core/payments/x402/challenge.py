"""The 402 challenge: a v2 ``PaymentRequired`` (spec/payments.md §6.3).

Pure functions from what the route knows (URL, method, path, selected chain, max cost M) to
the x402 package's models; :mod:`gateway_core.payments.x402.codec` renders them to the exact
body and ``PAYMENT-REQUIRED`` header bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo

from gateway_core.errors import GatewayError
from gateway_core.payments.x402.constants import SCHEME_EXACT, SCHEME_UPTO
from gateway_core.payments.x402.networks import ChainRow

__all__ = [
    "ENVELOPE_HEADER",
    "METERING_EXTENSION",
    "build_challenge",
    "exact_requirement",
    "requirement_for",
    "resource_info",
    "select_envelope",
    "upto_requirement",
]

ENVELOPE_HEADER = "x-x402-max-amount-wei"
METERING_EXTENSION: Mapping[str, Any] = {"compose-metering-v1": {"mode": "authoritative_usage"}}


def resource_info(url: str, method: str, path: str) -> ResourceInfo:
    """``url`` is the public origin + path + query; the description names path only."""
    return ResourceInfo(url=url, description=f"AI inference: {method.upper()} {path}", mime_type="application/json")


def upto_requirement(
    row: ChainRow, *, pay_to: str, amount: int, max_timeout_seconds: int, facilitator_address: str
) -> PaymentRequirements:
    """``amount`` is the envelope in a challenge, the authorized B in /verify, the charge C in /settle."""
    return PaymentRequirements(
        scheme=SCHEME_UPTO,
        network=row.network,
        amount=str(amount),
        asset=row.usdc_address,
        pay_to=pay_to.lower(),
        max_timeout_seconds=max_timeout_seconds,
        extra={
            "name": row.eip712_name,
            "version": row.eip712_version,
            "assetTransferMethod": "permit2",
            "facilitatorAddress": facilitator_address.lower(),
            "compose": {"metering": "authoritative_usage"},
        },
    )


def exact_requirement(row: ChainRow, *, pay_to: str, amount: int, max_timeout_seconds: int) -> PaymentRequirements:
    """``amount`` is the quote M (§5)."""
    return PaymentRequirements(
        scheme=SCHEME_EXACT,
        network=row.network,
        amount=str(amount),
        asset=row.usdc_address,
        pay_to=pay_to.lower(),
        max_timeout_seconds=max_timeout_seconds,
        extra={"name": row.eip712_name, "version": row.eip712_version, "compose": {"metering": "quoted"}},
    )


def requirement_for(
    payload: PaymentPayload, row: ChainRow, *, pay_to: str, amount: int, max_timeout_seconds: int
) -> PaymentRequirements:
    """The gateway's own requirement matching an accepted payload, with ``amount`` replaced.

    Used for /verify (amount B or M) and /settle (the charge C). The upto
    ``facilitatorAddress`` is the payload's, already checked to be a facilitator signer
    (§6.5 check 6), so a facilitator with several signers gets back the one the payer signed for.
    """
    if payload.accepted.scheme == SCHEME_UPTO:
        facilitator = str((payload.accepted.extra or {}).get("facilitatorAddress", ""))
        return upto_requirement(
            row, pay_to=pay_to, amount=amount, max_timeout_seconds=max_timeout_seconds, facilitator_address=facilitator
        )
    return exact_requirement(row, pay_to=pay_to, amount=amount, max_timeout_seconds=max_timeout_seconds)


def build_challenge(
    *,
    resource_url: str,
    method: str,
    path: str,
    row: ChainRow,
    pay_to: str,
    envelope: int,
    max_cost: int,
    schemes: Sequence[str],
    facilitator_address: str | None,
    max_timeout_seconds: int,
    quotable: bool = True,
    extensions: bool = True,
    error: str | None = None,
) -> PaymentRequired:
    """The §6.3 object: one requirement per configured scheme, in configured order.

    ``exact`` is left out when the call is unquotable (its price is unknown, so no exact
    amount can be named); ``upto`` is left out when the facilitator advertises no address to
    put in ``extra.facilitatorAddress`` (a payer could not build a valid witness without it).

    :param envelope: from :func:`select_envelope`.
    :param max_cost: M (§5).
    :param error: ``"<code>: <message>"`` when refusing a presented payment.
    """
    accepts: list[PaymentRequirements] = []
    for scheme in schemes:
        if scheme == SCHEME_UPTO and facilitator_address:
            accepts.append(
                upto_requirement(
                    row,
                    pay_to=pay_to,
                    amount=envelope,
                    max_timeout_seconds=max_timeout_seconds,
                    facilitator_address=facilitator_address,
                )
            )
        elif scheme == SCHEME_EXACT and quotable:
            accepts.append(
                exact_requirement(row, pay_to=pay_to, amount=max_cost, max_timeout_seconds=max_timeout_seconds)
            )
    return PaymentRequired(
        x402_version=2,
        error=error,
        resource=resource_info(resource_url, method, path),
        accepts=accepts,
        extensions={key: dict(value) for key, value in METERING_EXTENSION.items()} if extensions else None,
    )


def _header_amount(value: str | None) -> int | None:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number > 0 else None


def select_envelope(
    *, header: str | None, body_value: int | None, max_cost: int, default_envelope: int, max_envelope: int
) -> int:
    """The ``upto`` envelope (§6.3).

    Sources in order: the ``x-x402-max-amount-wei`` header (digits, > 0; anything else is
    ignored), the body's ``max_payment_amount_wei`` (already type-checked by the request
    normalizer; 0 is treated as absent, like a 0 header), else max(default, M) capped at the max.

    :raises GatewayError: 400 ``invalid_request`` when a given value exceeds ``max_envelope``.
    """
    given = _header_amount(header)
    if given is None and body_value is not None and body_value > 0:
        given = body_value
    if given is not None:
        if given > max_envelope:
            raise GatewayError(
                400,
                "invalid_request",
                f"The requested x402 envelope {given} exceeds the maximum {max_envelope}",
                param=ENVELOPE_HEADER,
            )
        return given
    return min(max(default_envelope, max_cost), max_envelope)

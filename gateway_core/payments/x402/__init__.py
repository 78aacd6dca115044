"""Raw x402 payments: chains, header codecs, the 402 challenge, acceptance, facilitators.

spec/payments.md §6. The flow a route drives::

    payload = decode_payment_header(header)          # §6.5 checks 1-2
    accepted = accept(payload, ...)                  # checks 3-9 (v1 upgraded, §6.9)
    accepted = accepted.verified(await facilitator.verify(accepted.payload, accepted.requirement))
    ... reserve (check 11), call the provider, meter ...
    outcome = await settle_with_retry(facilitator, accepted.payload, accepted.settle_requirement(charge))

Types, the facilitator HTTP client and header decoding come from the ``x402`` package; this
package adds the gateway's rules on top.
"""

from gateway_core.payments.x402.acceptance import MIN_VALIDITY_SECONDS, Accepted, accept
from gateway_core.payments.x402.challenge import (
    ENVELOPE_HEADER,
    METERING_EXTENSION,
    build_challenge,
    exact_requirement,
    requirement_for,
    resource_info,
    select_envelope,
    upto_requirement,
)
from gateway_core.payments.x402.codec import (
    decode_payment_header,
    decode_payment_response_header,
    encode_payment_required_header,
    encode_payment_response_header,
    normalize_eip3009_nonce,
    normalize_permit2_nonce,
    payment_required_json,
    settle_response_json,
    upgrade_v1,
)
from gateway_core.payments.x402.config import X402Settings
from gateway_core.payments.x402.errors import FacilitatorUnavailable, PaymentRefused
from gateway_core.payments.x402.facilitator import (
    Facilitator,
    HttpFacilitator,
    SettleOutcome,
    facilitator_address,
    facilitator_signers,
    settle_with_retry,
    supported_schemes,
)
from gateway_core.payments.x402.networks import ChainRow, ChainTable, load_chains, sandbox_chain

__all__ = [
    "ENVELOPE_HEADER",
    "METERING_EXTENSION",
    "MIN_VALIDITY_SECONDS",
    "Accepted",
    "ChainRow",
    "ChainTable",
    "Facilitator",
    "FacilitatorUnavailable",
    "HttpFacilitator",
    "PaymentRefused",
    "SettleOutcome",
    "X402Settings",
    "accept",
    "build_challenge",
    "decode_payment_header",
    "decode_payment_response_header",
    "encode_payment_required_header",
    "encode_payment_response_header",
    "exact_requirement",
    "facilitator_address",
    "facilitator_signers",
    "load_chains",
    "normalize_eip3009_nonce",
    "normalize_permit2_nonce",
    "payment_required_json",
    "requirement_for",
    "resource_info",
    "sandbox_chain",
    "select_envelope",
    "settle_response_json",
    "settle_with_retry",
    "supported_schemes",
    "upgrade_v1",
    "upto_requirement",
]

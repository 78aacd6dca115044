"""Request and response bodies of the sandbox facilitator's HTTP routes (spec/payments.md §9.3-§9.5).

The routes themselves are thin: parse with :func:`parse_facilitator_request`, call the
:class:`~gateway_core.payments.sandbox.facilitator.SandboxFacilitator`, answer 200 with
:func:`verify_response_body` / :func:`settle_response_body`.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse

from gateway_core.errors import GatewayError
from gateway_core.payments.x402.codec import settle_response_json

__all__ = [
    "parse_facilitator_request",
    "settle_response_body",
    "supported_response_body",
    "verify_response_body",
]

_KEYS = frozenset({"x402Version", "paymentPayload", "paymentRequirements"})


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, "invalid_request", message, param=param)


def parse_facilitator_request(body: Any) -> tuple[PaymentPayload, PaymentRequirements]:
    """``{"x402Version": 2, "paymentPayload", "paymentRequirements"}``, strictly.

    :raises GatewayError: 400 ``invalid_request`` for other top-level keys, a missing key, a
        version other than 2, or a payload/requirements that do not match the x402 schema.
    """
    if not isinstance(body, dict):
        raise _bad("Body must be a JSON object")
    extra = sorted(set(body) - _KEYS)
    if extra:
        raise _bad(f"Unknown field {extra[0]}", extra[0])
    missing = sorted(_KEYS - set(body))
    if missing:
        raise _bad(f"Missing field {missing[0]}", missing[0])
    version = body["x402Version"]
    if not isinstance(version, int) or isinstance(version, bool) or version != 2:
        raise _bad("x402Version must be 2", "x402Version")
    raw_payload, raw_requirements = body["paymentPayload"], body["paymentRequirements"]
    if not isinstance(raw_payload, dict) or raw_payload.get("x402Version") != 2:
        raise _bad("paymentPayload must be an x402 v2 PaymentPayload", "paymentPayload")
    try:
        payload = PaymentPayload.model_validate(raw_payload)
    except ValidationError as exc:
        raise _bad(f"paymentPayload: {exc.errors()[0]['msg']}", "paymentPayload") from exc
    if not isinstance(raw_requirements, dict):
        raise _bad("paymentRequirements must be an object", "paymentRequirements")
    try:
        requirements = PaymentRequirements.model_validate(raw_requirements)
    except ValidationError as exc:
        raise _bad(f"paymentRequirements: {exc.errors()[0]['msg']}", "paymentRequirements") from exc
    return payload, requirements


def verify_response_body(response: VerifyResponse) -> bytes:
    """``{isValid, invalidReason?, invalidMessage?, payer?}``."""
    return orjson.dumps(response.model_dump(by_alias=True, exclude_none=True, mode="json"))


def settle_response_body(response: SettleResponse) -> bytes:
    """``{success, errorReason?, errorMessage?, transaction, network, payer?, amount?}``."""
    return settle_response_json(response)


def supported_response_body(response: SupportedResponse) -> bytes:
    return orjson.dumps(response.model_dump(by_alias=True, exclude_none=True, mode="json"))

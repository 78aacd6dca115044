"""The payment stage of the pipeline: authorize (hold) before the call, settle or release after.

:class:`NoPayment` lets every call through and settles nothing; it is what runs until the
x402 / Compose Key gate replaces it. The pipeline's contract with any gate:

* ``authorize`` runs before any provider call and may refuse (401/402/409 ``GatewayError``);
  it may lower the output cap to what the payment covers.
* exactly one of ``settle`` (the call produced output) or ``release`` (it did not) follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway_core.types import Usage

__all__ = ["Authorization", "NoPayment", "PaymentGate", "PaymentRequest", "Receipt"]


@dataclass(frozen=True)
class PaymentRequest:
    """What a gate needs to price and authorize one call."""

    headers: Mapping[str, str]
    row: Mapping[str, Any]
    operation: str
    input_tokens_estimate: int
    max_output_tokens: int
    max_payment_amount_wei: int | None = None


@dataclass
class Authorization:
    """A granted payment (a key hold or a reserved x402 authorization)."""

    mode: str = "none"
    max_output_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A settled payment: shown in the body (snake_case), headers and the SSE frame."""

    body: Mapping[str, Any]
    frame: Mapping[str, Any]
    header: str
    headers: Mapping[str, str] = field(default_factory=dict)


class PaymentGate(Protocol):
    async def authorize(self, request: PaymentRequest) -> Authorization: ...

    async def settle(self, authorization: Authorization, usage: Usage, usage_source: str) -> Receipt | None: ...

    async def release(self, authorization: Authorization) -> None: ...


class NoPayment:
    """Every call is let through and nothing is charged (no payment mode configured yet)."""

    async def authorize(self, request: PaymentRequest) -> Authorization:
        return Authorization()

    async def settle(self, authorization: Authorization, usage: Usage, usage_source: str) -> Receipt | None:
        return None

    async def release(self, authorization: Authorization) -> None:
        return None

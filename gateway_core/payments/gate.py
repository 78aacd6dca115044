"""The payment stage of the pipeline: authorize (hold) before the call, settle or release after.

The pipeline's contract with any gate:

* ``authorize`` runs before any provider call and may refuse (401/402/409 ``GatewayError``,
  including the raw x402 challenge); it may lower the output cap to what the payment covers.
* exactly one of ``settle`` (the call produced output) or ``release`` (it did not) follows.

:class:`NoPayment` lets every call through and settles nothing (embedding the gateway without
payments, and tests of unrelated behaviour); :class:`gateway_core.payments.service.Payments`
is the real gate (Compose Keys and raw x402).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway_core.payments.receipts import receipt_frame, receipt_header
from gateway_core.types import Usage

__all__ = ["Authorization", "NoPayment", "PaymentGate", "PaymentRequest", "Receipt"]


@dataclass(frozen=True)
class PaymentRequest:
    """What a gate needs to price, authorize and later describe one call.

    :ivar resource_url: public origin + path + query (x402 ``resource.url``, receipt ``resource``).
    :ivar input_tokens_estimate: E_in of spec/chat.md §6.
    :ivar max_output_tokens: the output cap before any payment lowered it.
    :ivar metrics: request metrics of a media call (``None`` for token-priced calls).
    """

    headers: Mapping[str, str]
    row: Mapping[str, Any]
    operation: str
    input_tokens_estimate: int
    max_output_tokens: int
    method: str = "POST"
    path: str = "/"
    resource_url: str = ""
    request_id: str = ""
    max_payment_amount_wei: int | None = None
    metrics: Mapping[str, Any] | None = None

    @property
    def action(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Authorization:
    """A granted payment (a key hold or a reserved x402 authorization).

    :ivar headers: sent with the answer (stream start included): budget headers, hold id.
    :ivar state: the gate's own record of the payment, read back by settle/release.
    """

    mode: str = "none"
    max_output_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    state: Any = None


class Receipt:
    """A settled payment, in the three forms it is shown (spec/payments.md §8).

    :ivar body: the snake_case ``receipt`` body field.
    :ivar frame: the camelCase ``compose.receipt`` SSE frame data (rendered on first use: a
        non-stream answer never needs it).
    :ivar header: the base64url camelCase ``X-Compose-Receipt`` value (rendered on first use).
    :ivar headers: other headers of a non-stream answer (``PAYMENT-RESPONSE``, key amounts).
    """

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str] | None = None, *, chat: bool = True) -> None:
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.chat = chat

    @functools.cached_property
    def frame(self) -> Mapping[str, Any]:
        return receipt_frame(self.body, chat=self.chat)

    @functools.cached_property
    def header(self) -> str:
        return receipt_header(self.body)


class PaymentGate(Protocol):
    async def authorize(self, request: PaymentRequest) -> Authorization: ...

    async def settle(
        self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool = False
    ) -> Receipt | None: ...

    async def release(self, authorization: Authorization) -> Mapping[str, str]:
        """Give the payment back; returns headers describing it afterwards (may be empty)."""
        ...

    def settles_in_place(self, authorization: Authorization) -> bool:
        """Whether ``settle`` and ``release`` of this payment may start in the caller's task
        (:func:`gateway_core.shield.shield_now`) rather than in a task of their own: only when
        they hold nothing bound to their task (an anyio cancel scope, ``asyncio.timeout``)
        across a suspension."""
        ...


class NoPayment:
    """Every call is let through and nothing is charged."""

    async def authorize(self, request: PaymentRequest) -> Authorization:
        return Authorization()

    async def settle(
        self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool = False
    ) -> Receipt | None:
        return None

    async def release(self, authorization: Authorization) -> Mapping[str, str]:
        return {}

    def settles_in_place(self, authorization: Authorization) -> bool:
        return True

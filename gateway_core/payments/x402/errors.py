"""The two ways raw x402 can fail before the provider is called (spec/payments.md §6.5).

Hierarchy::

    Exception
    ├── PaymentRefused          the payment is bad: answer the §6.3 challenge with ``error`` set
    └── FacilitatorUnavailable  the facilitator could not be asked: 503 ``facilitator_unavailable``

Neither is a :class:`~gateway_core.errors.GatewayError`: a refusal is rendered as the raw x402
``PaymentRequired`` object (not the OpenAI envelope), which needs the request's challenge, so
the route turns it into a response. :meth:`FacilitatorUnavailable.gateway_error` gives the
OpenAI-envelope error for the other case.
"""

from __future__ import annotations

from gateway_core.errors import GatewayError

__all__ = ["FacilitatorUnavailable", "PaymentRefused"]


class PaymentRefused(Exception):
    """A presented payment was refused; ``code`` is one of the §6.5 refusal codes.

    :param code: for example ``invalid_payload`` or a facilitator ``invalidReason``.
    :param message: human-readable text, shown after the code in the challenge ``error``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def challenge_error(self) -> str:
        """The challenge ``error`` field: ``"<code>: <message>"``."""
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"PaymentRefused({self.code!r}, {self.message!r})"


class FacilitatorUnavailable(Exception):
    """The facilitator did not answer usably: transport error, timeout, non-200 or malformed body."""

    def gateway_error(self) -> GatewayError:
        return GatewayError(503, "facilitator_unavailable", "x402 facilitator is unavailable")

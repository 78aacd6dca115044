"""Payments: who pays for a call and how it is settled (spec/payments.md).

This package defines the stage interface the pipeline calls; the x402 and Compose Key
implementations plug in behind it.
"""

from gateway_core.payments.gate import Authorization, NoPayment, PaymentGate, PaymentRequest, Receipt

__all__ = ["Authorization", "NoPayment", "PaymentGate", "PaymentRequest", "Receipt"]

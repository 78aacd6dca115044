"""x402 protocol constants shared by the gateway side and the sandbox facilitator.

The Permit2 and upto-proxy addresses are the canonical deployments the x402 SDK signs for
(spec/payments.md §9.2); a payload names them, so verifying one needs the same values.
"""

from __future__ import annotations

__all__ = [
    "MAX_UINT256",
    "PERMIT2_ADDRESS",
    "SCHEMES",
    "SCHEME_EXACT",
    "SCHEME_UPTO",
    "UPTO_PERMIT2_PROXY_ADDRESS",
]

SCHEME_EXACT = "exact"
SCHEME_UPTO = "upto"
SCHEMES: tuple[str, ...] = (SCHEME_EXACT, SCHEME_UPTO)

PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
UPTO_PERMIT2_PROXY_ADDRESS = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"

MAX_UINT256 = 2**256 - 1

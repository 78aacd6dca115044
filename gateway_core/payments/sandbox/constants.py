"""Fixed values of the sandbox chain and facilitator (spec/payments.md §9.2).

Nothing here touches a network: the "contracts" are addresses the sandbox ledger and the
EIP-712 domains refer to, chosen so real x402 clients sign exactly what they would on-chain.
The chain's identity is row 31337 of the §6.2 table, so it is defined once in
:mod:`gateway_core.payments.x402.networks` and re-exported here.
"""

from __future__ import annotations

from gateway_core.payments.x402.constants import (
    MAX_UINT256,
    PERMIT2_ADDRESS,
    SCHEME_EXACT,
    SCHEME_UPTO,
    UPTO_PERMIT2_PROXY_ADDRESS,
)
from gateway_core.payments.x402.networks import (
    DEFAULT_SANDBOX_CHAIN_ID,
    SANDBOX_CHAIN_NAME,
    SANDBOX_EIP712_NAME,
    SANDBOX_EIP712_VERSION,
    SANDBOX_USDC_ADDRESS,
    SANDBOX_V1_NAME,
)

__all__ = [
    "DEFAULT_SANDBOX_CHAIN_ID",
    "MAX_FUND_AMOUNT",
    "MAX_UINT256",
    "PERMIT2_ADDRESS",
    "SANDBOX_ASSET_SYMBOL",
    "SANDBOX_CHAIN_NAME",
    "SANDBOX_CHAIN_SHORT_NAME",
    "SANDBOX_DECIMALS",
    "SANDBOX_EIP712_NAME",
    "SANDBOX_EIP712_VERSION",
    "SANDBOX_SCHEMES",
    "SANDBOX_USDC_ADDRESS",
    "SANDBOX_V1_NAME",
    "SCHEME_EXACT",
    "SCHEME_UPTO",
    "UPTO_PERMIT2_PROXY_ADDRESS",
    "VALIDITY_MARGIN_SECONDS",
]

SANDBOX_CHAIN_SHORT_NAME = "Sandbox"
SANDBOX_ASSET_SYMBOL = "USDC"
SANDBOX_DECIMALS = 6
SANDBOX_SCHEMES: tuple[str, ...] = (SCHEME_EXACT, SCHEME_UPTO)

# Faucet: one funding request adds at most this much (§9.6: 1 … 10^12 atomic units).
MAX_FUND_AMOUNT = 10**12

# An authorization must stay valid this long past "now" to be accepted (verify check 6):
# an on-chain facilitator needs a few blocks to land the transfer.
VALIDITY_MARGIN_SECONDS = 6

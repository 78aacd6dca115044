"""The sandbox chain: an in-process x402 facilitator over a ledger (spec/payments.md §9).

Real x402 payloads with real EIP-712 signatures are verified and settled, but funds move on
the store's sandbox ledger (:class:`SandboxLedger`) and nothing touches a network.
"""

from gateway_core.payments.sandbox.facilitator import SandboxFacilitator, new_tx_hash
from gateway_core.payments.sandbox.ledger import (
    LedgerAccount,
    LedgerTransfer,
    SandboxLedger,
    TransferOutcome,
    TransferRecord,
    account_document,
)
from gateway_core.payments.sandbox.signer import Wallet, pay, sign_exact, sign_exact_v1, sign_upto
from gateway_core.payments.sandbox.typed_data import (
    SignatureError,
    TypedData,
    eip3009_typed_data,
    permit2_typed_data,
    recover_signer,
)
from gateway_core.payments.sandbox.wire import (
    parse_facilitator_request,
    settle_response_body,
    supported_response_body,
    verify_response_body,
)

__all__ = [
    "LedgerAccount",
    "LedgerTransfer",
    "SandboxFacilitator",
    "SandboxLedger",
    "SignatureError",
    "TransferOutcome",
    "TransferRecord",
    "TypedData",
    "Wallet",
    "account_document",
    "eip3009_typed_data",
    "new_tx_hash",
    "parse_facilitator_request",
    "pay",
    "permit2_typed_data",
    "recover_signer",
    "settle_response_body",
    "sign_exact",
    "sign_exact_v1",
    "sign_upto",
    "supported_response_body",
    "verify_response_body",
]

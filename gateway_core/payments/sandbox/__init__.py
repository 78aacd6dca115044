"""The sandbox chain: an in-process x402 facilitator over a ledger (spec/payments.md §9).

Real x402 payloads with real EIP-712 signatures are verified and settled, but funds move on
the store's sandbox ledger and nothing touches a network. :class:`SandboxLedger` is the part
of :class:`gateway_core.store.Store` the sandbox uses (pass the ``Store`` itself); the ledger
records (``LedgerAccount``, ``LedgerTransfer``, ``TransferOutcome``, ``LedgerTransferRecord``)
are imported from :mod:`gateway_core.store`, not from here.
"""

from gateway_core.payments.sandbox.facilitator import LEDGER_FAILURE_REASONS, SandboxFacilitator, new_tx_hash
from gateway_core.payments.sandbox.ledger import (
    ACCOUNT_TRANSFERS,
    SandboxLedger,
    account_document,
    load_account_document,
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
    "ACCOUNT_TRANSFERS",
    "LEDGER_FAILURE_REASONS",
    "SandboxFacilitator",
    "SandboxLedger",
    "SignatureError",
    "TypedData",
    "Wallet",
    "account_document",
    "eip3009_typed_data",
    "load_account_document",
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

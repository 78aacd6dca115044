"""The in-process sandbox facilitator (spec/payments.md §9.3-§9.5).

It implements :class:`gateway_core.payments.x402.facilitator.Facilitator` against the
store's ledger (:class:`SandboxLedger`) instead of a chain: the same x402 payloads, real
EIP-712 signatures, and the verify check table of §9.5 in its exact order (the first failure
is the ``invalidReason``). Settlement moves funds on the ledger in one atomic
``ledger_transfer``; when the ledger refuses it, :data:`LEDGER_FAILURE_REASONS` turns the
store's reason into the scheme's §9.5 reason.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from x402.schemas import (
    PaymentPayload,
    PaymentRequirements,
    SettleResponse,
    SupportedKind,
    SupportedResponse,
    VerifyResponse,
)

from gateway_core.payments.sandbox.constants import (
    PERMIT2_ADDRESS,
    SANDBOX_ASSET_SYMBOL,
    SANDBOX_CHAIN_SHORT_NAME,
    SANDBOX_DECIMALS,
    SANDBOX_SCHEMES,
    SCHEME_EXACT,
    SCHEME_UPTO,
    UPTO_PERMIT2_PROXY_ADDRESS,
    VALIDITY_MARGIN_SECONDS,
)
from gateway_core.payments.sandbox.ledger import SandboxLedger
from gateway_core.payments.sandbox.typed_data import (
    SignatureError,
    eip3009_typed_data,
    permit2_typed_data,
    recover_signer,
)
from gateway_core.payments.x402.facilitator import Facilitator
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.payments.x402.payloads import (
    ExactAuthorization,
    PayloadError,
    UptoAuthorization,
    parse_exact,
    parse_upto,
)
from gateway_core.store import LedgerTransfer
from gateway_core.store.records import TransferFailure

__all__ = ["LEDGER_FAILURE_REASONS", "REASON_MESSAGES", "SandboxFacilitator", "new_tx_hash"]

REASON_MESSAGES: dict[str, str] = {
    "unsupported_scheme": "Scheme is not supported or does not match the requirements",
    "invalid_network": "Network does not match the sandbox network",
    "invalid_payment_requirements": "Requirements do not name the sandbox USDC asset and an amount",
    "missing_eip712_domain": "Requirements extra lacks the EIP-712 name and version",
    "invalid_payload": "Payload is missing fields or has malformed values",
    "invalid_exact_evm_payload_recipient_mismatch": "Authorization recipient is not payTo",
    "invalid_exact_evm_payload_authorization_value_mismatch": "Authorization value is not the required amount",
    "invalid_exact_evm_payload_authorization_valid_before": "Authorization expires too soon",
    "invalid_exact_evm_payload_authorization_valid_after": "Authorization is not valid yet",
    "invalid_exact_evm_payload_signature": "Signature does not recover to the payer",
    "invalid_exact_evm_nonce_already_used": "Authorization nonce was already used",
    "permit2_invalid_spender": "Permit2 spender is not the x402 upto proxy",
    "invalid_upto_evm_payload_recipient_mismatch": "Witness recipient is not payTo",
    "upto_facilitator_mismatch": "Witness facilitator is not a facilitator signer",
    "permit2_token_mismatch": "Permitted token is not the required asset",
    "permit2_amount_mismatch": "Permitted amount is not the required amount",
    "invalid_upto_evm_payload_settlement_exceeds_amount": "Settlement amount exceeds the permitted amount",
    "permit2_deadline_expired": "Permit2 deadline has passed or is too close",
    "permit2_not_yet_valid": "Permit2 witness is not valid yet",
    "invalid_upto_evm_payload_signature": "Permit2 signature does not recover to the payer",
    "permit2_invalid_nonce": "Permit2 nonce was already used",
    "permit2_allowance_required": "Payer has not approved Permit2 for this amount",
    "insufficient_funds": "Payer balance is below the amount",
}

# The store's refusal of a transfer -> the §9.5 reason of the check that refusal stands for
# (8: nonce, 9: allowance and balance). Reached only when another settlement changed the
# account between our checks and the transfer. An exact transfer spends no allowance, so
# the store never answers it with ``allowance_too_low``; the row keeps the table total.
LEDGER_FAILURE_REASONS: dict[tuple[str, TransferFailure], str] = {
    (SCHEME_EXACT, "nonce_already_used"): "invalid_exact_evm_nonce_already_used",
    (SCHEME_EXACT, "allowance_too_low"): "insufficient_funds",
    (SCHEME_EXACT, "insufficient_funds"): "insufficient_funds",
    (SCHEME_UPTO, "nonce_already_used"): "permit2_invalid_nonce",
    (SCHEME_UPTO, "allowance_too_low"): "permit2_allowance_required",
    (SCHEME_UPTO, "insufficient_funds"): "insufficient_funds",
}


def new_tx_hash() -> str:
    """``0x`` + 64 random hex (§9.7)."""
    return "0x" + secrets.token_hex(32)


class _Invalid(Exception):
    def __init__(self, reason: str, payer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payer = payer


@dataclass(frozen=True)
class _Checked:
    scheme: str
    payer: str
    amount: int  # exact: the value; upto: the requirement amount (the charge, on settle)
    nonce: str


class SandboxFacilitator:
    """:param signer_address: the facilitator signer (also ``facilitatorAddress``).
    :param chain_row: the sandbox chain (network, asset, token EIP-712 domain).
    :param clock: Unix seconds (verify checks; transfers are recorded at it, in milliseconds)."""

    def __init__(
        self,
        ledger: SandboxLedger,
        signer_address: str,
        chain_row: ChainRow,
        *,
        clock: Callable[[], float] = time.time,
        tx_hash: Callable[[], str] = new_tx_hash,
    ) -> None:
        self._ledger = ledger
        self.signer_address = signer_address.lower()
        self.row = chain_row
        self._clock = clock
        self._tx_hash = tx_hash
        self._asset = chain_row.usdc_address.lower()

    # -- documents -----------------------------------------------------------------------

    async def supported(self) -> SupportedResponse:
        network = self.row.network
        return SupportedResponse(
            kinds=[
                SupportedKind(x402_version=2, scheme=SCHEME_EXACT, network=network),
                SupportedKind(
                    x402_version=2,
                    scheme=SCHEME_UPTO,
                    network=network,
                    extra={"facilitatorAddress": self.signer_address},
                ),
            ],
            extensions=[],
            signers={"eip155:*": [self.signer_address]},
        )

    def chains(self) -> dict[str, Any]:
        """The ``GET /api/x402/facilitator/chains`` body (§9.4)."""
        row = self.row
        return {
            "chains": [
                {
                    "chainId": row.chain_id,
                    "name": row.name,
                    "network": row.network,
                    "shortName": SANDBOX_CHAIN_SHORT_NAME,
                    "isTestnet": True,
                    "explorer": "",
                    "usdcAddress": row.usdc_address,
                    "x402UptoPermit2Proxy": UPTO_PERMIT2_PROXY_ADDRESS,
                    "schemes": list(SANDBOX_SCHEMES),
                    "asset": SANDBOX_ASSET_SYMBOL,
                    "decimals": SANDBOX_DECIMALS,
                }
            ],
            "defaultChainId": row.chain_id,
        }

    # -- verify / settle ------------------------------------------------------------------

    async def verify(self, payload: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        try:
            checked = await self._check(payload, requirements, settling=False)
        except _Invalid as invalid:
            return VerifyResponse(
                is_valid=False,
                invalid_reason=invalid.reason,
                invalid_message=REASON_MESSAGES.get(invalid.reason),
                payer=invalid.payer,
            )
        return VerifyResponse(is_valid=True, payer=checked.payer)

    async def settle(self, payload: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        network = requirements.network
        try:
            checked = await self._check(payload, requirements, settling=True)
        except _Invalid as invalid:
            return self._failed(invalid.reason, network, invalid.payer)
        if checked.scheme == SCHEME_UPTO and checked.amount == 0:
            # Nothing moves, so nothing is consumed: the payer may still use the authorization.
            return SettleResponse(success=True, transaction="", network=network, payer=checked.payer, amount="0")
        tx_hash = self._tx_hash()
        outcome = await self._ledger.ledger_transfer(
            LedgerTransfer(
                network=self.row.network,
                asset=self._asset,
                from_address=checked.payer,
                to_address=requirements.pay_to.lower(),
                amount=checked.amount,
                nonce=checked.nonce,
                # EIP-3009 moves the payer's own funds; Permit2 spends its allowance (§9.5).
                allowance="permit2" if checked.scheme == SCHEME_UPTO else None,
                tx_hash=tx_hash,
            ),
            now_ms=int(self._clock() * 1000),
        )
        if not outcome.ok:
            if outcome.reason is None:
                # Guessing would be worse than failing: a guessed nonce-used reason makes a
                # retrying gateway count the payment as settled (§6.7).
                raise RuntimeError("the ledger refused a transfer without a reason")
            # Another settlement won a race after our checks; the ledger's answer is the truth.
            return self._failed(LEDGER_FAILURE_REASONS[(checked.scheme, outcome.reason)], network, checked.payer)
        return SettleResponse(
            success=True,
            transaction=outcome.tx_hash or tx_hash,
            network=network,
            payer=checked.payer,
            amount=str(checked.amount),
        )

    @staticmethod
    def _failed(reason: str, network: str, payer: str | None) -> SettleResponse:
        return SettleResponse(
            success=False,
            error_reason=reason,
            error_message=REASON_MESSAGES.get(reason),
            transaction="",
            network=network,
            payer=payer,
        )

    async def _check(self, payload: PaymentPayload, requirements: PaymentRequirements, *, settling: bool) -> _Checked:
        """§9.5 checks 1-9 in order; raises :class:`_Invalid` with the first failure."""
        scheme = payload.accepted.scheme
        if scheme != requirements.scheme or scheme not in SANDBOX_SCHEMES:  # 1
            raise _Invalid("unsupported_scheme")
        if payload.accepted.network != requirements.network or requirements.network != self.row.network:
            raise _Invalid("invalid_network")
        amount = requirements.amount
        if not self.row.is_asset(requirements.asset) or not (amount.isascii() and amount.isdigit()):  # 2
            raise _Invalid("invalid_payment_requirements")
        if scheme == SCHEME_EXACT:
            extra = requirements.extra or {}
            if not extra.get("name") or not extra.get("version"):
                raise _Invalid("missing_eip712_domain")
            return await self._check_exact(payload, requirements, int(amount))
        return await self._check_upto(payload, requirements, int(amount), settling)

    async def _check_exact(self, payload: PaymentPayload, requirements: PaymentRequirements, amount: int) -> _Checked:
        try:
            auth = parse_exact(payload.payload)  # 3
        except PayloadError:
            raise _Invalid("invalid_payload") from None
        payer = auth.from_address
        if auth.to != requirements.pay_to.lower():  # 4
            raise _Invalid("invalid_exact_evm_payload_recipient_mismatch", payer)
        if auth.value != amount:  # 5
            raise _Invalid("invalid_exact_evm_payload_authorization_value_mismatch", payer)
        now = int(self._clock())
        if auth.valid_before < now + VALIDITY_MARGIN_SECONDS:  # 6
            raise _Invalid("invalid_exact_evm_payload_authorization_valid_before", payer)
        if auth.valid_after > now:
            raise _Invalid("invalid_exact_evm_payload_authorization_valid_after", payer)
        if self._exact_signer(auth) != payer:  # 7
            raise _Invalid("invalid_exact_evm_payload_signature", payer)
        if await self._ledger.ledger_nonce_used(self.row.network, self._asset, payer, auth.nonce_key):  # 8
            raise _Invalid("invalid_exact_evm_nonce_already_used", payer)
        account = await self._ledger.ledger_account(self.row.network, self._asset, payer)
        if account.balance < auth.value:  # 9
            raise _Invalid("insufficient_funds", payer)
        return _Checked(SCHEME_EXACT, payer, auth.value, auth.nonce_key)

    async def _check_upto(
        self, payload: PaymentPayload, requirements: PaymentRequirements, amount: int, settling: bool
    ) -> _Checked:
        try:
            auth = parse_upto(payload.payload)  # 3
        except PayloadError:
            raise _Invalid("invalid_payload") from None
        payer = auth.from_address
        if auth.spender != UPTO_PERMIT2_PROXY_ADDRESS.lower():  # 4
            raise _Invalid("permit2_invalid_spender", payer)
        if auth.witness_to != requirements.pay_to.lower():
            raise _Invalid("invalid_upto_evm_payload_recipient_mismatch", payer)
        if auth.witness_facilitator != self.signer_address:
            raise _Invalid("upto_facilitator_mismatch", payer)
        if auth.token != self._asset:  # 5
            raise _Invalid("permit2_token_mismatch", payer)
        if settling and amount > auth.amount:
            raise _Invalid("invalid_upto_evm_payload_settlement_exceeds_amount", payer)
        if not settling and amount != auth.amount:
            raise _Invalid("permit2_amount_mismatch", payer)
        now = int(self._clock())
        if auth.deadline < now + VALIDITY_MARGIN_SECONDS:  # 6
            raise _Invalid("permit2_deadline_expired", payer)
        if auth.witness_valid_after > now:
            raise _Invalid("permit2_not_yet_valid", payer)
        if self._upto_signer(auth) != payer:  # 7
            raise _Invalid("invalid_upto_evm_payload_signature", payer)
        if await self._ledger.ledger_nonce_used(self.row.network, self._asset, payer, auth.nonce_key):  # 8
            raise _Invalid("permit2_invalid_nonce", payer)
        account = await self._ledger.ledger_account(self.row.network, self._asset, payer)
        if account.permit2_allowance < amount:  # 9
            raise _Invalid("permit2_allowance_required", payer)
        if account.balance < amount:
            raise _Invalid("insufficient_funds", payer)
        return _Checked(SCHEME_UPTO, payer, amount, auth.nonce_key)

    def _exact_signer(self, auth: ExactAuthorization) -> str | None:
        # The token's own domain, not the requirement's extra: a payer who signed for another
        # name/version signed for another token.
        typed = eip3009_typed_data(
            chain_id=self.row.chain_id,
            asset=self.row.usdc_address,
            name=self.row.eip712_name,
            version=self.row.eip712_version,
            from_address=auth.from_address,
            to=auth.to,
            value=auth.value,
            valid_after=auth.valid_after,
            valid_before=auth.valid_before,
            nonce=auth.nonce,
        )
        try:
            return recover_signer(typed, auth.signature)
        except SignatureError:
            return None

    def _upto_signer(self, auth: UptoAuthorization) -> str | None:
        typed = permit2_typed_data(
            chain_id=self.row.chain_id,
            token=auth.token,
            amount=auth.amount,
            spender=auth.spender,
            nonce=auth.nonce,
            deadline=auth.deadline,
            witness_to=auth.witness_to,
            witness_facilitator=auth.witness_facilitator,
            witness_valid_after=auth.witness_valid_after,
            permit2=PERMIT2_ADDRESS,
        )
        try:
            return recover_signer(typed, auth.signature)
        except SignatureError:
            return None


if TYPE_CHECKING:
    # mypy proves the sandbox is a drop-in Facilitator for the gateway's x402 flow.
    _FACILITATOR: type[Facilitator] = SandboxFacilitator

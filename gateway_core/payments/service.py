"""The payment gate: which credential pays (spec/payments.md §1.2), and how it is wired up.

:func:`open_payments` builds everything from the settings and the store at start-up: the
Compose Key secret, the facilitator (the in-process sandbox one, or any x402 facilitator by
URL), the merchant address, and the two payment modes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from x402.schemas import SupportedResponse

from gateway_core.errors import GatewayError
from gateway_core.payments.billing import ReceiptBook
from gateway_core.payments.gate import Authorization, PaymentRequest, Receipt
from gateway_core.payments.key_payment import KeyPayments
from gateway_core.payments.keys import ComposeKeys, compose_token_of
from gateway_core.payments.sandbox.facilitator import SandboxFacilitator
from gateway_core.payments.x402.config import X402Settings
from gateway_core.payments.x402.errors import FacilitatorUnavailable
from gateway_core.payments.x402.facilitator import Facilitator, HttpFacilitator
from gateway_core.payments.x402.networks import ChainRow
from gateway_core.payments.x402_payment import X402Payments
from gateway_core.settings import GatewaySettings, SettingsError
from gateway_core.store import Store
from gateway_core.types import Usage

__all__ = ["Payments", "SandboxParts", "check_payment_settings", "open_payments", "requested_chain"]

_SUPPORTED_TTL = 600.0


def requested_chain(headers: Mapping[str, str]) -> int | None:
    """The ``x-chain-id`` header: absent, or a positive decimal integer (spec/payments.md §1.3)."""
    text = (headers.get("x-chain-id") or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise GatewayError(400, "invalid_request", "x-chain-id must be a positive integer", param="x-chain-id")
    return int(text)


@dataclass(frozen=True)
class SandboxParts:
    """What sandbox mode adds: the facilitator served at ``/api/x402/facilitator/*``."""

    facilitator: SandboxFacilitator


class Payments:
    """The pipeline's payment gate for paid native routes."""

    def __init__(
        self,
        *,
        settings: X402Settings,
        keys: KeyPayments,
        x402: X402Payments,
        chains: Mapping[int, ChainRow],
        sandbox: SandboxParts | None,
        compose_keys: ComposeKeys,
        store: Store,
        pay_to: str,
        key_settlement: str,
        on_close: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        #: How Compose Key spend is collected: ``ledger`` or ``sandbox``.
        self.key_settlement = key_settlement
        self.keys = keys
        self.x402 = x402
        self.chains = chains
        self.sandbox = sandbox
        self.compose_keys = compose_keys
        self.store = store
        self.pay_to = pay_to
        self._on_close = on_close

    def chain_row(self, chain_id: int) -> ChainRow:
        row = self.chains.get(chain_id)
        if row is None:
            raise GatewayError(400, "chain_not_supported", f"Chain {chain_id} is not supported")
        return row

    async def authorize(self, request: PaymentRequest) -> Authorization:
        try:
            return await self._authorize(request)
        except FacilitatorUnavailable as exc:
            raise exc.gateway_error() from exc

    async def _authorize(self, request: PaymentRequest) -> Authorization:
        headers = request.headers
        requested = requested_chain(headers)
        token = compose_token_of(headers.get("authorization"))
        if token is not None:
            return await self.keys.authorize(request, token, requested)
        challenge_row = self.chain_row(requested or self.settings.default_chain_id)
        for name in ("payment-signature", "x-payment"):
            value = (headers.get(name) or "").strip()
            if value:
                if not self.settings.enabled:
                    break
                return await self.x402.authorize(request, value, challenge_row)
        if not self.settings.enabled:
            raise GatewayError(402, "payment_required", "A Compose Key is required")
        raise self.x402.challenge(request, challenge_row)

    async def settle(
        self, authorization: Authorization, usage: Usage, usage_source: str, *, stream: bool = False
    ) -> Receipt | None:
        if authorization.mode == "compose_key":
            return await self.keys.settle(authorization, usage, usage_source, stream=stream)
        if authorization.mode == "x402":
            return await self.x402.settle(authorization, usage, usage_source, stream=stream)
        return None

    async def release(self, authorization: Authorization) -> Mapping[str, str]:
        if authorization.mode == "compose_key":
            return await self.keys.release(authorization)
        if authorization.mode == "x402":
            await self.x402.release(authorization)
        return {}

    def settles_in_place(self, authorization: Authorization) -> bool:
        # A key's settlement and release are store work only; on SQLite that finishes without
        # suspending, or waits for another process's lock on plain futures (store/direct.py).
        # x402 settles through a facilitator (an HTTP client's cancel scopes), PostgreSQL over
        # asyncpg: those run shielded in a task of their own.
        return authorization.mode == "compose_key" and self.store.dialect == "sqlite"

    async def aclose(self) -> None:
        if self._on_close is not None:
            result = self._on_close()
            if asyncio.iscoroutine(result):
                await result


class _SupportedCache:
    """The facilitator's ``/supported``: read at start-up, refreshed every 10 minutes
    (spec/payments.md §6.10); until read, raw x402 answers 503 ``facilitator_unavailable``."""

    def __init__(self, facilitator: Facilitator, clock: Callable[[], float] = time.monotonic) -> None:
        self._facilitator = facilitator
        self._clock = clock
        self._value: SupportedResponse | None = None
        self._read_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        try:
            self._value = await self._facilitator.supported()
            self._read_at = self._clock()
        except FacilitatorUnavailable:
            pass  # keep the previous answer; callers get 503 until one was read

    def get(self) -> SupportedResponse:
        stale = self._clock() - self._read_at > _SUPPORTED_TTL
        # One refresh at a time, in the background: requests never wait for /supported.
        if (stale or self._value is None) and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.get_running_loop().create_task(self.refresh())
        if self._value is None:
            raise FacilitatorUnavailable("/supported has not been read yet")
        return self._value


async def _secret(store: Store, name: str, configured: str | None, make: Callable[[], str]) -> str:
    if configured:
        return configured
    return await store.get_or_create_secret(name, make())


def _random_address() -> str:
    return "0x" + secrets.token_hex(20)


async def _sandbox_signer_address(store: Store, configured_key: str | None) -> str:
    """The sandbox facilitator's signer address (``facilitatorAddress``, the upto witness).

    Nothing in sandbox mode signs with the signer, so a generated one is just an address. A
    configured ``GATEWAY_SANDBOX_SIGNER_KEY``, or a key an earlier version generated, is turned
    into its address; only then is eth_account loaded (~11 MiB that a gateway paid with
    Compose Keys alone never needs, issue 6).
    """
    key = configured_key or await store.get_secret("sandbox_signer_key")
    if key is None:
        return await store.get_or_create_secret("sandbox_signer_address", _random_address())
    from gateway_core.payments.sandbox.signer import Wallet

    return Wallet.from_key(key).address


def check_payment_settings(settings: GatewaySettings) -> X402Settings:
    """Validate the payment settings before the server binds (start-up exit 2 otherwise).

    :raises SettingsError: a malformed key, or outside sandbox mode without
        ``GATEWAY_KEY_SECRET`` or ``GATEWAY_PAY_TO`` (spec/README.md § Configuration).
    """
    x402 = X402Settings.from_config(settings.config)
    secret = (settings.config.get("GATEWAY_KEY_SECRET") or "").strip()
    if not x402.sandbox and (not secret or x402.pay_to is None):
        raise SettingsError("GATEWAY_KEY_SECRET and GATEWAY_PAY_TO are required outside sandbox mode")
    if secret and len(secret.encode()) < 32:
        raise SettingsError("GATEWAY_KEY_SECRET must be at least 32 bytes")
    settlement = (settings.config.get("GATEWAY_KEY_SETTLEMENT") or ("sandbox" if x402.sandbox else "ledger")).strip()
    if settlement not in ("ledger", "sandbox"):
        raise SettingsError(f"GATEWAY_KEY_SETTLEMENT={settlement!r} is not supported here (ledger, sandbox)")
    return x402


async def open_payments(settings: GatewaySettings, store: Store) -> Payments:
    """Build the gate. Sandbox mode generates (once, kept in the store) the Compose Key
    secret, the facilitator signer and the merchant address when they are not configured.

    :raises SettingsError: outside sandbox mode without ``GATEWAY_KEY_SECRET`` or ``GATEWAY_PAY_TO``.
    """
    config = settings.config
    x402 = check_payment_settings(settings)
    key_secret = (config.get("GATEWAY_KEY_SECRET") or "").strip() or None
    key_secret = await _secret(store, "key_secret", key_secret, lambda: secrets.token_hex(32))
    # In sandbox mode the merchant is a ledger account: an address, no key behind it.
    pay_to = x402.pay_to or await _secret(store, "merchant_address", None, _random_address)
    settlement = (config.get("GATEWAY_KEY_SETTLEMENT") or ("sandbox" if x402.sandbox else "ledger")).strip()
    fee = settings.platform_fee_bps
    media_hold = int(config.get("GATEWAY_DEFAULT_MEDIA_HOLD") or 1_000_000)

    sandbox: SandboxParts | None = None
    on_close: Callable[[], object] | None = None
    if x402.sandbox:
        signer_address = await _sandbox_signer_address(store, x402.sandbox_signer_key)
        row = x402.chains.resolve(x402.sandbox_chain_id)
        assert row is not None
        facilitator: Facilitator = SandboxFacilitator(store, signer_address, row)
        sandbox = SandboxParts(facilitator)  # type: ignore[arg-type]
        chains = {row.chain_id: row}
    else:
        assert x402.facilitator_url is not None
        # Imported here: only a remote facilitator needs an HTTP client (sandbox mode, the
        # default, does without httpx's ~3 MiB of modules).
        import httpx

        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        facilitator = HttpFacilitator(x402.facilitator_url, headers=x402.facilitator_headers, http_client=client)
        chains = {row.chain_id: row for row in x402.chains}
        on_close = client.aclose

    supported = _SupportedCache(facilitator)
    await supported.refresh()

    def enabled_rows() -> list[ChainRow]:
        if x402.sandbox:
            return list(chains.values())
        listed = supported.get()
        networks = {kind.network for kind in listed.kinds}
        return [row for row in chains.values() if row.network in networks]

    compose_keys = ComposeKeys(store, key_secret)
    receipts = ReceiptBook(store)
    key_payments = KeyPayments(
        store=store,
        keys=compose_keys,
        receipts=receipts,
        chain_of=chains.get,
        pay_to=pay_to,
        settlement=settlement,
        fee_bps=fee,
        default_media_hold=media_hold,
    )
    x402_payments = X402Payments(
        store=store,
        facilitator=facilitator,
        supported=supported.get,
        settings=x402,
        pay_to=pay_to,
        enabled_rows=enabled_rows,
        receipts=receipts,
        fee_bps=fee,
        default_media_hold=media_hold,
    )
    return Payments(
        settings=x402,
        keys=key_payments,
        x402=x402_payments,
        chains=chains,
        sandbox=sandbox,
        compose_keys=compose_keys,
        store=store,
        pay_to=pay_to,
        key_settlement=settlement,
        on_close=on_close,
    )

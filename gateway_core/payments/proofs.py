"""Who is asking on the key API (spec/payments.md §4.0, §4.5).

Four proofs, checked in this order (the first one present decides; the others are ignored):

1. **Admin** — ``Authorization: Bearer <GATEWAY_ADMIN_TOKEN>``, compared in constant time.
2. **Same-wallet key** — ``Authorization: Bearer compose-…`` valid per §2.2.
3. **Wallet signature** — ``x-wallet-signature`` + ``x-wallet-signature-issued-at`` over the
   exact text of §4.5, signed by ``x-session-user-address`` (EIP-191 ``personal_sign``).
4. **Trusted header** — ``x-session-user-address`` alone, when
   ``GATEWAY_KEYS_TRUST_WALLET_HEADER`` is true (default in sandbox mode).

A signature proof is resolved in two steps: :meth:`KeyApiProofs.wallet_proof` notes it, and
:meth:`KeyApiProofs.accept_signature` checks it once the signed values are known (for
``POST /api/keys`` they come from the validated body).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from gateway_core.errors import GatewayError
from gateway_core.payments.keys import ComposeKeys, compose_token_of
from gateway_core.payments.x402.networks import is_address
from gateway_core.store import KeyRecord, Store, StoreUnavailable

__all__ = [
    "ADDRESS_HEADER",
    "SIGNATURE_MAX_SKEW_S",
    "SIGNATURE_REMEMBER_S",
    "KeyApiProofs",
    "Proof",
    "ProofKind",
    "WalletSignature",
    "create_signature_text",
    "forbidden",
    "is_admin_token",
    "list_signature_text",
    "trust_wallet_header",
]

ADDRESS_HEADER = "x-session-user-address"
SIGNATURE_MAX_SKEW_S = 300
SIGNATURE_REMEMBER_S = 600

ProofKind = Literal["admin", "key", "signature", "header"]

_WALLET_PROOF_REQUIRED = "A wallet proof is required: admin token, Compose Key of the wallet, or x-wallet-signature"
_KEY_REQUIRED = "Authorization: Bearer compose-<jwt> of a key belonging to the same wallet is required"
_FORBIDDEN = "Authorization token does not belong to the owner of this key"
_BAD_SIGNATURE = "Wallet signature is invalid or expired"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def forbidden() -> GatewayError:
    """403 ``forbidden``: a valid key of another wallet."""
    return GatewayError(403, "forbidden", _FORBIDDEN)


def is_admin_token(authorization: str | None, admin_token: str | None) -> bool:
    """``Authorization: Bearer <admin token>`` (scheme word case-insensitive), compared in
    constant time; always False while ``GATEWAY_ADMIN_TOKEN`` is unset or empty."""
    expected = (admin_token or "").strip().encode()
    if not expected or not authorization:
        return False
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected)


def _bad_signature() -> GatewayError:
    return GatewayError(401, "invalid_wallet_signature", _BAD_SIGNATURE)


def trust_wallet_header(config: Mapping[str, str], sandbox: bool) -> bool:
    """``GATEWAY_KEYS_TRUST_WALLET_HEADER``; unset (or unreadable) = ``sandbox``.

    An unreadable value falls back to the mode's default rather than failing requests: the
    setting only widens or narrows who may use the key API, and start-up owns config errors.
    """
    value = (config.get("GATEWAY_KEYS_TRUST_WALLET_HEADER") or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return sandbox


def _lines(action: str, wallet: str, issued_at: int, fields: tuple[tuple[str, object], ...] = ()) -> str:
    lines = ["Compose Key request", f"action: {action}", f"wallet: {wallet.lower()}"]
    lines += [f"{name}: {value}" for name, value in fields]
    lines.append(f"issuedAt: {issued_at}")
    return "\n".join(lines)


def create_signature_text(
    wallet: str, *, chain_id: int, budget_limit: int, expires_at: int, purpose: str, issued_at: int
) -> str:
    """The exact text signed for ``POST /api/keys`` (§4.5)."""
    fields = (("chainId", chain_id), ("budgetLimit", budget_limit), ("expiresAt", expires_at), ("purpose", purpose))
    return _lines("create", wallet, issued_at, fields)


def list_signature_text(wallet: str, *, issued_at: int) -> str:
    """The exact text signed for ``GET /api/keys`` (§4.5)."""
    return _lines("list", wallet, issued_at)


@dataclass(frozen=True)
class WalletSignature:
    """The signature headers as sent: 65 bytes (``v`` normalized to 27/28) and ``issuedAt``."""

    signature: bytes
    issued_at: int


@dataclass(frozen=True)
class Proof:
    """Who is asking.

    :ivar wallet: the wallet acted for, lowercase; ``None`` only for an admin who named none.
    :ivar key: the validated Compose Key of a ``key`` proof.
    :ivar signature: the not-yet-checked signature of a ``signature`` proof.
    """

    kind: ProofKind
    wallet: str | None
    key: KeyRecord | None = None
    signature: WalletSignature | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


def _address_header(headers: Mapping[str, str]) -> str | None:
    raw = (headers.get(ADDRESS_HEADER) or "").strip()
    if not raw:
        return None
    if not is_address(raw):
        raise GatewayError(
            400,
            "invalid_request",
            f"{ADDRESS_HEADER} must be a 0x-prefixed 20-byte hex address",
            param=ADDRESS_HEADER,
        )
    return raw.lower()


def _parse_signature(value: str, issued_at: str | None) -> WalletSignature:
    text = value.strip()
    digits = (issued_at or "").strip()
    if not (digits.isascii() and digits.isdigit()):
        raise _bad_signature()
    if not (len(text) == 132 and text[:2] in ("0x", "0X")):
        raise _bad_signature()
    try:
        raw = bytes.fromhex(text[2:])
    except ValueError:
        raise _bad_signature() from None
    v = raw[64]
    if v in (0, 1):
        v += 27
    if v not in (27, 28):  # §4.5 allows 27/28 or 0/1, not EIP-155 chain-encoded values
        raise _bad_signature()
    return WalletSignature(raw[:64] + bytes([v]), int(digits))


class KeyApiProofs:
    """Resolves the proof of a key-API request.

    :param admin_token: ``GATEWAY_ADMIN_TOKEN``; ``None`` or empty disables admin auth.
    :param trust_header: accept ``x-session-user-address`` alone (:func:`trust_wallet_header`).
    :param clock: Unix seconds (signature freshness).
    """

    def __init__(
        self,
        compose_keys: ComposeKeys,
        store: Store,
        *,
        admin_token: str | None,
        trust_header: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = compose_keys
        self._store = store
        self._admin_token = admin_token
        self._trust_header = trust_header
        self._clock = clock

    def is_admin(self, authorization: str | None) -> bool:
        return is_admin_token(authorization, self._admin_token)

    async def _key(self, authorization: str | None) -> KeyRecord | None:
        token = compose_token_of(authorization)
        return None if token is None else await self._keys.validate(token)

    async def key_proof(self, headers: Mapping[str, str]) -> Proof:
        """The proof of ``GET``/``DELETE /api/keys/{keyId}``: admin or a valid Compose Key.

        The caller still compares the key's wallet with the target's (:func:`forbidden`).

        :raises GatewayError: 401 ``compose_key_required`` (no admin token, no Compose Key),
            401 ``invalid_compose_key``, 503 ``store_unavailable``.
        """
        authorization = headers.get("authorization")
        if self.is_admin(authorization):
            return Proof("admin", None)
        key = await self._key(authorization)
        if key is None:
            raise GatewayError(401, "compose_key_required", _KEY_REQUIRED)
        return Proof("key", key.user_address, key=key)

    async def wallet_proof(self, headers: Mapping[str, str]) -> Proof:
        """The proof of ``POST``/``GET /api/keys``.

        ``wallet`` is ``x-session-user-address``, or the key's wallet for a key proof without
        that header. A ``signature`` proof is not checked yet: call :meth:`accept_signature`.

        :raises GatewayError: 400 ``invalid_request`` (``x-session-user-address`` malformed,
            or missing beside signature headers), 401 ``invalid_compose_key`` /
            ``invalid_wallet_signature`` / ``wallet_proof_required``, 403 ``forbidden`` (a key
            of another wallet than the header names), 503 ``store_unavailable``.
        """
        authorization = headers.get("authorization")
        address = _address_header(headers)
        if self.is_admin(authorization):
            return Proof("admin", address)
        key = await self._key(authorization)
        if key is not None:
            if address is not None and address != key.user_address:
                raise forbidden()
            return Proof("key", key.user_address, key=key)
        signature = (headers.get("x-wallet-signature") or "").strip()
        if signature:
            if address is None:
                raise GatewayError(
                    400,
                    "invalid_request",
                    f"{ADDRESS_HEADER} is required with x-wallet-signature",
                    param=ADDRESS_HEADER,
                )
            parsed = _parse_signature(signature, headers.get("x-wallet-signature-issued-at"))
            return Proof("signature", address, signature=parsed)
        if address is not None and self._trust_header:
            return Proof("header", address)
        raise GatewayError(401, "wallet_proof_required", _WALLET_PROOF_REQUIRED)

    async def accept_signature(self, proof: Proof, text: str) -> None:
        """Check a ``signature`` proof over ``text`` and use it up; other proofs pass.

        Valid when ``|now - issuedAt| ≤ 300 s``, the EIP-191 signer of ``text`` is the
        proof's wallet, and the same signed request was not accepted in the last 600 s.

        :raises GatewayError: 401 ``invalid_wallet_signature``, 503 ``store_unavailable``.
        """
        signed = proof.signature
        if proof.kind != "signature" or signed is None:
            return
        now = int(self._clock())
        if abs(now - signed.issued_at) > SIGNATURE_MAX_SKEW_S:
            raise _bad_signature()
        # Loaded on use: a gateway that never sees a wallet signature never loads eth_account.
        from eth_account import Account
        from eth_account.messages import encode_defunct
        from eth_keys.exceptions import BadSignature
        from eth_utils.exceptions import ValidationError

        try:
            signer = Account.recover_message(encode_defunct(text=text), signature=signed.signature)
        except (ValueError, BadSignature, ValidationError):
            raise _bad_signature() from None
        if signer.lower() != proof.wallet:
            raise _bad_signature()
        # The digest is of the signed text (which names the wallet), not of the signature
        # bytes: a re-encoded signature (v as 0/1, or the malleable s' = n - s twin) of the
        # same request is still the same signature for replay purposes.
        digest = hashlib.sha256(text.encode()).hexdigest()
        try:
            fresh = await self._store.use_signature_proof(digest, now + SIGNATURE_REMEMBER_S, now_s=now)
        except StoreUnavailable as exc:
            raise GatewayError(503, "store_unavailable", "Store is unavailable") from exc
        if not fresh:
            raise _bad_signature()

"""Compose Keys: ``compose-`` + an HS256 JWT, validated against the store (spec/payments.md §2).

The token only proves who issued it and for which key; the store is authoritative for budget,
expiry, revocation and chain, so a revoked key stops working on every replica at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from gateway_core.errors import GatewayError
from gateway_core.store import KeyRecord, Store, StoreUnavailable

__all__ = [
    "TOKEN_PREFIX",
    "ComposeKeys",
    "budget_headers",
    "compose_token_of",
    "key_record_body",
    "key_status",
    "new_key_id",
]

TOKEN_PREFIX = "compose-"
_HEADER = {"alg": "HS256", "typ": "JWT"}
#: Verified tokens whose claims are remembered (see ComposeKeys._claims).
_VERIFIED_TOKENS = 4096


def new_key_id() -> str:
    """A key id: UUID v4, lowercase with dashes."""
    return str(uuid.uuid4())


def compose_token_of(authorization: str | None) -> str | None:
    """The JWT of ``Authorization: Bearer compose-…`` or ``Authorization: compose-…``
    (scheme word case-insensitive, spec/payments.md §1.2); ``None`` for any other value."""
    if not authorization:
        return None
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value.startswith(TOKEN_PREFIX):
        return None
    return value[len(TOKEN_PREFIX) :]


def _invalid(message: str, reason: str) -> GatewayError:
    return GatewayError(401, "invalid_compose_key", message, headers={"x-session-invalid": reason})


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def key_status(record: KeyRecord, now_ms: int) -> str:
    """``revoked``, ``expired``, ``exhausted`` or ``active`` (spec/payments.md §4.2)."""
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at <= now_ms:
        return "expired"
    if record.remaining == 0:
        return "exhausted"
    return "active"


def key_record_body(record: KeyRecord, now_ms: int) -> dict[str, Any]:
    """A KeyRecord as the key API shows it: amounts as digit strings, never token material."""
    body: dict[str, Any] = {
        "keyId": record.key_id,
        "userAddress": record.user_address,
        "purpose": record.purpose,
        "budgetLimit": str(record.budget_limit),
        "budgetUsed": str(record.budget_used),
        "budgetReserved": str(record.budget_reserved),
        "budgetRemaining": str(record.remaining),
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "chainId": record.chain_id,
        "status": key_status(record, now_ms),
    }
    for field, value in (("lastUsedAt", record.last_used_at), ("revokedAt", record.revoked_at), ("name", record.name)):
        if value is not None:
            body[field] = value
    return body


def budget_headers(record: KeyRecord) -> dict[str, str]:
    """The ``x-key-budget-*`` headers of a keyed call (spec/payments.md §3.5)."""
    return {
        "x-key-budget-limit": str(record.budget_limit),
        "x-key-budget-used": str(record.budget_used),
        "x-key-budget-reserved": str(record.budget_reserved),
        "x-key-budget-remaining": str(record.remaining),
    }


class ComposeKeys:
    """Mints tokens and validates them against the store."""

    def __init__(self, store: Store, secret: str, clock: Callable[[], float] = time.time) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the Compose Key secret must be at least 32 bytes")
        self._store = store
        self._secret = secret
        self._clock = clock
        self._verified: dict[str, Mapping[str, Any]] = {}

    def mint(self, record: KeyRecord) -> str:
        """The token of a new key (returned once, at creation)."""
        claims = {
            "sub": record.user_address,
            "keyId": record.key_id,
            "budgetLimit": record.budget_limit,
            "budgetUsed": 0,
            "exp": record.expires_at // 1000,
            "iat": int(self._clock()),
        }
        return TOKEN_PREFIX + jwt.encode(claims, self._secret, algorithm="HS256", headers={"typ": "JWT"})

    def _claims(self, token: str) -> Mapping[str, Any]:
        # A token's claims never change, and a client sends the same token on every call:
        # verified once, its claims are remembered (bounded), so the per-call cost is a dict
        # lookup instead of base64, JSON and an HMAC. Expiry, revocation and the owner are
        # still checked on every call against the clock and the store (validate()).
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= _VERIFIED_TOKENS:
                self._verified.pop(next(iter(self._verified)))  # oldest first
            self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Mapping[str, Any]:
        # Step 1 of spec/payments.md §2.2: shape, exact header, signature, required claims.
        segments = token.split(".")
        if len(segments) != 3:
            raise _invalid("Invalid or expired token", "invalid_key")
        try:
            if _b64json(segments[0]) != _HEADER:
                raise _invalid("Invalid or expired token", "invalid_key")
            claims: Mapping[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except (jwt.PyJWTError, ValueError, binascii.Error, UnicodeDecodeError):
            raise _invalid("Invalid or expired token", "invalid_key") from None
        if not (
            isinstance(claims.get("sub"), str)
            and isinstance(claims.get("keyId"), str)
            and isinstance(claims.get("exp"), int)
        ):
            raise _invalid("Invalid or expired token", "invalid_key")
        return claims

    async def validate(self, token: str) -> KeyRecord:
        """The key record for a token (without its ``compose-`` prefix), or the 401 of §2.2.

        :raises GatewayError: 401 ``invalid_compose_key`` (with ``x-session-invalid``) or
            503 ``store_unavailable``.
        """
        claims = self.claims(token)
        try:
            record = await self._store.get_key(claims["keyId"])
        except StoreUnavailable as exc:
            raise GatewayError(503, "store_unavailable", "Store is unavailable") from exc
        return self.check(record, claims)

    def claims(self, token: str) -> Mapping[str, Any]:
        """Step 1 of §2.2: the verified claims of a token whose own expiry has not passed
        (``keyId`` names the key). Validation then reads the key and checks it (:meth:`check`).

        :raises GatewayError: 401 ``invalid_compose_key``.
        """
        claims = self._claims(token)
        if claims["exp"] < int(self._clock()):
            raise _invalid("Invalid or expired token", "expired")
        return claims

    def check(self, record: KeyRecord | None, claims: Mapping[str, Any]) -> KeyRecord:
        """The rest of §2.2 on the key as read (``None``: no such key): revoked, unknown,
        expired, or not the token's owner is a 401, in that order.

        :raises GatewayError: 401 ``invalid_compose_key``.
        """
        if record is not None and record.revoked_at is not None:
            raise _invalid("Key has been revoked", "revoked")
        if record is None:
            raise _invalid("Key not found", "invalid_key")
        if record.expires_at <= int(self._clock() * 1000):
            raise _invalid("Key has expired", "expired")
        if record.user_address != str(claims["sub"]).lower():
            raise _invalid("Invalid or expired token", "invalid_key")
        return record

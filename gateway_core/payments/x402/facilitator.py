"""Talking to an x402 facilitator (spec/payments.md §6.5 check 10, §6.7, §6.10).

:class:`Facilitator` is what the gateway needs; :class:`HttpFacilitator` implements it over
the x402 package's ``HTTPFacilitatorClient`` (request bodies, response models) on one pooled
``httpx.AsyncClient``, and the sandbox facilitator implements it in-process.

Why not the package client alone: it has one timeout for every call (the spec wants 10 s for
verify, 30 s for settle) and its ``get_supported`` is synchronous (it would block the event
loop), so timeouts are applied around its calls and ``/supported`` is fetched here.

Failure model: a facilitator that cannot be asked (transport error, timeout, non-200,
malformed body) raises :class:`FacilitatorUnavailable`; a facilitator that answers
``isValid: false`` / ``success: false`` returns that answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from pydantic import ValidationError
from x402.schemas import PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse
from x402.schemas.helpers import matches_network_pattern

from gateway_core.payments.x402.errors import FacilitatorUnavailable

if TYPE_CHECKING:
    # Imported where a remote facilitator is made (HttpFacilitator): httpx and the package's
    # HTTP client cost a few MiB that the sandbox facilitator never needs.
    import httpx
    from x402.http import AuthHeaders

__all__ = [
    "SETTLE_ATTEMPTS",
    "SETTLE_TIMEOUT",
    "SETTLE_WAITS",
    "VERIFY_TIMEOUT",
    "Facilitator",
    "HttpFacilitator",
    "SettleOutcome",
    "facilitator_address",
    "facilitator_signers",
    "is_nonce_used_reason",
    "settle_with_retry",
    "supported_schemes",
]

_T = TypeVar("_T")

VERIFY_TIMEOUT = 10.0
SETTLE_TIMEOUT = 30.0
SETTLE_ATTEMPTS = 3
SETTLE_WAITS: tuple[float, ...] = (0.5, 1.0)


class Facilitator(Protocol):
    """An x402 facilitator. Each method raises :class:`FacilitatorUnavailable` when it cannot
    get an answer."""

    async def supported(self) -> SupportedResponse: ...

    async def verify(self, payload: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse: ...

    async def settle(self, payload: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse: ...


class _StaticHeaders:
    """``GATEWAY_X402_FACILITATOR_HEADERS`` on every endpoint (the package's AuthProvider)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def get_auth_headers(self) -> AuthHeaders:
        from x402.http import AuthHeaders  # loaded by HttpFacilitator already

        return AuthHeaders(verify=dict(self._headers), settle=dict(self._headers), supported=dict(self._headers))


class HttpFacilitator:
    """A remote facilitator at ``url`` (``/verify``, ``/settle``, ``/supported``).

    :param headers: extra headers for every call (for example an API key).
    :param http_client: a pooled client to share; created (and closed by :meth:`aclose`) when absent.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        verify_timeout: float = VERIFY_TIMEOUT,
        settle_timeout: float = SETTLE_TIMEOUT,
        supported_timeout: float = VERIFY_TIMEOUT,
    ) -> None:
        import httpx  # see the TYPE_CHECKING block
        from x402.http import FacilitatorConfig, HTTPFacilitatorClient

        self.url = url.rstrip("/")
        self._headers = dict(headers or {})
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=httpx.Timeout(settle_timeout))
        self._verify_timeout = verify_timeout
        self._settle_timeout = settle_timeout
        self._supported_timeout = supported_timeout
        self._client = HTTPFacilitatorClient(
            FacilitatorConfig(
                url=self.url,
                timeout=settle_timeout,
                http_client=self._http,
                auth_provider=_StaticHeaders(self._headers),
            )
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def supported(self) -> SupportedResponse:
        import httpx  # loaded by __init__ already

        try:
            async with asyncio.timeout(self._supported_timeout):
                response = await self._http.get(f"{self.url}/supported", headers=self._headers)
            if response.status_code != 200:
                raise FacilitatorUnavailable(f"/supported answered {response.status_code}")
            return SupportedResponse.model_validate(response.json())
        except (httpx.HTTPError, TimeoutError, ValueError, ValidationError) as exc:
            raise FacilitatorUnavailable(f"/supported failed: {exc!r}") from exc

    async def verify(self, payload: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        return await self._call(self._client.verify(payload, requirements), self._verify_timeout, "verify")

    async def settle(self, payload: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        return await self._call(self._client.settle(payload, requirements), self._settle_timeout, "settle")

    @staticmethod
    async def _call(call: Awaitable[_T], seconds: float, name: str) -> _T:
        import httpx  # loaded by __init__ already

        try:
            async with asyncio.timeout(seconds):
                return await call
        # The package raises ValueError for non-200 answers and FacilitatorResponseError (a
        # ValueError) for malformed ones: both are "no usable answer" (§6.10).
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            raise FacilitatorUnavailable(f"/{name} failed: {exc!r}") from exc


@dataclass(frozen=True)
class SettleOutcome:
    """The §6.7 settlement case.

    ``settled``: ``response`` is the successful SettleResponse. ``failed``: ``response`` is the
    refusal (answer 402 ``settlement_failed``). ``unknown``: the reservation goes ``pending``
    and background reconciliation retries; ``response`` is the pending answer, if any.
    """

    status: Literal["settled", "failed", "unknown"]
    response: SettleResponse | None
    attempts: int


def is_nonce_used_reason(reason: str | None) -> bool:
    """``…nonce_already_used`` (x402 exact) and the sandbox's upto ``permit2_invalid_nonce``."""
    return bool(reason) and (str(reason).endswith("nonce_already_used") or reason == "permit2_invalid_nonce")


async def settle_with_retry(
    facilitator: Facilitator,
    payload: PaymentPayload,
    requirements: PaymentRequirements,
    *,
    attempts: int = SETTLE_ATTEMPTS,
    waits: Sequence[float] = SETTLE_WAITS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SettleOutcome:
    """``POST /settle`` with the §6.7 policy.

    * ``success: true`` -> ``settled``.
    * ``errorReason: "settlement_pending"`` -> ``unknown`` at once: the facilitator has the
      transfer in hand, asking again cannot make it more certain.
    * :class:`FacilitatorUnavailable` -> wait (0.5 s, 1 s) and try again; after the last
      attempt -> ``unknown``.
    * any other refusal -> ``failed``, except a nonce-used refusal *after* a failed attempt:
      that earlier attempt may have landed, so the outcome is ``unknown`` and reconciliation
      (which counts ``…nonce_already_used`` as settled, §6.6) decides. Withholding output for a
      payment that went through would be the worse error.
    """
    uncertain = False
    for attempt in range(1, attempts + 1):
        try:
            response = await facilitator.settle(payload, requirements)
        except FacilitatorUnavailable:
            uncertain = True
            if attempt < attempts:
                await sleep(waits[min(attempt - 1, len(waits) - 1)] if waits else 0.0)
            continue
        if response.success:
            return SettleOutcome("settled", response, attempt)
        if response.error_reason == "settlement_pending" or (uncertain and is_nonce_used_reason(response.error_reason)):
            return SettleOutcome("unknown", response, attempt)
        return SettleOutcome("failed", response, attempt)
    return SettleOutcome("unknown", None, attempts)


def supported_schemes(supported: SupportedResponse, network: str) -> list[str]:
    """Schemes the facilitator lists for ``network`` under x402 v2, in its order."""
    schemes: list[str] = []
    for kind in supported.kinds:
        if kind.x402_version == 2 and matches_network_pattern(network, kind.network) and kind.scheme not in schemes:
            schemes.append(kind.scheme)
    return schemes


def facilitator_address(supported: SupportedResponse, network: str, scheme: str) -> str | None:
    """``kinds[].extra.facilitatorAddress`` of that network and scheme, else the first of
    ``signers["eip155:*"]`` (§6.3), else the first signer listed for the network."""
    for kind in supported.kinds:
        if kind.scheme == scheme and matches_network_pattern(network, kind.network):
            address = (kind.extra or {}).get("facilitatorAddress")
            if isinstance(address, str) and address:
                return address
    wildcard = supported.signers.get("eip155:*") or []
    if wildcard:
        return wildcard[0]
    for pattern, signers in supported.signers.items():
        if signers and matches_network_pattern(network, pattern):
            return signers[0]
    return None


def facilitator_signers(supported: SupportedResponse, network: str | None = None) -> frozenset[str]:
    """Every address the facilitator signs with (for ``network``, or any), lowercase: the
    values an upto ``extra.facilitatorAddress`` / ``witness.facilitator`` may take."""
    found: set[str] = set()
    for kind in supported.kinds:
        if network is None or matches_network_pattern(network, kind.network):
            address = (kind.extra or {}).get("facilitatorAddress")
            if isinstance(address, str) and address:
                found.add(address.lower())
    for pattern, signers in supported.signers.items():
        if network is None or matches_network_pattern(network, pattern):
            found.update(signer.lower() for signer in signers)
    return frozenset(found)

"""What every paid route puts around a pipeline call: the x402 resource URL of the request,
and the response headers of a call (routing, payment, receipt)."""

from __future__ import annotations

from starlette.requests import Request

from gateway_core.http import public_origin
from gateway_core.payments import Receipt
from gateway_core.pipeline import CallPlan
from gateway_core.runtime import Runtime

__all__ = ["call_headers", "request_path", "resource_url"]


def request_path(request: Request) -> str:
    """``request.url.path`` without building the URL object (parsing it is ~10 µs a call):
    the scope's path with the characters Starlette escapes there escaped the same way."""
    return str(request.scope["path"]).replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def resource_url(request: Request, runtime: Runtime) -> str:
    """The public URL of the request: the x402 ``resource`` and the receipt's."""
    query = bytes(request.scope.get("query_string", b"")).decode()
    origin = public_origin(request.scope, runtime.settings.public_url)
    return origin + request_path(request) + (f"?{query}" if query else "")


def call_headers(plan: CallPlan, attempts: int, receipt: Receipt | None = None) -> dict[str, str]:
    """Response id, routing (spec/chat.md §4.3) and payment headers; with a receipt, its headers
    and the encoded receipt (``X-Compose-Receipt``, ``X-Receipt``) too."""
    model = plan.request.model
    headers = {
        "x-compose-response-id": plan.response_id,
        "x-response-id": plan.response_id,
        "x-routing-primary-model": model,
        "x-routing-final-model": model,
        "x-routing-attempts": str(attempts),
        "x-routing-fallback-used": "false",
    }
    headers.update(plan.authorization.headers)
    if receipt is not None:
        headers.update(receipt.headers)
        headers["X-Compose-Receipt"] = headers["X-Receipt"] = receipt.header
    return headers

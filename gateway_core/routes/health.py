"""``GET /health`` (spec/models.md §3.8) and ``GET /v1/plugins`` (plugin introspection)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway_core.routes._json import json_response
from gateway_core.runtime import Runtime

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Response:
    from gateway_core import __version__

    runtime: Runtime = request.app.state.runtime
    now = datetime.now(UTC)
    healthy = runtime.store is None or await runtime.store.ping()
    return json_response(
        {
            "status": "ok" if healthy else "degraded",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "version": __version__,
            "sandbox": runtime.settings.sandbox,
        },
        status=200 if healthy else 503,
    )


@router.get("/v1/plugins")
async def plugins(request: Request) -> Response:
    """Loaded plugins, the providers they serve, and every plugin that failed to load
    (gateway extension: same document as ``gateway plugins``)."""
    runtime: Runtime = request.app.state.runtime
    return json_response(runtime.plugins.report())

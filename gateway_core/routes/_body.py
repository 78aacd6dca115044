"""Reading a JSON request body by the rules of spec/errors-and-headers.md §7."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from gateway_core.errors import GatewayError

__all__ = ["read_json_body"]

_JSON_TYPES = ("application/json", "text/plain", "")


def _check_content_type(value: str) -> None:
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if not (media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))):
        raise GatewayError(
            415, "unsupported_media_type", f"Content-Type {media} is not supported on this route", param="content-type"
        )
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise GatewayError(
                415,
                "unsupported_media_type",
                f"Content-Type {value.strip()} is not supported on this route",
                param="content-type",
            )


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, "request_entity_too_large", f"Request body exceeds the {limit} byte limit")


async def read_json_body(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object. Empty body = ``{}``.

    :raises GatewayError: 413 over ``limit`` (checked on ``Content-Length`` first, then while
        reading, so an oversized body is never held whole), 415 for a non-JSON content type or
        charset, 400 ``invalid_request_body`` for malformed JSON or a non-object.
    """
    _check_content_type(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, "invalid_request_body", f"Invalid JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise GatewayError(400, "invalid_request_body", "Request body must be a JSON object")
    return body

"""The one JSON response helper every router uses.

orjson is several times faster than the stdlib encoder on catalog-sized bodies and emits
compact UTF-8 directly, which is what spec/README.md asks for on every JSON response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["JSON_MEDIA_TYPE", "json_response"]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Serialize ``body`` with orjson into an ``application/json; charset=utf-8`` response.

    :param body: any orjson-serializable value (dicts, lists, dataclasses, datetimes...).
    :param status: HTTP status code.
    :param headers: extra response headers.
    """
    # API answers are per-caller and per-moment; routes that may be cached say so explicitly
    # (spec/errors-and-headers.md §5.2, gateway choice).
    all_headers = {"cache-control": "no-store"}
    if headers:
        all_headers.update({k.lower(): v for k, v in headers.items()})
    return Response(content=orjson.dumps(body), status_code=status, headers=all_headers, media_type=JSON_MEDIA_TYPE)

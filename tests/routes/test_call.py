"""``routes/_call.py``: the request path and resource URL read from the scope directly."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway_core.routes._call import request_path


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/chat/completions", b""),
        ("/v1/chat/completions", b"a=1&b=%20x"),
        ("/api/inference/odd?name#frag\\x", b""),
        ("/v1/models/caf\u00e9", b"q=\xc3\xa9"),
    ],
)
def test_request_path_is_what_starlette_s_url_says(path: str, query: bytes) -> None:
    scope = {"type": "http", "method": "POST", "path": path, "query_string": query, "headers": [(b"host", b"gw")]}
    request = Request(scope)
    assert request_path(request) == request.url.path

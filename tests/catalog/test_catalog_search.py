"""Search parsing, filters and paging (spec/models.md §3.3)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_core.catalog import Catalog, SearchQuery, merge_search_fields, parse_search_fields, search_rows
from gateway_core.errors import GatewayError

PROVIDERS = ["sandbox", "acme"]

CATALOG = Catalog.from_rows(
    [
        {
            "modelId": "chat-a",
            "provider": "acme",
            "name": "Alpha Chat",
            "type": "chat",
            "contextWindow": 128000,
            "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 1.0, "output": 2}}]},
        },
        {
            "modelId": "chat-b",
            "provider": "sandbox",
            "description": "budget talker",
            "type": "chat",
            "contextWindow": {"tokens": 8000},
            "pricing": {
                "sections": [
                    {"unitKey": "usd_per_image", "entries": {"image": 0.1}},
                    {"unitKey": "usd_per_1m_tokens", "entries": {"input": 0.1}},
                ]
            },
        },
        {"modelId": "vid", "provider": "acme", "type": "text-to-video"},
        {"modelId": "img", "provider": "acme", "type": ["text-to-image", "embeddings"], "input": ["text"]},
    ]
)


def _search(**fields: Any) -> list[str]:
    page = search_rows(CATALOG.curated, parse_search_fields(fields, PROVIDERS))
    return [row.model_id for row in page.rows]


@pytest.mark.parametrize(
    ("fields", "ids"),
    [
        pytest.param({}, ["chat-a", "chat-b", "vid", "img"], id="no-filter"),
        pytest.param({"q": "  ALPHA "}, ["chat-a"], id="q-name-case-insensitive"),
        pytest.param({"q": "budget"}, ["chat-b"], id="q-description"),
        pytest.param({"q": "sandbox"}, ["chat-b"], id="q-provider"),
        pytest.param({"q": "   "}, ["chat-a", "chat-b", "vid", "img"], id="q-blank"),
        pytest.param({"modality": "video"}, ["vid"], id="modality"),
        pytest.param({"operation": "text-to-embedding"}, ["img"], id="operation"),
        pytest.param({"modality": "image", "operation": "text-to-embedding"}, [], id="modality-operation-same-cap"),
        pytest.param({"provider": "sandbox"}, ["chat-b"], id="provider"),
        pytest.param({"priceMaxPerMTok": 0.5}, ["chat-b"], id="price-first-section-with-input"),
        pytest.param({"price_max_per_mtok": "1"}, ["chat-a", "chat-b"], id="price-alias-string"),
        pytest.param({"priceMaxPerMTok": 0}, ["chat-a", "chat-b", "vid", "img"], id="price-zero-no-filter"),
        pytest.param({"priceMaxPerMTok": "cheap"}, ["chat-a", "chat-b", "vid", "img"], id="price-garbage-no-filter"),
        pytest.param({"contextWindowMin": "10000"}, ["chat-a"], id="context-int"),
        pytest.param({"context_window_min": 8000}, ["chat-a", "chat-b"], id="context-object-tokens"),
        pytest.param({"streaming": True}, ["chat-a", "chat-b", "img"], id="streaming-true"),
        pytest.param({"streaming": "true"}, ["chat-a", "chat-b", "img"], id="streaming-string"),
        pytest.param({"streaming": "false"}, ["chat-a", "chat-b", "vid", "img"], id="streaming-false-no-filter"),
        pytest.param({"streaming": True, "modality": "embedding"}, [], id="streaming-same-capability"),
        pytest.param({"streaming": True, "modality": "image"}, ["img"], id="streaming-modality"),
    ],
)
def test_filters(fields: dict[str, Any], ids: list[str]) -> None:
    assert _search(**fields) == ids


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        pytest.param({"modality": "speech"}, "invalid_modality", id="modality"),
        pytest.param({"modality": "Text"}, "invalid_modality", id="modality-case"),
        pytest.param({"operation": "Chat"}, "invalid_operation", id="operation"),
        pytest.param({"operation": 5}, "invalid_operation", id="operation-type"),
        pytest.param({"provider": "nobody"}, "invalid_provider", id="provider"),
        pytest.param({"q": 5}, "invalid_request", id="q-type"),
    ],
)
def test_invalid_fields(fields: dict[str, Any], code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_search_fields(fields, PROVIDERS)
    assert (caught.value.status, caught.value.code) == (400, code)


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        pytest.param("2", 2, id="digits"),
        pytest.param(3, 3, id="int"),
        pytest.param("-1", 0, id="negative"),
        pytest.param("1.5", 0, id="decimal"),
        pytest.param("abc", 0, id="text"),
        pytest.param(None, 0, id="absent"),
    ],
)
def test_cursor_parsing(value: Any, cursor: int) -> None:
    assert parse_search_fields({"cursor": value}, PROVIDERS).cursor == cursor


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        pytest.param(None, 50, id="default"),
        pytest.param("7", 7, id="string"),
        pytest.param(0, 1, id="clamped-low"),
        pytest.param("-3", 1, id="negative-clamped"),
        pytest.param(500, 200, id="clamped-high"),
        pytest.param(10.0, 10, id="integral-float"),
        pytest.param(2.5, 50, id="non-integer"),
        pytest.param("ten", 50, id="garbage"),
        pytest.param(True, 50, id="boolean"),
    ],
)
def test_limit_parsing(value: Any, limit: int) -> None:
    assert parse_search_fields({"limit": value}, PROVIDERS).limit == limit


@pytest.mark.parametrize(
    ("cursor", "limit", "ids", "next_cursor"),
    [
        pytest.param(0, 2, ["chat-a", "chat-b"], "2", id="first-page"),
        pytest.param(2, 2, ["vid", "img"], None, id="last-page"),
        pytest.param(1, 2, ["chat-b", "vid"], "3", id="middle"),
        pytest.param(9, 2, [], None, id="past-the-end"),
    ],
)
def test_paging(cursor: int, limit: int, ids: list[str], next_cursor: str | None) -> None:
    page = search_rows(CATALOG.curated, SearchQuery(cursor=cursor, limit=limit))
    assert [row.model_id for row in page.rows] == ids
    assert (page.total, page.next_cursor) == (4, next_cursor)


def test_merge_fields_body_wins_and_aliases_fold() -> None:
    body = {"q": "a", "price_max_per_mtok": 1, "limit": None}
    query = {"q": "b", "priceMaxPerMTok": "9", "limit": "3", "cursor": "1"}
    assert merge_search_fields(body, query) == {"q": "a", "priceMaxPerMTok": 1, "limit": "3", "cursor": "1"}

"""Model, modality and family routes (spec/models.md §3.1-§3.7) through a small app."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

from gateway_core.catalog import Catalog, CatalogRow
from gateway_core.errors import GatewayError
from gateway_core.routes._json import json_response
from gateway_core.routes.models import router
from gateway_core.settings import GatewaySettings

REPO = Path(__file__).resolve().parents[2]


def _sandbox_catalog() -> Path:
    """The shipped catalog's sandbox rows alone: these tests pin exact listings, which must
    not change whenever provider rows are added to the shipped catalog."""
    rows = yaml.safe_load((REPO / "catalog.yaml").read_text(encoding="utf-8"))["models"]
    path = Path(tempfile.mkdtemp(prefix="sandbox-catalog-")) / "catalog.yaml"
    path.write_text(
        yaml.safe_dump({"models": [r for r in rows if r["provider"] == "sandbox"]}, sort_keys=False), encoding="utf-8"
    )
    return path


SHIPPED = _sandbox_catalog()

# The §3.1 example row; the shipped row also carries ``family: sandbox`` (models.md §1.7 table).
SANDBOX_ECHO = {
    "modelId": "sandbox-echo",
    "name": "Sandbox Echo",
    "provider": "sandbox",
    "type": "chat",
    "description": "Deterministic offline echo model.",
    "input": ["text", "image"],
    "output": ["text"],
    "contextWindow": 32768,
    "maxOutputTokens": 4096,
    "capabilities": {"tool_calling": True},
    "pricing": {
        "sections": [
            {
                "header": "Text tokens",
                "unit": "Per 1M tokens",
                "unitKey": "usd_per_1m_tokens",
                "entries": {"input": 0.25, "cached_input": 0.025, "output": 1.5},
                "default": True,
            }
        ]
    },
    "available": True,
    "operations": [
        {
            "modality": "text",
            "operation": "chat",
            "sourceTypes": ["chat"],
            "input": ["text", "image"],
            "output": ["text"],
            "pricingUnits": [
                {
                    "unitKey": "usd_per_1m_tokens",
                    "unit": "Per 1M tokens",
                    "header": "Text tokens",
                    "entries": {"input": 0.25, "cached_input": 0.025, "output": 1.5},
                    "valueKeys": ["input", "cached_input", "output"],
                    "default": True,
                }
            ],
            "streamable": True,
        }
    ],
}

EXTRA_CURATED = [
    {
        "modelId": "acme/big-model",
        "provider": "acme",
        "name": "Big Model",
        "family": "Acme",
        "type": "chat",
        "contextWindow": 200000,
        "pricing": {"unit": "usd_per_1m_tokens", "values": {"input": 3.0, "output": 15}},
    },
    {
        "modelId": "acme-cheap",
        "provider": "acme",
        "name": "Cheap",
        "family": "acme ",
        "type": "completions",
        "contextWindow": {"tokens": 16000},
        "pricing": {"sections": [{"unitKey": "usd_per_1m_tokens", "entries": {"input": 0.1}}]},
    },
]
EXTENDED = [
    {"modelId": "sandbox-echo", "provider": "sandbox", "name": "Shadowed"},
    {"modelId": "ext-draw", "provider": "acme", "type": "text-to-image", "family": "acme"},
]
CURATED_IDS = [
    "sandbox-echo",
    "sandbox-embed",
    "sandbox-image",
    "sandbox-tts",
    "sandbox-stt",
    "sandbox-video",
    "acme/big-model",
    "acme-cheap",
]


class FakeRuntime:
    """The slice of the application runtime the model routes use."""

    def __init__(
        self,
        catalog: Catalog,
        providers: Sequence[str] = ("sandbox", "acme"),
        unavailable: Sequence[str] = ("acme",),
        params: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = GatewaySettings()
        self._providers = list(providers)
        self._unavailable = set(unavailable)
        self._params = dict(params or {})
        self.param_calls: list[tuple[str, str]] = []

    def provider_names(self) -> list[str]:
        return list(self._providers)

    def is_available(self, provider: str) -> bool:
        return provider not in self._unavailable

    def param_catalog(self, row: CatalogRow, modality: str) -> dict[str, Any] | None:
        self.param_calls.append((row.model_id, modality))
        return self._params.get(row.model_id)


def _app(runtime: FakeRuntime) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = runtime

    @app.exception_handler(GatewayError)
    async def _render(request: Request, exc: GatewayError) -> Response:
        return json_response(exc.envelope(), exc.status)

    return app


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    folder = tmp_path_factory.mktemp("catalog")
    extra = folder / "extra.yaml"
    extra.write_text(yaml.safe_dump(EXTRA_CURATED), encoding="utf-8")
    extended = folder / "extended.json"
    extended.write_text(json.dumps(EXTENDED), encoding="utf-8")
    return Catalog.load([SHIPPED, extra], [extended])


@pytest.fixture
def runtime(catalog: Catalog) -> FakeRuntime:
    return FakeRuntime(catalog, params={"acme-cheap": {"temperature": {"type": "number", "default": 0.7}}})


@pytest.fixture
def client(runtime: FakeRuntime) -> TestClient:
    return TestClient(_app(runtime))


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def _ids(body: Mapping[str, Any]) -> list[str]:
    return [row["modelId"] for row in body["data"]]


# ---------------------------------------------------------------- GET /v1/models


def test_shipped_catalog_sandbox_echo_equals_spec_example() -> None:
    client = TestClient(_app(FakeRuntime(Catalog.load([SHIPPED]), providers=["sandbox"], unavailable=())))
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["object"] == "list"
    assert len(body["data"]) == 6
    assert body["data"][0] == {**SANDBOX_ECHO, "family": "sandbox"}


def test_list_curated_in_file_order_with_available(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert _ids(body) == CURATED_IDS
    assert {row["modelId"]: row["available"] for row in body["data"]}["acme-cheap"] is False
    assert all("operations" in row for row in body["data"])


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        pytest.param("provider=acme", ["acme/big-model", "acme-cheap"], id="provider"),
        pytest.param("modality=video", ["sandbox-video"], id="modality"),
        pytest.param("modality=text&provider=sandbox", ["sandbox-echo", "sandbox-stt"], id="both"),
        pytest.param("limit=2", CURATED_IDS[:2], id="limit"),
        pytest.param("limit=200", CURATED_IDS, id="limit-max"),
        pytest.param("provider=&modality=", CURATED_IDS, id="empty-values-absent"),
    ],
)
def test_list_filters(client: TestClient, query: str, ids: list[str]) -> None:
    assert _ids(client.get(f"/v1/models?{query}").json()) == ids


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        pytest.param("provider=nobody", "invalid_provider", "provider", id="provider"),
        pytest.param("modality=speech", "invalid_modality", "modality", id="modality"),
        pytest.param("limit=0", "invalid_request", "limit", id="limit-zero"),
        pytest.param("limit=201", "invalid_request", "limit", id="limit-high"),
        pytest.param("limit=1.5", "invalid_request", "limit", id="limit-decimal"),
        pytest.param("limit=ten", "invalid_request", "limit", id="limit-text"),
        pytest.param("limit=-1", "invalid_request", "limit", id="limit-negative"),
    ],
)
def test_list_validation_errors(client: TestClient, query: str, code: str, param: str) -> None:
    error = _error(client.get(f"/v1/models?{query}"), 400, code)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_error_messages(client: TestClient) -> None:
    assert _error(client.get("/v1/models?provider=x"), 400, "invalid_provider")["message"] == (
        "provider is not supported"
    )
    assert _error(client.get("/v1/models?modality=x"), 400, "invalid_modality")["message"] == (
        "modality must be text, image, audio, video, embedding, or realtime"
    )


# ---------------------------------------------------------------- /v1/models/all and /v1/models/{model}


def test_all_is_curated_then_unshadowed_extended(client: TestClient) -> None:
    body = client.get("/v1/models/all?provider=ignored").json()
    assert _ids(body) == [*CURATED_IDS, "ext-draw"]
    assert body["data"][0]["name"] == "Sandbox Echo"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/models/acme/big-model", id="raw-slash"),
        pytest.param("/v1/models/acme%2Fbig-model", id="encoded-slash"),
        pytest.param("/v1/models/acme%2fbig-model?provider=whatever", id="lowercase-encoding-provider-ignored"),
    ],
)
def test_get_model_with_slash(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert (body["modelId"], body["provider"], body["available"]) == ("acme/big-model", "acme", False)
    assert body["pricing"]["sections"][0]["unit"] == "Per 1M tokens"


def test_get_model_resolves_extended(client: TestClient) -> None:
    assert client.get("/v1/models/ext-draw").json()["operations"][0]["operation"] == "text-to-image"


def test_get_model_not_found(client: TestClient) -> None:
    error = _error(client.get("/v1/models/nope"), 404, "model_not_found")
    assert error["message"] == "Model 'nope' not found"
    _error(client.get("/v1/models/Sandbox-Echo"), 404, "model_not_found")
    _error(client.get("/v1/models/search"), 404, "model_not_found")


def test_empty_model_id(client: TestClient) -> None:
    error = _error(client.get("/v1/models/"), 400, "missing_model_id")
    assert error["message"] == "Model ID is required"


# ---------------------------------------------------------------- params


def test_image_params(client: TestClient) -> None:
    body = client.get("/v1/models/sandbox-image/params").json()
    assert (body["modelId"], body["type"], body["provider"]) == ("sandbox-image", "image", "sandbox")
    assert body["params"]["n"] == {
        "type": "integer",
        "required": False,
        "default": 1,
        "options": [1, 2, 3, 4, 6, 8],
        "description": "Number of images to generate.",
    }
    assert body["params"]["size"] == {
        "type": "string",
        "required": False,
        "options": ["512x512", "768x768", "1024x1024", "1024x1792", "1792x1024", "2048x2048"],
        "description": "Generated image size.",
    }
    assert list(body["params"]) == ["n", "size", "aspect_ratio", "resolution", "quality", "output_format"]
    assert body["defaults"] == {"n": 1, "aspect_ratio": "1:1", "output_format": "jpeg"}


def test_video_params(client: TestClient) -> None:
    body = client.get("/v1/models/sandbox-video/params").json()
    assert body["type"] == "video"
    assert body["params"]["duration"]["options"] == [4, 5, 6, 8, 10, 12]
    assert body["defaults"] == {"duration": 4, "aspect_ratio": "16:9", "output_format": "mp4"}


@pytest.mark.parametrize(
    ("model", "modality", "defaults"),
    [
        pytest.param("sandbox-tts", "audio", {"output_format": "mp3"}, id="tts"),
        pytest.param("sandbox-embed", "embedding", {}, id="embed"),
        pytest.param("sandbox-echo", "text", {}, id="echo"),
        pytest.param("sandbox-stt", "text", {}, id="stt"),
    ],
)
def test_other_sandbox_params(client: TestClient, model: str, modality: str, defaults: dict[str, Any]) -> None:
    body = client.get(f"/v1/models/{model}/params").json()
    assert (body["type"], body["defaults"]) == (modality, defaults)
    if modality == "text":
        assert body["params"] == {}


def test_params_of_slash_id_uses_plugin_override(client: TestClient, runtime: FakeRuntime) -> None:
    body = client.get("/v1/models/acme-cheap/params").json()
    assert body["params"] == {"temperature": {"type": "number", "default": 0.7}}
    assert runtime.param_calls == [("acme-cheap", "text")]
    body = client.get("/v1/models/acme%2Fbig-model/params").json()
    assert (body["modelId"], body["type"], body["params"]) == ("acme/big-model", "text", {})


def test_unknown_model_params_is_200_empty(client: TestClient) -> None:
    response = client.get("/v1/models/no/such/model/params")
    assert response.status_code == 200
    assert response.json() == {"modelId": "no/such/model", "type": None, "provider": None, "params": {}, "defaults": {}}


# ---------------------------------------------------------------- POST /v1/models/search


def _search(client: TestClient, body: Any = None, query: str = "", raw: bytes | None = None) -> Any:
    url = f"/v1/models/search?{query}" if query else "/v1/models/search"
    if raw is not None:
        return client.post(url, content=raw, headers={"content-type": "application/json"})
    return client.post(url, json=body) if body is not None else client.post(url)


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        pytest.param({"q": "BIG"}, ["acme/big-model"], id="q"),
        pytest.param({"q": "offline echo"}, ["sandbox-echo"], id="q-description"),
        pytest.param({"modality": "image"}, ["sandbox-image"], id="modality"),
        pytest.param({"operation": "completion"}, ["acme-cheap"], id="operation"),
        pytest.param({"operation": "image-to-video"}, ["sandbox-video"], id="operation-second-capability"),
        pytest.param({"provider": "acme"}, ["acme/big-model", "acme-cheap"], id="provider"),
        pytest.param({"priceMaxPerMTok": 0.25}, ["sandbox-echo", "sandbox-embed", "acme-cheap"], id="price"),
        pytest.param({"price_max_per_mtok": "0.05"}, ["sandbox-embed"], id="price-alias"),
        pytest.param({"contextWindowMin": 20000}, ["sandbox-echo", "acme/big-model"], id="context"),
        pytest.param({"context_window_min": "100000"}, ["acme/big-model"], id="context-alias"),
        pytest.param(
            {"streaming": True},
            ["sandbox-echo", "sandbox-image", "acme/big-model", "acme-cheap"],
            id="streaming",
        ),
        pytest.param({"streaming": "true", "modality": "video"}, [], id="streaming-with-modality"),
        pytest.param({"streaming": False}, CURATED_IDS, id="streaming-false"),
        pytest.param({}, CURATED_IDS, id="empty-object"),
        pytest.param({"q": None, "modality": None}, CURATED_IDS, id="nulls-absent"),
    ],
)
def test_search_filters(client: TestClient, body: dict[str, Any], ids: list[str]) -> None:
    response = _search(client, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert _ids(result) == ids
    assert (result["object"], result["total"], result["next_cursor"]) == ("list", len(ids), None)


def test_search_rows_have_full_shape(client: TestClient) -> None:
    row = _search(client, {"q": "sandbox-echo"}).json()["data"][0]
    assert row == {**SANDBOX_ECHO, "family": "sandbox"}


def test_search_empty_body_and_query_fallback(client: TestClient) -> None:
    assert _ids(_search(client, raw=b"").json()) == CURATED_IDS
    assert _ids(_search(client, raw=b"  \n").json()) == CURATED_IDS
    assert _ids(_search(client, query="provider=acme&limit=1").json()) == ["acme/big-model"]
    # Body wins field by field; fields missing from the body still come from the query string.
    body = _search(client, {"provider": "sandbox"}, query="provider=acme&modality=audio").json()
    assert _ids(body) == ["sandbox-tts"]


def test_search_cursor_paging(client: TestClient) -> None:
    first = _search(client, {"limit": 3}).json()
    assert (_ids(first), first["total"], first["next_cursor"]) == (CURATED_IDS[:3], 8, "3")
    second = _search(client, {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert (_ids(second), second["next_cursor"]) == (CURATED_IDS[3:6], "6")
    last = _search(client, {"limit": "3", "cursor": "6"}).json()
    assert (_ids(last), last["next_cursor"]) == (CURATED_IDS[6:], None)
    assert _ids(_search(client, {"cursor": "abc", "limit": 1}).json()) == CURATED_IDS[:1]
    assert _search(client, {"cursor": "99"}).json() == {"object": "list", "data": [], "total": 8, "next_cursor": None}


@pytest.mark.parametrize(
    ("limit", "count"),
    [
        pytest.param(0, 1, id="zero-clamped-to-1"),
        pytest.param(-5, 1, id="negative"),
        pytest.param(1000, 8, id="high-clamped"),
        pytest.param("x", 8, id="non-integer-default-50"),
        pytest.param(2.5, 8, id="decimal-default-50"),
    ],
)
def test_search_limit_clamping(client: TestClient, limit: Any, count: int) -> None:
    assert len(_search(client, {"limit": limit}).json()["data"]) == count


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"modality": "music"}, "invalid_modality", id="modality"),
        pytest.param({"operation": "Bad_Op"}, "invalid_operation", id="operation"),
        pytest.param({"provider": "nobody"}, "invalid_provider", id="provider"),
    ],
)
def test_search_validation_errors(client: TestClient, body: dict[str, Any], code: str) -> None:
    _error(_search(client, body), 400, code)


def test_search_operation_error_from_query(client: TestClient) -> None:
    error = _error(_search(client, query="operation=-x"), 400, "invalid_operation")
    assert error["message"] == "operation is not supported"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{nope", None, id="malformed"),
        pytest.param(b"[1, 2]", "Request body must be a JSON object", id="array"),
        pytest.param(b'"text"', "Request body must be a JSON object", id="string"),
    ],
)
def test_search_body_errors(client: TestClient, raw: bytes, message: str | None) -> None:
    error = _error(_search(client, raw=raw), 400, "invalid_request_body")
    if message is not None:
        assert error["message"] == message


# ---------------------------------------------------------------- modalities


def test_modalities_all_six_in_order(client: TestClient) -> None:
    body = client.get("/v1/modalities").json()
    assert body["object"] == "list"
    assert [entry["modality"] for entry in body["data"]] == ["text", "image", "audio", "video", "embedding", "realtime"]
    counts = {entry["modality"]: entry["modelCount"] for entry in body["data"]}
    assert counts == {"text": 4, "image": 2, "audio": 1, "video": 1, "embedding": 1, "realtime": 0}
    assert body["data"][5] == {"modality": "realtime", "operations": [], "modelCount": 0, "pricingUnits": []}


def test_embedding_modality_matches_spec_example(client: TestClient) -> None:
    unit = {"unitKey": "usd_per_1m_tokens", "unit": "Per 1M tokens", "entries": {}, "valueKeys": ["input"]}
    assert client.get("/v1/modalities/embedding").json() == {
        "modality": "embedding",
        "modelCount": 1,
        "operations": [
            {"operation": "text-to-embedding", "modelCount": 1, "sourceTypes": ["embeddings"], "pricingUnits": [unit]}
        ],
        "pricingUnits": [unit],
    }


def test_text_modality_merges_pricing_units(client: TestClient) -> None:
    entry = client.get("/v1/modalities/text").json()
    assert [(op["operation"], op["modelCount"]) for op in entry["operations"]] == [
        ("chat", 2),
        ("completion", 1),
        ("speech-to-text", 1),
    ]
    chat = entry["operations"][0]
    assert chat["sourceTypes"] == ["chat"]
    assert chat["pricingUnits"] == [
        {
            "unitKey": "usd_per_1m_tokens",
            "unit": "Per 1M tokens",
            "header": "Text tokens",
            "entries": {},
            "valueKeys": ["cached_input", "input", "output"],
            "default": True,
        },
        {"unitKey": "usd_per_1m_tokens", "unit": "Per 1M tokens", "entries": {}, "valueKeys": ["input", "output"]},
    ]
    # Modality level: every capability's units, merged, in row order (echo, stt, big, cheap).
    assert [(u["unitKey"], u["valueKeys"]) for u in entry["pricingUnits"]] == [
        ("usd_per_1m_tokens", ["cached_input", "input", "output"]),
        ("usd_per_minute", ["output"]),
        ("usd_per_1m_tokens", ["input", "output"]),
        ("usd_per_1m_tokens", ["input"]),
    ]


def test_image_operations_include_extended_rows(client: TestClient) -> None:
    body = client.get("/v1/modalities/image/operations").json()
    assert body["object"] == "list"
    assert [(op["operation"], op["modelCount"], op["sourceTypes"]) for op in body["data"]] == [
        ("image-to-image", 1, ["image-to-image", "text-to-image"]),
        ("text-to-image", 2, ["image-to-image", "text-to-image"]),
    ]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/modalities/speech", id="entry"),
        pytest.param("/v1/modalities/TEXT/operations", id="operations"),
        pytest.param("/v1/modalities/music/operations/chat/models", id="operation-models"),
    ],
)
def test_modality_routes_reject_unknown_modality(client: TestClient, path: str) -> None:
    _error(client.get(path), 400, "invalid_modality")


@pytest.mark.parametrize(
    ("path", "ids", "total", "next_cursor"),
    [
        pytest.param("text/operations/chat/models", ["sandbox-echo", "acme/big-model"], 2, None, id="chat"),
        pytest.param("text/operations/chat/models?limit=1", ["sandbox-echo"], 2, "1", id="paged"),
        pytest.param("text/operations/chat/models?limit=1&cursor=1", ["acme/big-model"], 2, None, id="cursor"),
        pytest.param("text/operations/chat/models?provider=acme", ["acme/big-model"], 1, None, id="provider"),
        pytest.param("text/operations/chat/models?q=echo", ["sandbox-echo"], 1, None, id="q"),
        pytest.param("text/operations/speech-to-text/models?streaming=true", [], 0, None, id="streaming-true"),
        pytest.param("text/operations/speech-to-text/models?streaming=false", ["sandbox-stt"], 1, None, id="false"),
        pytest.param("image/operations/text-to-image/models", ["sandbox-image"], 1, None, id="curated-only"),
        pytest.param("image/operations/chat/models", [], 0, None, id="wrong-modality"),
        pytest.param(
            "text/operations/chat/models?modality=video&priceMaxPerMTok=0.01",
            ["sandbox-echo", "acme/big-model"],
            2,
            None,
            id="other-query-fields-ignored",
        ),
    ],
)
def test_operation_models(client: TestClient, path: str, ids: list[str], total: int, next_cursor: str | None) -> None:
    body = client.get(f"/v1/modalities/{path}").json()
    assert (_ids(body), body["total"], body["next_cursor"]) == (ids, total, next_cursor)


def test_operation_models_errors(client: TestClient) -> None:
    _error(client.get("/v1/modalities/text/operations/Chat!/models"), 400, "invalid_operation")
    _error(client.get("/v1/modalities/text/operations/chat/models?provider=zzz"), 400, "invalid_provider")


# ---------------------------------------------------------------- families


def test_families(client: TestClient) -> None:
    assert client.get("/v1/families").json() == {
        "object": "list",
        "data": [{"family": "acme", "modelCount": 3}, {"family": "sandbox", "modelCount": 6}],
    }


@pytest.mark.parametrize(
    "path",
    [pytest.param("/v1/families/acme", id="exact"), pytest.param("/v1/families/%20ACME%20", id="trim-lower")],
)
def test_family(client: TestClient, path: str) -> None:
    assert client.get(path).json() == {"family": "acme", "modelCount": 3}


def test_family_errors(client: TestClient) -> None:
    assert _error(client.get("/v1/families/"), 400, "invalid_family")["message"] == "family is required"
    assert _error(client.get("/v1/families/%20"), 400, "invalid_family")["message"] == "family is required"
    error = _error(client.get("/v1/families/llama"), 404, "family_not_found")
    assert error["message"] == "Family 'llama' not found"

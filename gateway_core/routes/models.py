"""Model, modality and family routes (spec/models.md §3.1-§3.7; ``/health`` lives elsewhere).

All routes are public and never billable. Handlers are thin: they read the request, call the
catalog package and render JSON; every rule lives in :mod:`gateway_core.catalog`. Query
parameters are read by hand rather than declared, so that invalid values produce the spec's
error codes instead of FastAPI's 422. An empty query value (``?provider=``) counts as absent.

State comes from ``request.app.state.runtime`` (:class:`ModelsRuntime`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway_core.catalog import (
    Catalog,
    CatalogRow,
    SearchQuery,
    check_modality,
    check_operation,
    check_provider,
    family_counts,
    merge_search_fields,
    modality_entries,
    modality_entry,
    normalize_family,
    operation_entries,
    params_modality,
    params_response,
    parse_search_fields,
    search_rows,
    unknown_params_response,
)
from gateway_core.catalog.search import MAX_LIMIT, row_matches
from gateway_core.errors import GatewayError
from gateway_core.routes._body import read_json_body
from gateway_core.routes._json import json_response
from gateway_core.settings import GatewaySettings

__all__ = ["ModelsRuntime", "router"]

router = APIRouter()

_PARAMS_SUFFIX = "/params"
# Query fields the operation-models route honours (spec §3.6); the path gives the rest.
_OPERATION_MODEL_FIELDS = ("q", "provider", "streaming", "cursor", "limit")


class ModelsRuntime(Protocol):
    """What these routes need from the application runtime."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def settings(self) -> GatewaySettings: ...

    def provider_names(self) -> list[str]:
        """Registered provider names (``invalid_provider`` otherwise)."""
        ...

    def is_available(self, provider: str) -> bool:
        """Whether the provider is registered and configured (the row's ``available``)."""
        ...

    def param_catalog(self, row: CatalogRow, modality: str) -> Mapping[str, Any] | None:
        """A plugin's replacement for the §3.5 ladder of ``row``, or ``None``."""
        ...


def _runtime(request: Request) -> ModelsRuntime:
    return cast(ModelsRuntime, request.app.state.runtime)


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def _api_rows(runtime: ModelsRuntime, rows: Iterable[CatalogRow]) -> list[dict[str, Any]]:
    # One availability check per provider per request, not per row.
    available: dict[str, bool] = {}
    out = []
    for row in rows:
        if row.provider not in available:
            available[row.provider] = runtime.is_available(row.provider)
        out.append(row.to_api(available[row.provider]))
    return out


def _list_body(runtime: ModelsRuntime, rows: Iterable[CatalogRow]) -> dict[str, Any]:
    return {"object": "list", "data": _api_rows(runtime, rows)}


def _strict_limit(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise GatewayError(400, "invalid_request", f"limit must be an integer between 1 and {MAX_LIMIT}", param="limit")
    return int(text)


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """Curated rows in file order, filtered by ``provider`` and ``modality`` (spec §3.1)."""
    runtime = _runtime(request)
    query = SearchQuery(
        provider=check_provider(_query(request, "provider"), runtime.provider_names()),
        modality=check_modality(_query(request, "modality")),
    )
    limit = _strict_limit(_query(request, "limit"))
    rows = [row for row in runtime.catalog.curated if row_matches(row, query)]
    return json_response(_list_body(runtime, rows[:limit] if limit is not None else rows))


def _list_all(runtime: ModelsRuntime) -> Response:
    return json_response(_list_body(runtime, runtime.catalog.all_rows()))


@router.post("/v1/models/search")
async def search_models(request: Request) -> Response:
    """Search curated rows; fields from the JSON body, else the query string (spec §3.3)."""
    runtime = _runtime(request)
    body = await read_json_body(request, request.app.state.runtime.settings.body_limit)
    fields = merge_search_fields(body, dict(request.query_params))
    page = search_rows(runtime.catalog.curated, parse_search_fields(fields, runtime.provider_names()))
    return json_response(
        {"object": "list", "data": _api_rows(runtime, page.rows), "total": page.total, "next_cursor": page.next_cursor}
    )


@router.get("/v1/models/{model:path}")
async def get_model(request: Request) -> Response:
    """Path dispatch of spec §3.4: ``all`` → §3.2, ``…/params`` → §3.5, else one row.

    ``model`` is the percent-decoded rest of the path, so raw slashes and ``%2F`` both work.
    The ``provider`` query parameter is accepted and ignored.
    """
    model: str = request.path_params["model"]
    runtime = _runtime(request)
    if model == "all":
        return _list_all(runtime)
    if model.endswith(_PARAMS_SUFFIX):
        return _model_params(runtime, model[: -len(_PARAMS_SUFFIX)])
    if not model:
        raise _missing_model_id()
    row = runtime.catalog.resolve(model)
    if row is None:
        raise GatewayError(404, "model_not_found", f"Model '{model}' not found")
    return json_response(row.to_api(runtime.is_available(row.provider)))


def _missing_model_id() -> GatewayError:
    return GatewayError(400, "missing_model_id", "Model ID is required", param="model")


def _model_params(runtime: ModelsRuntime, model_id: str) -> Response:
    """Generation params of a model (spec §3.5); unknown ids answer 200 with an empty shape."""
    if not model_id:
        raise _missing_model_id()
    row = runtime.catalog.resolve(model_id)
    if row is None:
        return json_response(unknown_params_response(model_id))
    modality = params_modality(row)
    override = runtime.param_catalog(row, modality) if modality is not None else None
    return json_response(params_response(row, override))


def _path_modality(value: str) -> str:
    modality = check_modality(value)
    assert modality is not None  # a {modality} path segment is never empty
    return modality


@router.get("/v1/modalities")
async def list_modalities(request: Request) -> Response:
    """All six modality catalog entries, in canonical order (spec §3.6)."""
    rows = _runtime(request).catalog.all_rows()
    return json_response({"object": "list", "data": modality_entries(rows)})


@router.get("/v1/modalities/{modality}")
async def get_modality(request: Request) -> Response:
    """One ``ModalityCatalogEntry``."""
    modality: str = request.path_params["modality"]
    checked = _path_modality(modality)
    return json_response(modality_entry(_runtime(request).catalog.all_rows(), checked))


@router.get("/v1/modalities/{modality}/operations")
async def list_operations(request: Request) -> Response:
    """The ``OperationCatalogEntry`` list of one modality."""
    modality: str = request.path_params["modality"]
    checked = _path_modality(modality)
    return json_response({"object": "list", "data": operation_entries(_runtime(request).catalog.all_rows(), checked)})


@router.get("/v1/modalities/{modality}/operations/{operation}/models")
async def list_operation_models(request: Request) -> Response:
    """Search of curated rows having this modality and operation (spec §3.6)."""
    modality: str = request.path_params["modality"]
    operation: str = request.path_params["operation"]
    runtime = _runtime(request)
    fields: dict[str, Any] = {name: request.query_params.get(name) for name in _OPERATION_MODEL_FIELDS}
    fields["modality"] = _path_modality(modality)
    fields["operation"] = check_operation(operation)
    page = search_rows(runtime.catalog.curated, parse_search_fields(fields, runtime.provider_names()))
    return json_response(
        {"object": "list", "data": _api_rows(runtime, page.rows), "total": page.total, "next_cursor": page.next_cursor}
    )


@router.get("/v1/families")
async def list_families(request: Request) -> Response:
    """Families with their model counts, sorted by family (spec §3.7)."""
    return json_response({"object": "list", "data": family_counts(_runtime(request).catalog.all_rows())})


@router.get("/v1/families/{family:path}")
async def get_family(request: Request) -> Response:
    """One family's model count; the path convertor lets ``/v1/families/`` reach the 400."""
    family: str = request.path_params["family"]
    wanted = normalize_family(family)
    if not wanted:
        raise GatewayError(400, "invalid_family", "family is required", param="family")
    for entry in family_counts(_runtime(request).catalog.all_rows()):
        if entry["family"] == wanted:
            return json_response(entry)
    raise GatewayError(404, "family_not_found", f"Family '{wanted}' not found")

"""The loaded catalog: files + plugin listings -> :class:`Catalog` (spec/models.md §1).

Loading runs in fixed steps, each owned by one module:

1. read every file (:mod:`.rows`), curated and extended separately;
2. merge the rows plugins list (the ``gateway_list_models`` hook) with the file rows;
3. validate and normalize each row (:mod:`.rows`, :mod:`.pricing`, :mod:`.operations`);
4. assign public ids across all rows (:mod:`.aliases`) and reject remaining collisions.

**Plugin merge rule** (gateway choice). A plugin row is keyed by ``(provider, modelId)``, its
``provider`` being forced to the plugin's name. When a file row (curated or extended) has the
same key, the two are merged shallowly with the file's fields winning: the operator's catalog
can correct or extend what a plugin reports (for example add ``pricing``) without restating the
rest. Plugin rows no file row names are appended to the curated rows, after all file rows, in
plugin then listing order. Merging uses the ids as written, before aliasing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_core.catalog.aliases import alias_ids, find_collisions, provider_order
from gateway_core.catalog.errors import CatalogError
from gateway_core.catalog.rows import CatalogRow, normalize_row, read_rows

__all__ = ["Catalog", "validate_files"]


class Catalog:
    """The curated and extended rows, with the lookups the routes need.

    Instances are immutable in practice: a reload builds a new :class:`Catalog` and swaps it in,
    so a request never sees a half-loaded catalog.
    """

    def __init__(
        self,
        curated: Sequence[CatalogRow] = (),
        extended: Sequence[CatalogRow] = (),
        *,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.curated: list[CatalogRow] = list(curated)
        self.extended: list[CatalogRow] = list(extended)
        self._curated_by_id: dict[str, CatalogRow] = {}
        for row in self.curated:
            self._curated_by_id.setdefault(row.model_id, row)
        self._extended_by_id: dict[str, CatalogRow] = {}
        for row in self.extended:
            self._extended_by_id.setdefault(row.model_id, row)
        self._all = self.curated + [row for row in self.extended if row.model_id not in self._curated_by_id]
        self._providers = list(providers) if providers is not None else provider_order(r.provider for r in self._all)

    @classmethod
    def load(
        cls,
        curated_files: Sequence[Path],
        extended_files: Sequence[Path] = (),
        *,
        plugin_rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        provider_priority: Sequence[str] = (),
    ) -> Catalog:
        """Load catalog files and plugin listings.

        :param curated_files: ``GATEWAY_CATALOG`` files, in order.
        :param extended_files: ``GATEWAY_CATALOG_EXTENDED`` files, in order.
        :param plugin_rows: provider name -> the rows its plugin lists (merge rule: module doc).
        :param provider_priority: ``GATEWAY_PROVIDER_PRIORITY``, highest first (aliasing).
        :raises CatalogError: at the first invalid file or row.
        """
        curated = [_file_entries(Path(p), None) for p in curated_files]
        extended = [_file_entries(Path(p), None) for p in extended_files]
        return _build(curated, extended, plugin_rows or {}, provider_priority, None)

    @classmethod
    def from_rows(
        cls,
        curated: Sequence[Any],
        extended: Sequence[Any] = (),
        *,
        plugin_rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        provider_priority: Sequence[str] = (),
        source: str = "<rows>",
    ) -> Catalog:
        """Like :meth:`load` for raw rows already in memory (errors name ``source``)."""
        curated_entries = [_Entry(source, i, raw) for i, raw in enumerate(curated)]
        extended_entries = [_Entry(f"{source} (extended)", i, raw) for i, raw in enumerate(extended)]
        return _build([curated_entries], [extended_entries], plugin_rows or {}, provider_priority, None)

    def resolve(self, model_id: str) -> CatalogRow | None:
        """The row of a public id: exact match, curated rows first, then extended rows."""
        return self._curated_by_id.get(model_id) or self._extended_by_id.get(model_id)

    def all_rows(self) -> list[CatalogRow]:
        """Curated rows followed by extended rows whose ``modelId`` is not curated."""
        return list(self._all)

    def providers(self) -> list[str]:
        """Distinct providers of the rows: priority providers first, then first appearance."""
        return list(self._providers)

    def __len__(self) -> int:
        return len(self._all)

    def __repr__(self) -> str:
        return f"Catalog(curated={len(self.curated)}, extended={len(self.extended)})"


def validate_files(
    paths: Sequence[Path | str],
    extended: Sequence[Path | str] = (),
    *,
    provider_priority: Sequence[str] = (),
) -> list[str]:
    """Validate catalog files for ``gateway catalog validate``; every problem found, as text.

    An empty list means the files load. Files are checked together, so alias collisions
    across files are reported too.
    """
    errors: list[CatalogError] = []
    curated = [_file_entries(Path(p), errors) for p in paths]
    extended_entries = [_file_entries(Path(p), errors) for p in extended]
    _build(curated, extended_entries, {}, provider_priority, errors)
    return [str(error) for error in errors]


@dataclass(slots=True)
class _Entry:
    """A row on its way through loading, with where it came from for error messages."""

    source: str
    index: int
    raw: Any
    data: dict[str, Any] | None = None


def _file_entries(path: Path, errors: list[CatalogError] | None) -> list[_Entry]:
    try:
        rows = read_rows(path)
    except CatalogError as exc:
        if errors is None:
            raise
        errors.append(exc)
        return []
    return [_Entry(str(path), i, raw) for i, raw in enumerate(rows)]


def _merge_plugin_rows(files: list[_Entry], plugin_rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[_Entry]:
    """Merge plugin rows onto ``files`` in place; return the plugin rows no file names."""
    by_key: dict[tuple[str, str], _Entry] = {}
    listed: list[_Entry] = []
    for name, rows in plugin_rows.items():
        for i, raw in enumerate(rows):
            row = {**raw, "provider": name} if isinstance(raw, Mapping) else raw
            entry = _Entry(f"plugin {name!r}", i, row)
            listed.append(entry)
            if isinstance(row, Mapping) and isinstance(row.get("modelId"), str):
                by_key.setdefault((name, row["modelId"]), entry)
    used: set[int] = set()
    for entry in files:
        if not isinstance(entry.raw, Mapping):
            continue
        provider, model_id = entry.raw.get("provider"), entry.raw.get("modelId")
        if not isinstance(provider, str) or not isinstance(model_id, str):
            continue
        match = by_key.get((provider, model_id))
        if match is not None:
            entry.raw = {**match.raw, **entry.raw}
            used.add(id(match))
    return [entry for entry in listed if id(entry) not in used]


def _build(
    curated_files: list[list[_Entry]],
    extended_files: list[list[_Entry]],
    plugin_rows: Mapping[str, Sequence[Mapping[str, Any]]],
    priority: Sequence[str],
    errors: list[CatalogError] | None,
) -> Catalog:
    curated = [entry for entries in curated_files for entry in entries]
    extended = [entry for entries in extended_files for entry in entries]
    curated += _merge_plugin_rows(curated + extended, plugin_rows)

    def fail(error: CatalogError) -> None:
        if errors is None:
            raise error
        errors.append(error)

    for entry in curated + extended:
        try:
            entry.data = normalize_row(entry.raw, source=entry.source, index=entry.index)
        except CatalogError as exc:
            fail(exc)
    curated = [entry for entry in curated if entry.data is not None]
    extended = [entry for entry in extended if entry.data is not None]

    everything = curated + extended
    order = provider_order((_data(e)["provider"] for e in everything), priority)
    public_ids = alias_ids([(_data(e)["modelId"], _data(e)["provider"]) for e in everything], order)
    for entry, public_id in zip(everything, public_ids, strict=True):
        data = _data(entry)
        if public_id != data["modelId"]:
            data.setdefault("upstreamModelId", data["modelId"])
            data["modelId"] = public_id

    # Curated and extended catalogs may overlap by design (curated rows shadow extended ones),
    # so collisions are only errors inside one of the two lists.
    rows: list[list[CatalogRow]] = []
    for entries in (curated, extended):
        dropped: set[int] = set()
        for first, duplicate in find_collisions([_data(e)["modelId"] for e in entries]):
            dropped.add(duplicate)
            fail(_collision(entries[first], entries[duplicate]))
        rows.append([_to_row(_data(e)) for i, e in enumerate(entries) if i not in dropped])
    return Catalog(rows[0], rows[1], providers=order)


def _data(entry: _Entry) -> dict[str, Any]:
    assert entry.data is not None  # only normalized entries reach aliasing
    return entry.data


def _collision(first: _Entry, duplicate: _Entry) -> CatalogError:
    data, other = _data(duplicate), _data(first)
    return CatalogError(
        duplicate.source,
        f"public id {data['modelId']!r} (provider {data['provider']!r}) collides with row {first.index} "
        f"of {first.source} (provider {other['provider']!r})",
        index=duplicate.index,
        model_id=data["modelId"],
        field="modelId",
    )


def _to_row(data: dict[str, Any]) -> CatalogRow:
    return CatalogRow(
        model_id=data["modelId"],
        provider=data["provider"],
        upstream_model_id=data.get("upstreamModelId", data["modelId"]),
        data=data,
    )

"""Errors raised while loading a catalog.

Hierarchy::

    Exception
    ├── CatalogError     a file or row failed validation (spec/models.md §1.6); names where
    └── FieldError       internal: one field of one row is wrong; the loader adds the file and
                         row and re-raises it as a CatalogError

Normalizers of single fields (pricing, operations) know only the field path, so they raise
:class:`FieldError`; only the loader knows the file and row index.
"""

from __future__ import annotations

__all__ = ["CatalogError", "FieldError"]


class FieldError(ValueError):
    """One field of a row is invalid.

    :param field: dotted path inside the row, e.g. ``pricing.sections[0].unitKey``.
    :param reason: what is wrong, without the field name.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def nested(self, prefix: str) -> FieldError:
        """The same error with ``prefix`` prepended to the field path."""
        sep = "" if self.field.startswith("[") else "."
        return FieldError(f"{prefix}{sep}{self.field}", self.reason)


class CatalogError(Exception):
    """A catalog file or row is invalid.

    The message names the file, the row (index and ``modelId`` when known) and the field, so an
    operator can fix the file without reading code, e.g.
    ``catalog.yaml: row 2 (modelId 'x'): pricing.sections[0].unitKey: 'usd_per_foo' is not canonical``.

    :param source: the file path or ``plugin '<name>'`` the row came from.
    :param reason: what is wrong.
    :param index: 0-based position of the row in its source, ``None`` for file-level errors.
    :param model_id: the row's ``modelId`` when it could be read.
    :param field: dotted path of the offending field, when one field is at fault.
    """

    def __init__(
        self,
        source: str,
        reason: str,
        *,
        index: int | None = None,
        model_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.reason = reason
        self.index = index
        self.model_id = model_id
        self.field = field
        parts = [source]
        if index is not None:
            parts.append(f"row {index}" + (f" (modelId {model_id!r})" if model_id is not None else ""))
        if field is not None:
            parts.append(field)
        super().__init__(": ".join([*parts, reason]))

"""Statements compiled once: SQLAlchemy Core objects built at import, turned into the driver's
own SQL the first time a dialect runs them, and the :class:`Tx` interface operations use.

:class:`Prepared` keeps, per dialect, the SQL with positional placeholders (``?`` for SQLite,
``$1`` for asyncpg), the order its named parameters go in, and the names of the result columns;
running it is then building a tuple and a dict, with none of SQLAlchemy's per-execution work.
The SQL is what SQLAlchemy itself would send, so SQLite's statement cache and asyncpg's
prepared statements (one per connection and SQL text) are reused call after call.

Only ``Integer``/``String`` columns and :class:`~sqlalchemy.types.TypeDecorator` types (whose
``process_*`` methods are applied) may be bound or returned: both drivers return those as they
are, so no result machinery is needed. Parameters rendered into the SQL at each execution (an
``IN`` list) cannot be compiled once. :class:`Prepared` refuses both when it compiles.

An operation (:data:`Operation`) is ``async def op(tx: Tx, ...)`` awaiting nothing but ``tx``'s
methods; :mod:`gateway_core.store.direct` runs it on either database.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Integer, String, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["Compiled", "Operation", "Prepared", "Row", "Tx", "dialect_insert"]

T = TypeVar("T")
Row = dict[str, Any]
Statement = Select[Any] | UpdateBase
Convert = Callable[[Any], Any]


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``params`` → the values of ``names`` as a tuple, picked in C where there are several."""
    if len(names) >= 2:
        return itemgetter(*names)
    if len(names) == 1:
        name = names[0]
        return lambda params: (params[name],)
    return lambda _params: ()


def _converting(converters: Sequence[Convert | None]) -> tuple[tuple[int, Convert], ...]:
    return tuple((index, convert) for index, convert in enumerate(converters) if convert is not None)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement as one driver runs it.

    Every statement runs through :meth:`args` and :meth:`row`, a dozen times per paid call:
    both pick values in C (``itemgetter``, ``zip``) and convert only the positions that have a
    converter.
    """

    sql: str
    positions: tuple[tuple[str, Convert | None], ...]  # parameter name and converter, in order
    defaults: Mapping[str, Any]  # values fixed in the statement (literals), by parameter name
    keys: tuple[str, ...]  # result column names
    converters: tuple[Convert | None, ...] | None  # per result column; None when none converts
    _pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    _bind: tuple[tuple[int, Convert], ...] = field(init=False, repr=False, compare=False)
    _result: tuple[tuple[str, Convert], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # object.__setattr__: derived once at construction of a frozen instance.
        object.__setattr__(self, "_pick", _getter([name for name, _convert in self.positions]))
        object.__setattr__(self, "_bind", _converting([convert for _name, convert in self.positions]))
        result = _converting(self.converters or ())
        object.__setattr__(self, "_result", tuple((self.keys[index], convert) for index, convert in result))

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...] | list[Any]:
        """The driver's positional arguments (a tuple or list: both drivers take either)."""
        if self.defaults:  # literals of the statement, unless the caller passed the name
            params = {**self.defaults, **params}
        values = self._pick(params)
        if not self._bind:
            return values
        converted = list(values)
        for index, convert in self._bind:
            value = converted[index]
            if value is not None:
                converted[index] = convert(value)
        return converted

    def row(self, values: Sequence[Any]) -> Row:
        row = dict(zip(self.keys, values, strict=True))
        for key, convert in self._result:
            value = row[key]
            if value is not None:
                row[key] = convert(value)
        return row


def _bind_converter(kind: TypeEngine[Any], dialect: Dialect, name: str) -> Convert | None:
    if isinstance(kind, TypeDecorator):
        process = kind.process_bind_param
        # A closure with positional arguments: a partial with a keyword costs twice as much.
        return lambda value: process(value, dialect)
    if isinstance(kind, Integer | String):
        return None
    raise TypeError(f"parameter {name!r}: type {kind!r} is not supported by Prepared")


def _result_converter(kind: TypeEngine[Any], dialect: Dialect, name: str) -> Convert | None:
    if isinstance(kind, TypeDecorator):
        process = kind.process_result_value
        return lambda value: process(value, dialect)
    if isinstance(kind, Integer | String):
        return None
    raise TypeError(f"result column {name!r}: type {kind!r} is not supported by Prepared")


def _result_columns(statement: Statement) -> list[ColumnElement[Any]]:
    if isinstance(statement, Select):
        return list(statement.selected_columns)
    return list(statement.exported_columns)  # the RETURNING columns, if any


def dialect_insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``.

    Build statements with it lazily (``Prepared(lambda dialect: …)``): the PostgreSQL dialect
    is only imported when a PostgreSQL store compiles them."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # here: see the docstring

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


class Prepared:
    """A Core statement, compiled once per dialect on first use (parameters by name).

    :param statement: the statement, or a function building it for a dialect name (for
        dialect-specific constructs such as ``INSERT … ON CONFLICT``; see :func:`dialect_insert`).
    """

    __slots__ = ("_build", "_compiled")

    def __init__(self, statement: Statement | Callable[[str], Statement]) -> None:
        self._build = statement if callable(statement) else lambda _dialect: statement
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> Compiled:
        statement = self._build(dialect.name)
        compiled = statement.compile(dialect=dialect)
        positions = compiled.positiontup
        if positions is None:
            raise TypeError(f"dialect {dialect.name} does not use positional parameters")
        binds = compiled.binds
        if any(binds[name].expanding or binds[name].literal_execute for name in positions):
            # Rendered into the SQL at each execution (IN lists): nothing to compile once.
            raise TypeError("expanding or literal-execute parameters are not supported by Prepared")
        defaults = {name: value for name, value in compiled.params.items() if not binds[name].required}
        columns = _result_columns(statement)
        keys = tuple(str(column.key) for column in columns)
        if len(set(keys)) != len(keys):
            raise TypeError(f"result columns must have distinct names, got {keys}")
        converters = tuple(_result_converter(column.type, dialect, str(column.key)) for column in columns)
        return Compiled(
            sql=str(compiled),
            positions=tuple((name, _bind_converter(binds[name].type, dialect, name)) for name in positions),
            defaults=defaults,
            keys=keys,
            converters=None if all(c is None for c in converters) else converters,
        )


class Tx(Protocol):
    """The statements of one operation, inside its transaction."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""

    async def one(self, statement: Prepared, /, **params: Any) -> Row | None:
        """The first result row (the others are read and dropped), or None."""

    async def all(self, statement: Prepared, /, **params: Any) -> list[Row]:
        """Every result row."""

    async def run(self, statement: Prepared, /, **params: Any) -> int:
        """Run a statement without results; the number of rows it changed."""


Operation = Callable[[Tx], Coroutine[Any, Any, T]]

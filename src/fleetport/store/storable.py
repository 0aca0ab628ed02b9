"""Column types that refuse, at bind time, what the two databases would not hold alike.

PostgreSQL refuses the NUL character in text where SQLite stores it; a lone surrogate is not
Unicode and neither database holds it; PostgreSQL integers stop at 64 bits (32 for ``Integer``)
where SQLite's driver fails with an overflow. Every column of the schema is given one of these
types (``guard``), so that every statement, from every API, refuses such a value the same way on
both databases: with ``fleetport.core.errors.Invalid`` naming the column, which the store's
transactions hand on unwrapped (store.engine) and each API answers in its own error shape. A
lookup with such a value (a login by an email holding NUL) is refused the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from fleetport.core.validate import INT64_MAX, INT64_MIN, storable_integer, storable_json, storable_text

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class _Storable(TypeDecorator[Any]):
    """A column type as it was (``wraps``), checking each value it binds on behalf of ``field``."""

    impl: Any = String
    cache_ok = True

    def __init__(self, wraps: TypeEngine[Any], field: str) -> None:
        super().__init__()
        self.impl = wraps
        self.wraps = wraps
        self.field = field
        # a JSON column stores None as JSON null, as before
        self.should_evaluate_none = wraps.should_evaluate_none


class StorableText(_Storable):
    cache_ok = True  # (SQLAlchemy reads it from each class itself)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str):
            storable_text(value, self.field)
        return value


class StorableJSON(_Storable):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return storable_json(value, self.field)


class StorableInteger(_Storable):
    impl = BigInteger
    cache_ok = True

    def __init__(self, wraps: TypeEngine[Any], field: str, low: int, high: int) -> None:
        super().__init__(wraps, field)
        self.low = low
        self.high = high

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            storable_integer(value, self.field, self.low, self.high)
        return value


def guard(metadata: MetaData) -> None:
    """Gives every text, JSON and integer column of ``metadata`` its checking type (integer keys
    the database numbers itself excepted: no caller chooses them)."""
    for table in metadata.tables.values():
        for column in table.columns:
            kind = column.type
            if isinstance(kind, TypeDecorator):
                continue
            if isinstance(kind, JSON):
                column.type = StorableJSON(kind, column.name)
            elif isinstance(kind, String):
                column.type = StorableText(kind, column.name)
            elif isinstance(kind, Integer) and column.autoincrement is not True:
                wide = isinstance(kind, BigInteger)
                low, high = (INT64_MIN, INT64_MAX) if wide else (INT32_MIN, INT32_MAX)
                column.type = StorableInteger(kind, column.name, low, high)

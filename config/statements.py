"""Statements compiled once per shape: the SQL of a read built and compiled by Django once, then
run with each read's own values.

Building a queryset (filters, lookups, a dozen filtered aggregates) and compiling it costs a few
milliseconds of Python, often more than PostgreSQL takes to answer it: a window's raw edge, the
API key of a request. The reads of one shape differ only in a few values (a tenant, a window's
bounds, a filter's value, a key's hash), so each shape is built and compiled once, with
stand-ins for those values, and later reads put their own values where the stand-ins landed in
the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import QuerySet

# SQL and its parameters.
Statement = tuple[str, list[Any]]

_MAX_STATEMENTS = 1024
# (database alias, key) -> (sql, parameters, for each parameter the index of the value it takes
# or None for a constant of the shape).
_statements: dict[tuple[str, Hashable], tuple[str, tuple[Any, ...], tuple[int | None, ...]]] = {}

# Stand-ins: values no read ever asks with (ids are positive, instants and days of the year
# 1001 precede any call, text holds a unit separator), one per position.
_INT_STAND_IN = -(2**62)
_INSTANT_STAND_IN = datetime(1001, 1, 1, tzinfo=UTC)
_DAY_STAND_IN = date(1001, 1, 1)


def _stand_in(value: Any, n: int) -> Any:
    if isinstance(value, bool):
        raise TypeError("a flag changes a statement's shape: make it part of the key")
    if isinstance(value, int):
        return _INT_STAND_IN + n
    if isinstance(value, datetime):
        return _INSTANT_STAND_IN + timedelta(seconds=n)
    if isinstance(value, date):
        return _DAY_STAND_IN + timedelta(days=n)
    if isinstance(value, str):
        return f"\x1fstand-in {n}\x1f"
    raise TypeError(f"no stand-in for a {type(value).__name__}")


def _derived(param: Any) -> bool:
    """Whether a parameter may have been computed from a stand-in (then the shape's parameters
    are not all either a value or a constant)."""
    if isinstance(param, datetime | date):
        return param.year <= _DAY_STAND_IN.year + 1
    if isinstance(param, int) and not isinstance(param, bool):
        return param < _INT_STAND_IN // 2
    return isinstance(param, str) and "\x1f" in param


def compiled(
    key: Hashable, build: Callable[[Sequence[Any]], Statement], values: Sequence[Any]
) -> Statement:
    """``build(values)``: the SQL and parameters of a read whose shape ``key`` names and whose
    only varying parts are ``values`` (integers, instants, days, text), built once per key.

    ``build`` must give the same SQL for any values of the same types, and pass each value
    through as a parameter unchanged (a filter's operand). On PostgreSQL the first read of a
    key builds it with stand-ins and remembers where they land; a shape whose stand-ins do not
    all come out as given is not remembered (built each time, never wrong). Elsewhere every read
    builds its statement (SQLite parameters are converted text).
    """
    if connection.vendor != "postgresql":
        return build(values)
    cache_key = (connection.alias, key)
    entry = _statements.get(cache_key)
    if entry is None:
        stand_ins = [_stand_in(value, n) for n, value in enumerate(values)]
        where = {(type(value), value): n for n, value in enumerate(stand_ins)}
        sql, params = build(stand_ins)
        slots = tuple(
            where.get((type(param), param)) if isinstance(param, int | date | str) else None
            for param in params
        )
        constants = [param for param, slot in zip(params, slots, strict=True) if slot is None]
        if {slot for slot in slots if slot is not None} != set(range(len(values))) or any(
            map(_derived, constants)
        ):
            return build(values)
        if len(_statements) >= _MAX_STATEMENTS:
            _statements.clear()
        entry = _statements[cache_key] = (sql, tuple(params), slots)
    sql, template, slots = entry
    bound = zip(template, slots, strict=True)
    return sql, [param if slot is None else values[slot] for param, slot in bound]


def queryset_statement(queryset: QuerySet[Any]) -> Statement:
    """The SQL and parameters of ``queryset``."""
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def aggregate_statement(queryset: QuerySet[Any], aggregates: dict[str, Any]) -> Statement:
    """The SQL and parameters of ``queryset.aggregate(**aggregates)``: one row, the aggregates
    in order (a filtered, unsliced, ungrouped queryset)."""
    query = queryset.query.chain()
    for alias, aggregate in aggregates.items():
        query.add_annotation(aggregate, alias, select=True)
    query.default_cols = False
    query.clear_ordering(force=True)
    sql, params = query.get_compiler(queryset.db).as_sql()
    return sql, list(params)


def day_of(value: Any) -> date:
    """A day as the driver returns it: a date on PostgreSQL, text on SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def instant_of(value: Any) -> datetime:
    """An instant as the driver returns it, in UTC: aware on PostgreSQL, UTC text on SQLite."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run(statement: Statement) -> list[tuple[Any, ...]]:
    """The rows of ``statement``, as tuples."""
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def run_rows(statement: Statement) -> list[dict[str, Any]]:
    """The rows of ``statement``, as dicts by column name (Django selects a ``values()``
    queryset's model fields before its annotations, whatever order they were named in)."""
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def values_rows(
    key: Hashable, build: Callable[[Sequence[Any]], QuerySet[Any]], values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """The rows of the ``values_list()`` queryset ``build(values)``, compiled once per ``key``
    on PostgreSQL (see ``compiled``; for columns PostgreSQL returns as Python values, which have
    no converter there); elsewhere through the ORM, which converts SQLite's text."""
    if connection.vendor != "postgresql":
        return list(build(values))
    return run(compiled(key, lambda v: queryset_statement(build(v)), values))

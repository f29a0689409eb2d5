"""Database helpers of the fact reads and the rollup writes: reading rows without Django's
per-value converters, the session settings of an answer and of a roll (PostgreSQL), and
``INSERT … SELECT`` of grouped rows that never pass through Python. Reads of a fixed shape are
compiled once (``config.statements``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, QuerySet

from config.statements import Statement, day_of

# --- Reading ----------------------------------------------------------------------------------


def fetch_rows(queryset: QuerySet[Any]) -> list[dict[str, Any]]:
    """The rows of a ``values()`` queryset of rollup columns and sums.

    On PostgreSQL they are read straight from the cursor: its dates, integers and floats arrive
    as Python values already (sums of ``bigint`` and ``numeric`` columns as ``Decimal``, which
    readers convert), and Django's per-value converters would cost more than the query on a year
    of rows. Elsewhere (SQLite returns dates as text) through the ORM.
    """
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch_tuples(queryset: QuerySet[Any], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of a ``values()`` queryset as tuples of ``names`` (its columns, in select order).

    For readers of many rows: a tuple is built by the driver, where a dict per row costs more
    than the query on a year of a fine grouping. On PostgreSQL straight from the cursor (see
    ``fetch_rows``), elsewhere through the ORM.
    """
    if connection.vendor != "postgresql":
        return [tuple(row[name] for name in names) for row in queryset]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if [column.name for column in cursor.description] != list(names):
            raise AssertionError(f"columns {cursor.description} are not {names}")
        return cursor.fetchall()


def sum_statement(
    parts: Sequence[QuerySet[Any]],
    keys: Sequence[str],
    sums: Sequence[str],
    *,
    floats: Collection[str] = (),
) -> Statement:
    """``SELECT keys, SUM(…) … GROUP BY keys`` over the rows of all of ``parts`` (at least one):
    ``values()`` querysets (not aggregated) of the columns ``keys`` and ``sums``, typically the
    rows of a day rollup table and of its hour table, folded together by the database in one
    query. Sums other than ``floats`` are cast back to integers (PostgreSQL sums ``bigint`` as
    ``numeric``)."""
    quote = connection.ops.quote_name
    columns = ", ".join(map(quote, (*keys, *sums)))
    union: list[str] = []
    params: list[Any] = []
    for i, part in enumerate(parts):
        # Selected by name: each part's columns may come in another order.
        sql, part_params = part.order_by().query.sql_with_params()
        union.append(f"SELECT {columns} FROM ({sql}) part{i}")
        params.extend(part_params)
    sum_columns = [
        f"SUM({quote(s)})" if s in floats else f"CAST(SUM({quote(s)}) AS BIGINT)" for s in sums
    ]
    group = f" GROUP BY {', '.join(map(quote, keys))}" if keys else ""
    statement = (
        f"SELECT {', '.join([*map(quote, keys), *sum_columns])} "
        f"FROM ({' UNION ALL '.join(union)}) parts{group}"
    )
    return statement, params


def summed(rows: list[tuple[Any, ...]], keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of a ``sum_statement`` keyed by ``keys``: tuples of the key values, then the sums
    in order; without ``keys`` one total, or none when there was no row. A ``day`` key arrives as
    a date on SQLite too (which returns dates as text)."""
    if not keys:
        return [] if rows[0][0] is None else rows
    if "day" in keys:
        at = list(keys).index("day")
        rows = [(*row[:at], day_of(row[at]), *row[at + 1 :]) for row in rows]
    return rows


# --- Session settings -------------------------------------------------------------------------


@contextmanager
def reading_session() -> Iterator[None]:
    """Runs the reads of one answer with JIT compilation off (PostgreSQL).

    The queries that read raw rows at a window's partial edge days are estimated at many times
    the rows they read (statistics lag the newest data), which crosses ``jit_above_cost``, and
    compiling then takes 30-150 ms for a query that runs in 10-20 ms. The block runs in one
    transaction, where ``SET LOCAL`` ends with it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def rolling_session() -> None:
    """Gives the roll's transaction room to aggregate in memory (PostgreSQL).

    A day's calls or latency samples are grouped in one pass: with the default ``work_mem``
    PostgreSQL sorts them on disk instead of hashing them, several times slower. JIT compilation
    costs more than it saves on these short scans. Every query of a roll reads all the rows of
    a time range and groups them, which a bitmap scan and a hash do best; when the planner
    underestimates a busy day of a small tenant it picks a plain index scan (a page per row) and
    sorts to group, several times slower. Nothing a roll reads needs an order.

    The roll's commit does not wait for its WAL to reach disk (``synchronous_commit = off``): a
    crash can lose only whole recent rolls, never part of one, and a lost roll leaves its periods
    marked dirty as before it ran (the mark is cleared in the same transaction), so the next
    roll redoes it. The wait was a tenth of rolling one busy hour.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.ROLLUP_WORK_MEM])
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_sort = off")


# --- Writing ----------------------------------------------------------------------------------


def insert_from(
    model: type[Model], rows: QuerySet[Any], columns: dict[str, str | None], **constants: Any
) -> None:
    """``INSERT INTO model SELECT …`` from a ``values()`` queryset, in the database.

    ``columns`` maps each target column to the output column of ``rows`` that fills it (``None``:
    SQL NULL); measures that may sum to NULL are written as 0. ``constants`` fill the remaining
    columns with one value each. Rollup rows never pass through Python.
    """
    sql, params = rows.query.sql_with_params()
    insert_select(model, sql, params, columns, **constants)


def insert_select(
    model: type[Model],
    sql: str,
    params: Sequence[Any],
    columns: dict[str, str | None],
    **constants: Any,
) -> None:
    """``insert_from`` of the rows of the query ``sql`` (with ``params``)."""
    quote = connection.ops.quote_name
    targets = [*constants, *columns]
    select = ["%s"] * len(constants)
    for target, source in columns.items():
        if source is None:
            select.append("NULL")
        elif target in _ZERO_WHEN_NULL:
            select.append(f"COALESCE(rows.{quote(source)}, 0)")
        else:
            select.append(f"rows.{quote(source)}")
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, targets))}) "
        f"SELECT {', '.join(select)} FROM ({sql}) rows"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*constants.values(), *params])


# Sums that SQL leaves NULL when every summed value is NULL (``totals_from_row`` reads them as 0).
_ZERO_WHEN_NULL = {
    "duration_sum",
    "tokens_sum",
    "response_time_sum",
    "turns",
    "score_sum",
    "pipeline",
}


@contextmanager
def temporary_table(name: str, rows: QuerySet[Any]) -> Iterator[str]:
    """The rows of ``rows`` held in the temporary table ``name`` for the block (which gets the
    quoted name), then dropped.

    Temporary tables belong to one connection, so concurrent rolls never share one. Used inside
    a transaction: if the block fails, the table's creation is rolled back with the rest (both
    PostgreSQL and SQLite roll DDL back), so it is dropped only after a block that succeeded.
    """
    table = connection.ops.quote_name(name)
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        # PostgreSQL takes no bound parameters in CREATE TABLE AS: this relies on Django's
        # default client-side binding with psycopg (no ``server_side_binding`` option).
        cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {sql}", params)
    yield table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")

"""Fast bulk inserts of plain rows: PostgreSQL ``COPY`` where available, ``bulk_create`` elsewhere.

The demo generator writes millions of rows; building model instances and multi-row ``INSERT``
statements for them costs most of the time. Rows here are plain tuples in the order of the
``fields`` given, holding column values (``<fk>_id`` integers, aware datetimes, Python values for
JSON fields or pre-encoded ``RawJSON`` text). No model ``save()``, signals or field defaults run:
callers pass every column they want set, and a column left out gets the database default (which
for Django fields means NULL, so pass ``created_at`` and friends explicitly).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connections, models, transaction


class RawJSON(str):
    """JSON text already encoded; written as is instead of being encoded again."""

    __slots__ = ()


# ``json.dumps`` with options builds an encoder per call; rows are encoded by the million.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    """``value`` as JSON text without spaces, as rows store it."""
    return _ENCODER.encode(value)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, RawJSON):
        return value
    return compact_json(value)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, RawJSON) else value


class BulkWriter:
    """Writes rows of one database connection (``using``) in the fastest way it supports."""

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self.connection = connections[using]

    @property
    def uses_copy(self) -> bool:
        return self.connection.vendor == "postgresql"

    @contextmanager
    def foreign_key_checks_skipped(self) -> Iterator[bool]:
        """Inside the block, skips the per-row foreign key triggers on PostgreSQL
        (``session_replication_role = replica``, transaction-local, restored on exit).

        Only for rows whose references are known to be valid, such as rows pointing at parents
        written in the same transaction: the deferred checks of millions of such rows cost more
        than writing them. Needs a superuser; yields whether the checks are skipped (False when
        not permitted or not PostgreSQL, and the block runs with the checks)."""
        if not self.uses_copy:
            yield False
            return
        if not self.connection.in_atomic_block:
            raise RuntimeError("foreign_key_checks_skipped() needs a transaction")
        with self.connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            previous = cursor.fetchone()[0]
        try:
            with transaction.atomic(using=self.using), self.connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
            skipped = True
        except DatabaseError:  # not a superuser: write with the checks
            skipped = False
        yield skipped
        if skipped:
            # Not reached when the block raised: the rollback restores the setting then.
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('session_replication_role', %s, true)", [previous]
                )

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        """Takes ``count`` primary keys from ``model``'s sequence (PostgreSQL only)."""
        if count <= 0:
            return []
        table = model._meta.db_table
        column = model._meta.pk.column
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, column, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def insert(
        self,
        model: type[models.Model],
        fields: Sequence[str],
        rows: Sequence[tuple[Any, ...]] | Iterable[tuple[Any, ...]],
        *,
        return_ids: bool = False,
        ignore_conflicts: bool = False,
    ) -> list[int]:
        """Inserts ``rows`` (tuples ordered like ``fields``, given by attribute name such as
        ``call_id`` for a foreign key) into ``model``'s table.

        With ``return_ids`` the new primary keys are returned in row order (``rows`` must then be
        a sequence); on PostgreSQL they are reserved from the sequence first and copied in.
        With ``ignore_conflicts`` a row that violates a unique constraint is skipped (on
        PostgreSQL the rows are copied into a temporary table first, then inserted from it with
        ``ON CONFLICT DO NOTHING``); the two options exclude each other.
        """
        if return_ids and ignore_conflicts:
            raise ValueError("return_ids and ignore_conflicts cannot be combined")
        if return_ids and not isinstance(rows, Sequence):
            rows = list(rows)
        if not self.uses_copy:
            return self._bulk_create(model, fields, rows, return_ids, ignore_conflicts)
        if ignore_conflicts:
            self._copy_ignoring_conflicts(model, fields, rows)
            return []
        return self._copy(model, fields, rows, return_ids)

    # -- PostgreSQL -------------------------------------------------------------------------

    def _copy(
        self,
        model: type[models.Model],
        fields: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        return_ids: bool,
        table: str | None = None,
    ) -> list[int]:
        opts = model._meta
        quote = self.connection.ops.quote_name
        columns = [_column(model, f) for f in fields]
        json_positions = [i for i, f in enumerate(fields) if _is_json(model, f)]
        ids: list[int] = []
        if return_ids:
            ids = self.reserve_ids(model, len(rows))  # type: ignore[arg-type]
            columns.insert(0, _column(model, opts.pk.name))
            json_positions = [i + 1 for i in json_positions]
        column_list = ", ".join(quote(c) for c in columns)
        sql = f"COPY {quote(table or opts.db_table)} ({column_list}) FROM STDIN"
        self.connection.ensure_connection()
        with self.connection.cursor() as cursor:
            raw_cursor = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw_cursor.copy(sql) as copy:
                write_row = copy.write_row
                source: Iterable[tuple[Any, ...]] = (
                    ((pk, *row) for pk, row in zip(ids, rows, strict=True)) if return_ids else rows
                )
                if json_positions:
                    for row in source:
                        values = list(row)
                        for i in json_positions:
                            values[i] = _json_text(values[i])
                        write_row(values)
                else:
                    for row in source:
                        write_row(row)
        return ids

    def _copy_ignoring_conflicts(
        self, model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        opts = model._meta
        quote = self.connection.ops.quote_name
        target = quote(opts.db_table)
        staging = f"_bulk_{opts.db_table}"
        column_list = ", ".join(quote(_column(model, f)) for f in fields)
        with transaction.atomic(using=self.using), self.connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {quote(staging)} ON COMMIT DROP AS "
                f"SELECT {column_list} FROM {target} WITH NO DATA"
            )
            self._copy(model, fields, rows, return_ids=False, table=staging)
            cursor.execute(
                f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM {quote(staging)} "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"DROP TABLE {quote(staging)}")

    # -- Other databases --------------------------------------------------------------------

    def _bulk_create(
        self,
        model: type[models.Model],
        fields: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        return_ids: bool,
        ignore_conflicts: bool,
    ) -> list[int]:
        json_positions = [i for i, f in enumerate(fields) if _is_json(model, f)]
        objects = []
        for row in rows:
            values = list(row)
            for i in json_positions:
                values[i] = _json_value(values[i])
            objects.append(model(**dict(zip(fields, values, strict=True))))
        created = model._default_manager.using(self.using).bulk_create(
            objects, batch_size=500, ignore_conflicts=ignore_conflicts
        )
        return [obj.pk for obj in created] if return_ids else []


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column


def _is_json(model: type[models.Model], name: str) -> bool:
    # get_field() resolves a foreign key's attname ("call_id") as well as its name.
    return isinstance(model._meta.get_field(name), models.JSONField)

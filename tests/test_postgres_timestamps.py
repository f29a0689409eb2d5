"""``timestamptz`` values read through ``config.postgres.FastTzLoader`` equal Django's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from config.postgres import use_fast_timestamps

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# What PostgreSQL prints for a spread of instants: whole and fractional seconds, the first and
# last years Python holds, a leap day, and text whose offset is not the session's.
LITERALS = [
    "2026-11-18 09:00:00+00",
    "2026-11-18 09:00:00.000001+00",
    "2026-11-18 09:00:00.5+00",
    "2024-02-29 23:59:59.999999+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2026-03-29 01:30:00+00",
    "2026-11-18 09:00:00+05:30",
]


def _read(sql: str) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [value for (value,) in cursor.fetchall()]


def _values() -> str:
    return " UNION ALL ".join(f"SELECT '{text}'::timestamptz" for text in LITERALS)


def test_the_fast_loader_is_the_connections():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader.__name__ == "FastTzLoader"
    # Django compares this attribute before each cursor and would put its own loader back.
    assert loader.timezone is connection.timezone


def test_values_equal_djangos_loader():
    fast = _read(_values())
    connection.connection.adapters.register_loader("timestamptz", _django_loader())
    try:
        django = _read(_values())
    finally:
        use_fast_timestamps(None, connection)
    assert fast == django
    assert [value.tzinfo for value in fast] == [value.tzinfo for value in django]
    assert all(value.tzinfo is UTC for value in fast)


def test_what_python_cannot_hold_is_djangos_error():
    for literal in ("infinity", "4713-01-01 00:00:00+00 BC", "10000-01-01 00:00:00+00"):
        with pytest.raises(DataError):
            _read(f"SELECT '{literal}'::timestamptz")


def _django_loader() -> type:
    class SpecificTzLoader(BaseTzLoader):  # Django's, as it registers it
        timezone = connection.timezone

    return SpecificTzLoader

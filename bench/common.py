"""Shared helpers for Callscope's benchmarks.

Every benchmark runs against PostgreSQL at ``BENCH_DATABASE_URL`` (default the local server's
``callscope_bench`` database), prints the machine it ran on first, and loads the same data set
(``ensure_loaded``) so figures are comparable between runs and between benchmarks::

    from bench.common import bench_database_url, ensure_database, ensure_loaded, setup_django

    setup_django(bench_database_url())
    ensure_database()
    tenant = ensure_loaded()
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/callscope_bench"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url() -> str:
    """``BENCH_DATABASE_URL``, else the local PostgreSQL's ``callscope_bench`` database."""
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_BENCH_DATABASE_URL


def setup_django(database_url: str | None = None) -> None:
    """Points Django at ``database_url`` (default ``bench_database_url()``) and sets it up."""
    os.environ["DATABASE_URL"] = database_url or bench_database_url()
    os.environ["DEBUG"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def ensure_database(*, migrate: bool = True) -> None:
    """Creates the benchmark database when it does not exist, then applies migrations."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("Benchmarks need PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    url = os.environ["DATABASE_URL"]
    name = db["NAME"]
    parts = urlsplit(url)
    maintenance_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)


def ensure_loaded(
    *,
    calls: int = 1_000_000,
    days: int = 365,
    seed: int = 1,
    tenant: str = "bench",
    timezone: str = "Europe/Berlin",
    transcripts: bool = True,
) -> Any:
    """Returns the benchmark tenant, loaded with ``calls`` demo calls over ``days`` days.

    Runs ``seed_demo`` only when the tenant has fewer calls than asked; the generator is
    deterministic per seed and skips the calls it already wrote, so an interrupted load resumes.
    Runs ``VACUUM ANALYZE`` after loading so plans and visibility maps are those of a settled
    database. Without ``transcripts`` calls are loaded without transcript turns (quicker for
    very large tenants).
    """
    from django.core.management import call_command
    from django.db import connection

    from calls.models import Call, Tenant

    obj = Tenant.objects.filter(slug=tenant).first()
    have = Call.objects.filter(tenant=obj).count() if obj else 0
    if have < calls:
        print(f"loading {calls - have:,} calls into tenant {tenant!r} …", file=sys.stderr)
        started = time.perf_counter()
        call_command(
            "seed_demo",
            tenant=tenant,
            calls=calls,
            days=days,
            seed=seed,
            timezone=timezone,
            verbosity=1,
            without_transcripts=not transcripts,
        )
        print(
            f"loaded in {time.perf_counter() - started:,.0f} s; vacuum analyze …", file=sys.stderr
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return Tenant.objects.get(slug=tenant)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation between order statistics."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """``{"p50", "p95", "p99", "min", "max", "n"}`` of ``samples``."""
    return {
        "n": float(len(samples)),
        "min": min(samples) if samples else math.nan,
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
        "max": max(samples) if samples else math.nan,
    }


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: …`` then ``t[0]`` is the elapsed wall time in seconds."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and (when Django is set up) PostgreSQL version."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1) if (mem := _memory_gib()) is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
                info["postgresql"] = cursor.fetchone()[0]
                cursor.execute("SELECT current_database()")
                info["database"] = cursor.fetchone()[0]
            else:
                info["database"] = connection.vendor
    except Exception as exc:  # printed, never fatal: a benchmark still says where it ran
        info["database_error"] = str(exc)
    return info


def print_machine_info(title: str = "") -> dict[str, Any]:
    """Prints ``machine_info()`` as a header block and returns it."""
    info = machine_info()
    if title:
        print(f"== {title} ==")
    for key, value in info.items():
        print(f"{key:>12}: {value}")
    print()
    return info


def table_sizes(tables: Sequence[str] = ()) -> list[tuple[str, int, str]]:
    """``(table, estimated rows, total size)`` of the ``calls_`` tables (or ``tables``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_total_relation_size(c.oid))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = 'public'
              AND (c.relname = ANY(%s::text[])
                   OR (cardinality(%s::text[]) = 0 AND c.relname LIKE 'calls\\_%%'))
            ORDER BY pg_total_relation_size(c.oid) DESC
            """,
            [list(tables), list(tables)],
        )
        # reltuples is -1 for a table never vacuumed or analyzed.
        return [(name, max(int(rows), 0), size) for name, rows, size in cursor.fetchall()]

"""``manage.py rollups``: build or rebuild rollups for a date range, or roll every dirty day and
hour."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.utils import timezone
from tqdm import tqdm

from analytics import rollups
from analytics.windows import HOUR, date_range, date_window, hour_range, local_date, utc_hour
from calls.models import Call, Tenant

# One tenant's days (first, last) to rebuild.
Span = tuple[Tenant, date, date]


class Command(BaseCommand):
    help = (
        "Rebuild rollups of tenant-local days (default: every day that has calls, for every "
        "tenant) and of every completed UTC hour of those days (in full within the hour horizon, "
        "ROLLUP_HOUR_HORIZON_DAYS; call totals only before it); with --dirty only the days and "
        "hours marked dirty."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument(
            "--from",
            dest="first",
            type=date.fromisoformat,
            help="first local day, YYYY-MM-DD (default: the tenant's first call)",
        )
        parser.add_argument(
            "--to",
            dest="last",
            type=date.fromisoformat,
            help="last local day, inclusive (default: today)",
        )
        parser.add_argument(
            "--dirty", action="store_true", help="only roll the dirty days and dirty hours"
        )
        parser.add_argument(
            "--hours-only",
            action="store_true",
            help="roll only hours, no days (e.g. to fill the hour rollups after an upgrade)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="roll in this many processes at once (PostgreSQL; default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        jobs: int = options["jobs"]
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        if connection.vendor != "postgresql":
            jobs = 1  # SQLite takes one writer at a time
        days: list[tuple[int, date]] = []
        hours: list[tuple[int, datetime]] = []
        if options["dirty"]:
            if not options["hours_only"]:
                days = rollups.dirty_days(limit=1_000_000)
            hours = rollups.dirty_hours(limit=1_000_000)
        else:
            spans = self._spans(options)
            if not options["hours_only"]:
                days = [
                    (tenant.pk, day)
                    for tenant, first, last in spans
                    for day in date_range(first, last)
                ]
            hours = _completed_hours(spans)
        quiet = options["verbosity"] == 0
        # Consecutive periods of a tenant are rolled together: one set of grouped queries per run.
        _roll_all(rollups.runs(days), roll_run, len(days), "day", jobs=jobs, quiet=quiet)
        _roll_all(
            rollups.hour_runs(hours), roll_hour_run, len(hours), "hour", jobs=jobs, quiet=quiet
        )
        if not options["dirty"] and (days or hours):
            rollups.vacuum_rollup_tables()
        self.stdout.write(
            self.style.SUCCESS(f"Rolled {len(days)} tenant-day(s) and {len(hours)} tenant-hour(s).")
        )

    def _spans(self, options: dict[str, Any]) -> list[Span]:
        tenants = Tenant.objects.all()
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        spans: list[Span] = []
        for tenant in tenants:
            zone = tenant.zone
            first = options["first"]
            if first is None:
                earliest = (
                    Call.objects.filter(tenant=tenant)
                    .order_by("start_time")
                    .values_list("start_time", flat=True)
                    .first()
                )
                if earliest is None:
                    continue
                first = local_date(earliest, zone)
            last = options["last"] or local_date(timezone.now(), zone)
            if last < first:
                raise CommandError("--to is before --from.")
            spans.append((tenant, first, last))
        return spans


def _completed_hours(spans: list[Span]) -> list[tuple[int, datetime]]:
    """The UTC hours of the spans' days that have ended."""
    current = utc_hour(timezone.now())
    pairs: list[tuple[int, datetime]] = []
    for tenant, first, last in spans:
        window = date_window(first, last, tenant.zone)
        start = utc_hour(window.start)
        end = min(window.end, current)
        if start < end:
            hours = hour_range(start, end - HOUR)
            pairs.extend((tenant.pk, hour) for hour in hours)
    return pairs


def _roll_all(
    runs: list[Any], roll: Callable[[Any], int], total: int, unit: str, *, jobs: int, quiet: bool
) -> None:
    """Rolls ``runs`` with ``roll`` (in ``jobs`` processes), counting ``total`` ``unit``s."""
    if not runs:
        return
    with tqdm(total=total, desc=f"Rolling {unit}s", unit=unit, disable=quiet) as bar:
        if jobs == 1:
            for run in runs:
                bar.update(roll(run))
            return
        # Forked workers open their own connections; none may inherit this one.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for done in as_completed([pool.submit(roll, run) for run in runs]):
                bar.update(done.result())


def roll_run(run: tuple[int, date, date]) -> int:
    """Rolls one run of days; returns how many days it held."""
    tenant_id, first, last = run
    rollups.roll_days(tenant_id=tenant_id, first=first, last=last)
    return (last - first).days + 1


def roll_hour_run(run: tuple[int, datetime, datetime]) -> int:
    """Rolls one run of hours; returns how many hours it held."""
    tenant_id, first, last = run
    rollups.roll_hours(tenant_id=tenant_id, first=first, last=last)
    return int((last - first) / HOUR) + 1

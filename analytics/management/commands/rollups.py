"""``manage.py rollups``: build or rebuild rollups for a date range, or roll every dirty day."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.utils import timezone
from tqdm import tqdm

from analytics import rollups
from analytics.windows import date_range, local_date
from calls.models import Call, Tenant


class Command(BaseCommand):
    help = (
        "Rebuild rollups of tenant-local days (default: every day that has calls, for every "
        "tenant), or with --dirty only the days marked dirty."
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
        parser.add_argument("--dirty", action="store_true", help="only roll the dirty days")
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="roll in this many processes at once (PostgreSQL; default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dirty"]:
            pairs = rollups.dirty_days(limit=1_000_000)
        else:
            pairs = self._range_pairs(options)
        jobs: int = options["jobs"]
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        if connection.vendor != "postgresql":
            jobs = 1  # SQLite takes one writer at a time
        # Consecutive days of a tenant are rolled together: one set of grouped queries per run.
        runs = rollups.runs(pairs)
        with tqdm(
            total=len(pairs), desc="Rolling days", unit="day", disable=options["verbosity"] == 0
        ) as bar:
            if jobs == 1:
                for run in runs:
                    bar.update(roll_run(run))
            else:
                # Forked workers open their own connections; none may inherit this one.
                connections.close_all()
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                    for done in as_completed([pool.submit(roll_run, run) for run in runs]):
                        bar.update(done.result())
        if not options["dirty"] and pairs:
            rollups.vacuum_rollup_tables()
        self.stdout.write(self.style.SUCCESS(f"Rolled {len(pairs)} tenant-day(s)."))

    def _range_pairs(self, options: dict[str, Any]) -> list[tuple[int, date]]:
        tenants = Tenant.objects.all()
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        pairs: list[tuple[int, date]] = []
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
            pairs.extend((tenant.pk, day) for day in date_range(first, last))
        return pairs


def roll_run(run: tuple[int, date, date]) -> int:
    """Rolls one run of days; returns how many days it held."""
    tenant_id, first, last = run
    rollups.roll_days(tenant_id=tenant_id, first=first, last=last)
    return (last - first).days + 1

"""``manage.py rollups``: build or rebuild rollups for a date range, or roll every dirty day."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dirty"]:
            pairs = rollups.dirty_days(limit=1_000_000)
        else:
            pairs = self._range_pairs(options)
        for tenant_id, day in tqdm(
            pairs, desc="Rolling days", unit="day", disable=options["verbosity"] == 0
        ):
            rollups.roll_day(tenant_id=tenant_id, day=day)
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

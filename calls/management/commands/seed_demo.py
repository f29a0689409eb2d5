"""``manage.py seed_demo``: realistic, deterministic demo data (see ``calls.demo``)."""

from __future__ import annotations

import sys
import zoneinfo
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from calls.demo.plan import CHUNK
from calls.demo.writer import default_until, seed_demo
from calls.models import Tenant


def parse_until(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 datetime (naive means UTC)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"--until {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 datetime."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def get_or_create_tenant(slug: str, timezone: str) -> tuple[Tenant, bool]:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"{timezone!r} is not an IANA time zone name.") from None
    return Tenant.objects.get_or_create(
        slug=slug, defaults={"name": slug.replace("-", " ").title(), "timezone": timezone}
    )


class Command(BaseCommand):
    help = (
        "Writes deterministic demo data (agents, workflows, leads, calls with transcripts, "
        "variables, actions, latencies, errors and activity events) for a tenant. The same seed, "
        "--calls, --days and --until give the same data; calls written by an earlier run are "
        "skipped, so rerunning never duplicates anything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="Tenant slug (created if missing).")
        parser.add_argument(
            "--timezone",
            default="UTC",
            help="Time zone of the tenant when it is created (default UTC).",
        )
        parser.add_argument("--calls", type=int, default=2000, help="Number of calls (2000).")
        parser.add_argument("--days", type=int, default=30, help="Days of history (30).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (1).")
        parser.add_argument(
            "--until",
            help="End of the window: YYYY-MM-DD or ISO datetime (default: now).",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=5000,
            help=f"Calls per transaction, in multiples of {CHUNK} (5000); does not change data.",
        )
        parser.add_argument(
            "--without-transcripts",
            action="store_true",
            help="Write calls without transcript turns (quicker loads of very large tenants).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        calls: int = options["calls"]
        days: int = options["days"]
        if calls < 0:
            raise CommandError("--calls must be 0 or more.")
        if days < 1:
            raise CommandError("--days must be at least 1.")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        until = parse_until(options["until"]) if options["until"] else default_until()
        tenant, created = get_or_create_tenant(options["tenant"], options["timezone"])
        verbosity: int = options["verbosity"]
        if created and verbosity:
            self.stdout.write(f"Created tenant {tenant.slug!r} ({tenant.timezone}).")
        with tqdm(
            total=calls,
            unit="call",
            unit_scale=True,
            file=sys.stderr,
            disable=verbosity == 0,
            desc=f"seed_demo {tenant.slug}",
        ) as bar:
            summary = seed_demo(
                tenant=tenant,
                calls=calls,
                days=days,
                seed=options["seed"],
                until=until,
                batch=options["batch"],
                progress=bar.update,
                transcripts=not options["without_transcripts"],
            )
        if verbosity:
            rate = summary.calls_written / summary.seconds if summary.seconds else 0.0
            rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items() if count)
            self.stdout.write(
                f"Tenant {tenant.slug}: {summary.calls_written:,} calls written, "
                f"{summary.calls_skipped:,} already there, {summary.leads_written:,} new leads "
                f"in {summary.seconds:,.1f} s ({rate:,.0f} calls/s), window "
                f"{days} days before {until.isoformat()}."
            )
            if rows:
                self.stdout.write(f"Rows: {rows}.")

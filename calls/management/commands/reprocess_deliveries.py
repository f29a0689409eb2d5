"""``manage.py reprocess_deliveries [--platform P] [--since DATE] [--tenant SLUG]``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.management.commands.create_api_key import find_tenant
from calls.platform_ingest import reprocess_deliveries
from calls.platforms import PLATFORMS
from config.api.params import QueryValueError, parse_instant


def _since(text: str) -> datetime:
    """``--since``: an ISO 8601 datetime (UTC unless it carries an offset) or date (00:00 UTC),
    read as every query-string instant is."""
    try:
        return parse_instant(text, UTC)
    except QueryValueError as exc:
        raise CommandError(f"--since: {exc}") from None


class Command(BaseCommand):
    help = (
        "Maps the kept platform deliveries again with the current platform modules, in the "
        "order they were received, and upserts the calls they describe (after a mapping fix). "
        "Only calls change; the deliveries are kept as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--platform", help="Only this platform's deliveries.")
        parser.add_argument("--since", help="Only deliveries received from (ISO 8601; UTC).")
        parser.add_argument("--tenant", help="Only this tenant's deliveries (slug or id).")

    def handle(self, *args: Any, **options: Any) -> None:
        platform = options["platform"]
        if platform and platform not in PLATFORMS:
            raise CommandError(
                f"Unknown platform {platform[:40]!r}; one of {', '.join(sorted(PLATFORMS))}."
            )
        since = _since(options["since"]) if options["since"] else None
        tenant = find_tenant(options["tenant"]) if options["tenant"] else None
        counts = reprocess_deliveries(platform=platform, since=since, tenant=tenant)
        self.stdout.write(
            f"Reprocessed {counts.deliveries} deliveries: {counts.updated} updated, "
            f"{counts.unchanged} unchanged, {counts.created} created, {counts.ignored} ignored, "
            f"{counts.failed} failed."
        )

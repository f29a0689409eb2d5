"""``manage.py create_api_key TENANT [--name NAME] [--scope read|ingest|all] [--expires WHEN]``:
prints the new key once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.keys import create_api_key, format_expiry
from calls.models import ApiKeyScope, Tenant
from config.api.params import QueryValueError, parse_instant


def find_tenant(ref: str) -> Tenant:
    """The tenant with slug ``ref``, else with id ``ref``; ``CommandError`` when there is none."""
    tenant = Tenant.objects.filter(slug=ref).first()
    if tenant is None and ref.isascii() and ref.isdigit():
        tenant = Tenant.objects.filter(pk=int(ref)).first()
    if tenant is None:
        raise CommandError(f"No tenant with slug or id {ref!r}.")
    return tenant


def parse_expiry(raw: str) -> datetime:
    """``--expires``: an ISO 8601 datetime, UTC unless it carries an offset, or a date (00:00
    UTC that day), as the admin's form takes and shows expiries. A past one is accepted on
    purpose: it makes a key refused from the start, for testing expiry handling."""
    try:
        return parse_instant(raw, UTC)
    except QueryValueError as exc:
        raise CommandError(f"--expires: {exc}") from None


class Command(BaseCommand):
    help = "Creates an API key for a tenant and prints it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug or id.")
        parser.add_argument("--name", default="", help="A label for the key, e.g. 'bi-export'.")
        parser.add_argument(
            "--scope",
            choices=ApiKeyScope.values,
            default=ApiKeyScope.ALL,
            help="read: GET requests and live streams; ingest: writes; all: both (default).",
        )
        parser.add_argument(
            "--expires",
            metavar="WHEN",
            help=(
                "When the key stops working, in UTC: an ISO 8601 datetime (UTC unless it has "
                "an offset) or date (00:00 UTC that day). A past one makes a key that is "
                "refused from the start. Default: never."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        expires_at = parse_expiry(options["expires"]) if options["expires"] else None
        key, raw = create_api_key(
            tenant=tenant, name=options["name"], scope=options["scope"], expires_at=expires_at
        )
        expiry = f"expires {format_expiry(expires_at)}" if expires_at else "does not expire"
        if key.is_expired:
            expiry += " (already expired: every request with it is refused)"
        self.stderr.write(
            f"API key {key.prefix}… ({key.name or 'unnamed'}) for tenant {tenant.slug}, scope "
            f"{key.scope}, {expiry}. Store it now: it cannot be shown again."
        )
        self.stdout.write(raw)

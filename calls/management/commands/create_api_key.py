"""``manage.py create_api_key TENANT [--name NAME] [--scope read|ingest|all] [--expires WHEN]``:
prints the new key once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.keys import create_api_key
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


def parse_expiry(raw: str, tenant: Tenant) -> datetime:
    """``--expires``: an ISO 8601 date (the start of that day in the tenant's time zone) or
    datetime (UTC without an offset), as the API's query strings read instants. A past one is
    accepted on purpose: it makes a key refused from the start, for testing expiry handling."""
    try:
        return parse_instant(raw, tenant.zone)
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
                "When the key stops working: an ISO 8601 date (start of that day in the "
                "tenant's time zone) or datetime (UTC unless it has an offset). A past one makes "
                "a key that is refused from the start. Default: never."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        expires_at = parse_expiry(options["expires"], tenant) if options["expires"] else None
        key, raw = create_api_key(
            tenant=tenant, name=options["name"], scope=options["scope"], expires_at=expires_at
        )
        expiry = f"expires {expires_at.isoformat()}" if expires_at else "does not expire"
        if key.is_expired:
            expiry += " (already expired: every request with it is refused)"
        self.stderr.write(
            f"API key {key.prefix}… ({key.name or 'unnamed'}) for tenant {tenant.slug}, scope "
            f"{key.scope}, {expiry}. Store it now: it cannot be shown again."
        )
        self.stdout.write(raw)

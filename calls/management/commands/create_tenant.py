"""``manage.py create_tenant NAME [--slug SLUG] [--timezone ZONE]``."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils.text import slugify

from calls.models import Tenant


class Command(BaseCommand):
    help = "Creates a tenant and prints its id, slug, webhook URL path and webhook secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Display name, e.g. 'Acme Health'.")
        parser.add_argument("--slug", help="URL-safe identifier (default: derived from the name).")
        parser.add_argument(
            "--timezone",
            default="UTC",
            help="IANA time zone defining the tenant's calendar days (default UTC).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"].strip()
        if not name:
            raise CommandError("The tenant name must not be empty.")
        slug: str = options["slug"] or slugify(name)
        if not slug or slug != slugify(slug):
            raise CommandError(
                f"{slug!r} is not a valid slug: use lowercase letters, digits and hyphens."
            )
        zone: str = options["timezone"]
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                f"{zone!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin', "
                "'America/New_York')."
            ) from None
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant with slug {slug!r} exists already.")
        tenant = Tenant.objects.create(name=name, slug=slug, timezone=zone)
        webhook = reverse("webhook-synthflow", kwargs={"token": tenant.webhook_token})
        self.stdout.write(f"Created tenant {tenant.name!r}")
        self.stdout.write(f"  id:             {tenant.pk}")
        self.stdout.write(f"  slug:           {tenant.slug}")
        self.stdout.write(f"  timezone:       {tenant.timezone}")
        self.stdout.write(f"  webhook URL:    {webhook}")
        self.stdout.write(f"  webhook secret: {tenant.webhook_secret}")
        self.stdout.write(f"Create an API key with: manage.py create_api_key {tenant.slug}")

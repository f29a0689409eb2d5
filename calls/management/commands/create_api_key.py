"""``manage.py create_api_key TENANT [--name NAME]``: prints the new key once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.keys import create_api_key
from calls.models import Tenant


def find_tenant(ref: str) -> Tenant:
    """The tenant with slug ``ref``, else with id ``ref``; ``CommandError`` when there is none."""
    tenant = Tenant.objects.filter(slug=ref).first()
    if tenant is None and ref.isascii() and ref.isdigit():
        tenant = Tenant.objects.filter(pk=int(ref)).first()
    if tenant is None:
        raise CommandError(f"No tenant with slug or id {ref!r}.")
    return tenant


class Command(BaseCommand):
    help = "Creates an API key for a tenant and prints it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug or id.")
        parser.add_argument("--name", default="", help="A label for the key, e.g. 'bi-export'.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        key, raw = create_api_key(tenant=tenant, name=options["name"])
        self.stderr.write(
            f"API key {key.prefix}… ({key.name or 'unnamed'}) for tenant {tenant.slug}. "
            "Store it now: it cannot be shown again."
        )
        self.stdout.write(raw)

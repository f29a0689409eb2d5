"""``manage.py rotate_webhook_secret TENANT``: a new webhook signing secret, printed once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from calls.management.commands.create_api_key import find_tenant
from calls.webhook_credentials import rotate_webhook_secret


class Command(BaseCommand):
    help = (
        "Gives a tenant a new Synthflow webhook secret and prints it once. Deliveries signed "
        "with the old secret answer 401 at once: set the new one in Synthflow right away."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug or id.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        secret = rotate_webhook_secret(tenant=tenant)
        self.stderr.write(
            f"Rotated the webhook secret of tenant {tenant.slug}; deliveries signed with the old "
            "one are refused. Set the new one in Synthflow:"
        )
        self.stdout.write(secret)

"""``manage.py rotate_webhook_token TENANT``: a new webhook URL, printed once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.urls import reverse

from calls.management.commands.create_api_key import find_tenant
from calls.webhook_credentials import rotate_webhook_token


class Command(BaseCommand):
    help = (
        "Gives a tenant a new Synthflow webhook URL token and prints the new URL path once. "
        "The old URL answers 404 at once: set the new one in Synthflow right away."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug or id.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        token = rotate_webhook_token(tenant=tenant)
        self.stderr.write(
            f"Rotated the webhook URL token of tenant {tenant.slug}; the old URL no longer "
            "works. Set the new one in Synthflow:"
        )
        self.stdout.write(reverse("webhook-synthflow", kwargs={"token": token}))

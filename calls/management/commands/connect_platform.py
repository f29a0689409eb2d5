"""``manage.py connect_platform TENANT PLATFORM [--secret S] [--scheme X] [--header H]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.management.commands.create_api_key import find_tenant
from calls.platform_connections import ConnectionInvalid, create_connection, webhook_path


class Command(BaseCommand):
    help = (
        "Connects a tenant to a voice-agent platform's webhooks and prints the webhook URL to "
        "set in the platform. Without --secret, a secret is generated where the platform lets "
        "the receiver choose it, and printed once (it is stored encrypted)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug or id.")
        parser.add_argument("platform", help="vapi, retell, elevenlabs, bland or twilio.")
        parser.add_argument("--secret", help="The platform's signing secret (or API key).")
        parser.add_argument("--scheme", default="", help="Credential scheme (platform default).")
        parser.add_argument(
            "--header", default="", help="Header carrying the secret, for schemes that send it."
        )
        parser.add_argument(
            "--base-url",
            default="",
            help="Public address of Callscope (e.g. https://calls.example.com), to print the "
            "whole URL rather than its path.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = find_tenant(options["tenant"])
        try:
            created = create_connection(
                tenant=tenant,
                platform=options["platform"],
                secret=options["secret"],
                scheme=options["scheme"],
                header_name=options["header"],
            )
        except ConnectionInvalid as exc:
            raise CommandError(str(exc)) from None
        connection = created.connection
        url = options["base_url"].rstrip("/") + webhook_path(connection)
        self.stdout.write(f"Connected {tenant.slug} to {connection.platform}.")
        self.stdout.write(f"  webhook URL:    {url}")
        self.stdout.write(f"  scheme:         {connection.scheme}")
        if created.generated_secret is not None:
            self.stdout.write(f"  webhook secret: {created.generated_secret}")
            self.stderr.write("Store the secret in the platform now: it cannot be shown again.")

"""``manage.py reencrypt_platform_secrets``: after putting a new key first."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from calls.platform_connections import reencrypt_secrets


class Command(BaseCommand):
    help = (
        "Encrypts every platform connection's secrets again under the first key of "
        "CALLSCOPE_ENCRYPTION_KEYS, so that the keys after it can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = reencrypt_secrets()
        self.stdout.write(f"Re-encrypted the secrets of {count} connection(s).")

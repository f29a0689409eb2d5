"""``manage.py setup_demo``: the demo tenant, an admin login and an API key, once (``make run``)."""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from tqdm import tqdm

from calls.demo.writer import seed_demo
from calls.keys import create_api_key
from calls.models import Agent, ApiKey, Call, Tenant

DEMO_SLUG = "demo"
DEMO_KEY_NAME = "demo"
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Idempotent demo setup: creates the 'demo' tenant with generated calls (only when it has "
        "none), the 'admin' superuser (only when missing) and an API key named 'demo' (only when "
        "there is no active one). New credentials are printed once; later runs say how to reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=5000, help="Demo calls (5000).")
        parser.add_argument("--days", type=int, default=90, help="Days of history (90).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (1).")
        parser.add_argument("--timezone", default="Europe/Berlin", help="Demo tenant time zone.")
        parser.add_argument(
            "--base-url",
            default=f"http://{os.environ.get('HOST') or '127.0.0.1:8000'}",
            help="Where the server listens, for the URLs printed (default: http://$HOST).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["base_url"].rstrip("/")
        tenant, created = Tenant.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo", "timezone": options["timezone"]}
        )
        if created:
            self.stdout.write(f"Created tenant {tenant.slug!r} ({tenant.timezone}).")
        if not Call.objects.filter(tenant=tenant).exists():
            self._seed(tenant, options)
        else:
            self.stdout.write(f"Tenant {tenant.slug!r} has calls already; not seeding.")

        password = self._ensure_admin()
        raw_key = self._ensure_key(tenant)

        agent = Agent.objects.filter(tenant=tenant).order_by("name").first()
        model_id = agent.model_id if agent else "<model_id>"
        self.stdout.write("")
        self.stdout.write(f"Admin:     {base}/admin/")
        self.stdout.write(f"API docs:  {base}/api/docs/  (ReDoc: {base}/api/redoc/)")
        if password:
            self.stdout.write(f"Login:     {ADMIN_USERNAME} / {password}   (shown once)")
        else:
            self.stdout.write(
                f"Login:     user {ADMIN_USERNAME!r} exists; reset its password with "
                f"`manage.py changepassword {ADMIN_USERNAME}`"
            )
        if raw_key:
            self.stdout.write(f"API key:   {raw_key}   (shown once)")
        else:
            self.stdout.write(
                f"API key:   an active key named {DEMO_KEY_NAME!r} exists; make a new one with "
                f"`manage.py create_api_key {DEMO_SLUG} --name {DEMO_KEY_NAME}`"
            )
        self.stdout.write("Try:")
        self.stdout.write(f"  export KEY={raw_key or '<your API key>'}")
        self.stdout.write(
            f'  curl -H "Authorization: Bearer $KEY" "{base}/v2/calls?model_id={model_id}&limit=5"'
        )

    def _seed(self, tenant: Tenant, options: dict[str, Any]) -> None:
        with tqdm(
            total=options["calls"],
            unit="call",
            unit_scale=True,
            file=sys.stderr,
            disable=options["verbosity"] == 0,
            desc="demo data",
        ) as bar:
            summary = seed_demo(
                tenant=tenant,
                calls=options["calls"],
                days=options["days"],
                seed=options["seed"],
                progress=bar.update,
            )
        self.stdout.write(
            f"Seeded {summary.calls_written:,} calls and {summary.leads_written:,} leads over "
            f"{options['days']} days in {summary.seconds:,.1f} s."
        )

    def _ensure_admin(self) -> str | None:
        """Creates the superuser when missing and returns its password; None when it exists."""
        User = get_user_model()
        with transaction.atomic():
            if User.objects.filter(username=ADMIN_USERNAME).exists():
                return None
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", password)
        return password

    def _ensure_key(self, tenant: Tenant) -> str | None:
        """Creates the demo API key when there is no active one; returns it, else None."""
        if ApiKey.objects.active().filter(tenant=tenant, name=DEMO_KEY_NAME).exists():
            return None
        _, raw = create_api_key(tenant=tenant, name=DEMO_KEY_NAME)
        return raw

"""The dashboard live in a real browser: a call ingested over HTTP changes the "Active calls now"
tile, the "Calls" tile (its change figure as the page renders it) and the "Calls in progress"
panel without a reload, under the Content-Security-Policy. Served as ``make run`` serves
(daphne's runserver, HTTP and WebSockets on one port, the in-memory channel layer), on the test
database, so PostgreSQL only."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.keys import create_api_key
from calls.models import Tenant
from tests.analytics.conftest import call
from tests.browser.conftest import PASSWORD
from tests.live.servers import daphne

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def ingest(host: str, key: str, document: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"http://{host}/api/v1/calls",
        data=json.dumps(document).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


def tile(page: Any, key: str, part: str = "value") -> str:
    return str(page.inner_text(f'.cs-tile[data-tile="{key}"] .cs-tile-{part}')).strip()


def trend(page: Any, key: str) -> str:
    return str(page.get_attribute(f'.cs-tile[data-tile="{key}"] .cs-tile-change', "class"))


def test_a_new_call_updates_the_dashboard_without_a_reload(browser: Any) -> None:
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    _, key = create_api_key(tenant=tenant, name="browser")
    # One successful call in the previous 24 hours: every tile but "Active calls now" has
    # something to compare with.
    call(tenant, timezone.now() - timedelta(hours=30), end_call_reason="agent_goodbye")
    with daphne(runserver=True) as host:
        context = browser.new_context(base_url=f"http://{host}")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.goto("/admin/login/?next=/admin/analytics/dashboard/%3Frange%3D24h")
        page.fill("#id_username", "root")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#cs-live-state:has-text('live')", timeout=15000)
        assert tile(page, "active") == "0"
        assert tile(page, "calls") == "0"
        assert tile(page, "calls", "change") == "\u2212100% vs 1"
        assert tile(page, "success_rate", "change") == "vs 100.0%"  # no calls: no figure
        assert "cs-none" in trend(page, "success_rate")
        assert page.locator('.cs-tile[data-tile="active"] .cs-tile-change').count() == 0
        page.evaluate("() => { window.__notReloaded = true; }")

        ingest(
            host,
            key,
            {
                "call_id": "live-call-1",
                "status": "in-progress",
                "start_time": timezone.now().isoformat(),
                "agent": {"model_id": "agent-7", "name": "Jake"},
            },
        )
        page.wait_for_function(
            """() => document.querySelector('.cs-tile[data-tile="active"] .cs-tile-value')
                        .textContent.trim() === "1" """,
            timeout=10000,
        )
        row = page.locator('#cs-in-progress-rows tr[data-call="live-call-1"]')
        row.wait_for(timeout=10000)
        assert "Jake" in row.inner_text()
        assert "in-progress" in row.inner_text()
        page.wait_for_function(
            """() => document.querySelector('.cs-tile[data-tile="calls"] .cs-tile-value')
                        .textContent.trim() === "1" """,
            timeout=15000,
        )
        assert page.evaluate("() => window.__notReloaded") is True
        # Redrawn from the tiles JSON with the server's strings: a count in percent, a rate in
        # points, and still no change for "Active calls now".
        assert tile(page, "calls", "change") == "\u00b10.0% vs 1"
        assert "cs-flat" in trend(page, "calls")
        assert tile(page, "success_rate", "change") == "\u2212100.0 pp vs 100.0%"
        assert "cs-down" in trend(page, "success_rate")
        assert page.locator('.cs-tile[data-tile="active"] .cs-tile-change').count() == 0
        # The panel's link leads to the call's admin page.
        row.locator("a").click()
        page.wait_for_selector("text=live-call-1")
        assert "/admin/calls/call/" in page.url
        assert errors == []
        context.close()

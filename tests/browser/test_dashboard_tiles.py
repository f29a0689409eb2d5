"""The dashboard's KPI tiles in a real browser: each names what it counts, counts change in
percent and rates in percentage points, a previous window without calls says so, and "Active
calls now" shows no change; the trend arrow and colour follow the figure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.models import Tenant
from tests.analytics.conftest import call
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/admin/analytics/dashboard/"
WEEK = timedelta(days=7)

LogIn = Callable[[str, str, str], None]


def seed_two_weeks(tenant: Tenant, now: datetime) -> None:
    """This week: 5 calls (3 successful, 2 positive) and one live; the week before: 5 calls
    (2 successful, 3 positive)."""
    for n in range(5):
        call(
            tenant,
            now - timedelta(days=1, hours=n),
            status="completed" if n < 4 else "failed",
            end_call_reason="agent_goodbye" if n < 3 else "max_duration",
            sentiment="positive" if n < 2 else "neutral",
            duration=90,
        )
    call(tenant, now - timedelta(minutes=5), status="in-progress")
    for n in range(5):
        call(
            tenant,
            now - WEEK - timedelta(days=1, hours=n),
            status="completed" if n < 2 else "failed",
            end_call_reason="agent_goodbye",
            sentiment="positive" if n < 3 else "neutral",
            duration=60,
        )


def tile_text(page: Any, key: str, part: str) -> str:
    return str(page.inner_text(f'.cs-tile[data-tile="{key}"] .cs-tile-{part}')).strip()


def arrow(page: Any, key: str) -> str:
    """The trend arrow drawn before a tile's change figure ("none" when there is none)."""
    return str(
        page.evaluate(
            """(key) => getComputedStyle(
                document.querySelector(`.cs-tile[data-tile="${key}"] .cs-tile-delta`), "::before"
            ).content""",
            key,
        )
    )


def test_tiles_name_their_ratio_and_show_changes_by_the_rules(
    page: Any, log_in: LogIn, superuser: User, artifacts: Path, page_errors: list[str]
) -> None:
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    seed_two_weeks(tenant, timezone.now())
    log_in("root", PASSWORD, f"{DASHBOARD}?tenant={tenant.pk}&range=7d")
    page.wait_for_selector('.cs-tile[data-tile="success_rate"]')

    assert tile_text(page, "success_rate", "label").lower() == "success rate"
    assert tile_text(page, "success_rate", "definition") == "Successful calls / calls"
    assert tile_text(page, "positive", "definition") == "Calls with a positive sentiment / calls"
    tooltip = page.get_attribute('.cs-tile[data-tile="success_rate"]', "title")
    assert tooltip.startswith("Successful calls / calls. A call is successful when")
    assert "completion rate (completed calls / calls)" in tooltip

    # 6 calls (the live one included) against 5: percent.
    assert tile_text(page, "calls", "change") == "+20.0% vs 5"
    # 3 of 6 (50.0%) against 2 of 5 (40.0%): points, not +25%.
    assert tile_text(page, "success_rate", "value") == "50.0%"
    assert tile_text(page, "success_rate", "change") == "+10.0 pp vs 40.0%"
    # 2 of 6 (33.3%) against 3 of 5 (60.0%).
    assert tile_text(page, "positive", "change") == "\u221226.7 pp vs 60.0%"
    assert "cs-up" in (
        page.get_attribute('.cs-tile[data-tile="success_rate"] .cs-tile-change', "class") or ""
    )
    assert "cs-down" in (
        page.get_attribute('.cs-tile[data-tile="positive"] .cs-tile-change', "class") or ""
    )
    assert arrow(page, "success_rate") == '"\u25b2\u00a0"'
    assert arrow(page, "positive") == '"\u25bc\u00a0"'
    # A count at one instant: its value, and no change line at all.
    assert tile_text(page, "active", "value") == "1"
    assert page.locator('.cs-tile[data-tile="active"] .cs-tile-change').count() == 0
    # The workflow card names its ratio the completion rate.
    assert "completion rate" in page.inner_text('[data-card="workflows"] .cs-card-note')
    page.screenshot(path=str(artifacts / "dashboard-tiles-changes.png"), full_page=True)

    # A week whose previous week had no calls says so, with no figure and no arrow.
    fresh = Tenant.objects.create(name="Fresh", slug="fresh", timezone="UTC")
    call(fresh, timezone.now() - timedelta(days=1), end_call_reason="agent_goodbye", duration=60)
    page.goto(f"{DASHBOARD}?tenant={fresh.pk}&range=7d")
    for key in ("calls", "completed", "success_rate", "minutes", "average_duration", "positive"):
        assert tile_text(page, key, "change") == "no calls in previous period", key
        assert "cs-none" in (
            page.get_attribute(f'.cs-tile[data-tile="{key}"] .cs-tile-change', "class") or ""
        )
        assert arrow(page, key) == "none", key
    page.locator(".cs-tiles").screenshot(path=str(artifacts / "dashboard-tiles-no-previous.png"))
    assert page_errors == []

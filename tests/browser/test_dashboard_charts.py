"""The dashboard's horizontal bar charts in a real browser: every bar keeps its label (Chart.js
would skip every other one on a crowded axis) and the chart grows with its bars instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.enums import KNOWN_END_CALL_REASONS
from calls.models import Tenant
from tests.analytics.conftest import call
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/admin/analytics/dashboard/"

LogIn = Callable[[str, str, str], None]

# The index axis as drawn: whether it may skip labels, the labels it draws, and the box height.
AXIS = """(name) => {
    const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
    const chart = canvas && Chart.getChart(canvas);
    if (!chart) {
        return null;
    }
    return {
        autoSkip: chart.options.scales.y.ticks.autoSkip,
        labels: chart.data.labels.length,
        drawn: chart.scales.y.ticks.length,
        height: canvas.parentElement.getBoundingClientRect().height,
    };
}"""


def test_every_end_reason_bar_keeps_its_label_and_the_chart_grows_with_the_bars(
    page: Any, log_in: LogIn, artifacts: Path, page_errors: list[str]
) -> None:
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    many = Tenant.objects.create(name="Many", slug="many", timezone="UTC")
    few = Tenant.objects.create(name="Few", slug="few", timezone="UTC")
    now = timezone.now()
    reasons = KNOWN_END_CALL_REASONS[:12]
    for n, reason in enumerate(reasons):
        for k in range(n + 1):
            call(many, now - timedelta(hours=2 + k), end_call_reason=reason, duration=30)
    for reason in reasons[:2]:
        call(few, now - timedelta(hours=2), end_call_reason=reason, duration=30)

    log_in("root", PASSWORD, f"{DASHBOARD}?tenant={few.pk}&range=7d")
    page.wait_for_selector('canvas[data-chart="end_reasons"][data-drawn="true"]')
    small = page.evaluate(AXIS, "end_reasons")

    page.goto(f"{DASHBOARD}?tenant={many.pk}&range=7d")
    page.wait_for_selector('canvas[data-chart="end_reasons"][data-drawn="true"]')
    large = page.evaluate(AXIS, "end_reasons")
    page.locator('[data-card="end_reasons"]').screenshot(
        path=str(artifacts / "dashboard-end-reasons-every-bar-labelled.png")
    )
    page.screenshot(path=str(artifacts / "dashboard-twelve-end-reasons.png"), full_page=True)

    assert large["autoSkip"] is False
    assert large["labels"] == 12
    assert large["drawn"] == 12
    assert small["drawn"] == small["labels"] == 2
    assert large["height"] > small["height"]
    # Every horizontal chart on the page keeps all its labels (the funnel is always drawn).
    drawn = {name: page.evaluate(AXIS, name) for name in ("agents", "workflows", "funnel")}
    assert drawn["funnel"] is not None
    for name, axis in drawn.items():
        assert axis is None or (axis["autoSkip"] is False and axis["drawn"] == axis["labels"]), (
            name,
            axis,
        )
    assert page_errors == []

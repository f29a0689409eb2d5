"""The Content-Security-Policy in a real browser: the admin login, the analytics dashboard, a call
page and the API docs (Swagger UI and ReDoc) render completely with the policy enforced, and
chromium reports no violation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.models import Call, Tenant
from config.urls import REDOC_LOGO
from tests.analytics.test_dashboard import seed_dashboard_data
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded in the page before any of its own scripts run; the browser fires this event for every
# blocked script, style, image, connection or worker.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def acme() -> Tenant:
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="Europe/Berlin")
    seed_dashboard_data(tenant, timezone.now())
    return tenant


@pytest.fixture
def watched(page: Any) -> Any:
    page.add_init_script(RECORD_VIOLATIONS)
    return page


def violations(page: Any) -> list[str]:
    return list(page.evaluate("() => window.__cspViolations"))


def enforced_policy(response: Any) -> str:
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    return policy


def test_admin_pages_render_under_the_policy(
    watched: Any,
    log_in: Callable[[str, str, str], None],
    superuser: User,
    acme: Tenant,
    page_errors: list[str],
) -> None:
    page = watched
    enforced_policy(page.goto("/admin/login/"))
    assert violations(page) == []

    log_in("root", PASSWORD, "/admin/analytics/dashboard/")
    page.wait_for_selector('canvas[data-chart="funnel"][data-drawn="true"]')
    assert page.evaluate("() => typeof Chart") == "function"
    assert violations(page) == []

    call = Call.objects.filter(tenant=acme).order_by("pk").first()
    enforced_policy(page.goto(f"/admin/calls/call/{call.pk}/change/"))
    page.wait_for_selector('canvas[data-chart="latency"][data-drawn="true"]')
    assert violations(page) == []

    enforced_policy(page.goto("/admin/calls/call/"))
    assert violations(page) == []
    assert page_errors == []


def test_swagger_ui_renders_under_the_policy(watched: Any, page_errors: list[str]) -> None:
    page = watched
    enforced_policy(page.goto("/api/docs/"))

    # Swagger UI drew the operations it read from /api/schema/.
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    assert "Callscope API" in page.locator(".info .title").inner_text()
    assert page.locator(".opblock").count() > 10
    assert violations(page) == []
    assert page_errors == []


def test_redoc_renders_under_the_policy(watched: Any, page_errors: list[str]) -> None:
    page = watched
    logo = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
    page.route(REDOC_LOGO, lambda route: route.fulfill(content_type="image/svg+xml", body=logo))
    enforced_policy(page.goto("/api/redoc/"))

    page.wait_for_selector("h1:has-text('Callscope API')", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() > 10
    assert violations(page) == []
    assert page_errors == []

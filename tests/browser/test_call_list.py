"""The admin's call list in a real browser at 1440x900: every column fits without a sideways
scroll, transcript matches are marked, the CSV export downloads, and a list opened from the
dashboard names its window and time zone."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from calls.models import Agent, Call, Tenant, TranscriptTurn
from tests.analytics.test_dashboard import seed_dashboard_data
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALLS = "/admin/calls/call/"
DASHBOARD = "/admin/analytics/dashboard/"

LogIn = Callable[[str, str, str], None]


def seed_long_calls(tenant: Tenant, n: int = 12) -> list[Call]:
    """Calls with the longest values the list shows: platform ids, end reasons, lead names."""
    agent = Agent.objects.create(
        tenant=tenant, model_id="m-outbound", name="Outbound qualification agent (EU)"
    )
    now = timezone.now()
    calls = []
    for i in range(n):
        calls.append(
            Call.objects.create(
                tenant=tenant,
                call_id=f"call_{uuid.UUID(int=i + 1).hex}{uuid.UUID(int=i + 7).hex}",
                start_time=now - timedelta(minutes=17 * i),
                status="completed" if i % 2 else "hangup_on_voicemail",
                agent=agent,
                type_of_call="outbound",
                duration=300 + i,
                lead_name="Maximilian Alexander von Hohenberg-Schwarzenfels",
                lead_phone_number="+4915758658647",
                end_call_reason="customer_did_not_answer_voicemail_detected",
                sentiment="negative",
            )
        )
    return calls


@pytest.fixture
def acme() -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme", timezone="Europe/Berlin")


@pytest.fixture
def globex() -> Tenant:
    return Tenant.objects.create(name="Globex International Holdings", slug="globex")


def assert_fits(page: Any) -> None:
    """No sideways scroll, and the last columns are on screen."""
    assert page.evaluate(
        "() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth"
    ), page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    table = page.locator("#result_list")
    assert table.evaluate("(t) => t.scrollWidth <= t.parentElement.clientWidth")
    for column in ("end_reason_display", "sentiment"):
        header = page.locator(f"#result_list thead th.column-{column}")
        assert header.is_visible(), column
        box = header.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1440, (column, box)
    # One line per row: a call id is shortened, not wrapped.
    first_id = page.locator("#result_list tbody .cs-call-id").first
    height = first_id.evaluate("(e) => e.getBoundingClientRect().height")
    line = first_id.evaluate("(e) => parseFloat(getComputedStyle(e).lineHeight) || 20")
    assert height < 1.5 * line, (height, line)


def test_call_list_fits_1440_wide_for_one_tenant_and_several(
    page: Any,
    log_in: LogIn,
    staff: User,
    superuser: User,
    acme: Tenant,
    globex: Tenant,
    artifacts: Path,
    page_errors: list[str],
) -> None:
    calls = seed_long_calls(acme)
    seed_long_calls(globex, 3)

    log_in("ada", PASSWORD, CALLS)
    assert page.viewport_size == {"width": 1440, "height": 900}
    assert_fits(page)
    # The whole id is in the page (selecting it copies all of it) and in the tooltip.
    cell = page.locator("#result_list tbody .cs-call-id").first
    assert cell.get_attribute("title") == calls[0].call_id
    assert cell.inner_text() == calls[0].call_id
    header = page.locator("#result_list thead th.column-started").text_content() or ""
    assert header.strip() == "Started (Europe/Berlin)"
    page.screenshot(path=str(artifacts / "call-list-1440-one-tenant.png"), full_page=True)

    page.context.clear_cookies()
    log_in("root", PASSWORD, CALLS)
    assert page.locator("#result_list thead th.column-tenant").is_visible()
    assert_fits(page)
    header = page.locator("#result_list thead th.column-started").text_content() or ""
    assert header.strip() == "Started (UTC)"
    page.screenshot(path=str(artifacts / "call-list-1440-several-tenants.png"), full_page=True)
    assert page_errors == []


def test_a_superuser_of_the_only_tenant_sees_its_zone_without_a_tenant_column(
    page: Any,
    log_in: LogIn,
    superuser: User,
    acme: Tenant,
    artifacts: Path,
    page_errors: list[str],
) -> None:
    seed_long_calls(acme, 3)

    log_in("root", PASSWORD, CALLS)
    header = page.locator("#result_list thead th.column-started").text_content() or ""
    assert header.strip() == "Started (Europe/Berlin)"
    assert page.locator("#result_list thead th.column-tenant").count() == 0
    # The agent column does not sort; the whole list offers no "Show all".
    assert page.locator("#result_list thead th.column-agent_display a").count() == 0
    assert page.locator("#changelist-search .cs-show-all").count() == 0
    assert_fits(page)
    page.screenshot(path=str(artifacts / "call-list-superuser-one-tenant.png"), full_page=True)

    page.fill("#searchbar", "+49 157 5865 8647")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state("load")
    assert page.locator("#changelist-search .cs-result-count").inner_text() == (
        "3 calls (Show all)"
    )
    page.click("#changelist-search .cs-show-all")
    page.wait_for_load_state("load")
    assert page.input_value("#searchbar") == ""
    page.screenshot(path=str(artifacts / "call-list-search-show-all.png"), full_page=True)
    assert page_errors == []


def test_transcript_search_marks_the_match_and_runs_no_script(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    calls = seed_long_calls(acme, 3)
    TranscriptTurn.objects.create(
        call=calls[1],
        position=0,
        role="human",
        text='<img src=x onerror="window.__pwned=1"> I was promised a refund last week.',
    )

    log_in("ada", PASSWORD, CALLS)
    page.fill("#cs-filter-transcript", "refund")
    page.locator("#cs-filter-transcript").press("Enter")
    page.wait_for_url("**transcript=refund**")

    marks = page.locator("#result_list td.field-transcript_match mark")
    assert marks.count() == 1
    assert marks.first.inner_text().lower() == "refund"
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#result_list img").count() == 0
    assert_fits(page)
    page.screenshot(path=str(artifacts / "call-list-transcript-snippet.png"), full_page=True)
    assert page_errors == []


def read_download(download: Any) -> list[dict[str, str]]:
    text = Path(download.path()).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_action_and_link_download_the_calls(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    calls = seed_long_calls(acme, 4)

    log_in("ada", PASSWORD, CALLS)
    page.locator("#result_list tbody input.action-select").nth(0).check()
    page.locator("#result_list tbody input.action-select").nth(2).check()
    page.select_option("select[name=action]", "export_selected")
    page.screenshot(path=str(artifacts / "call-list-export-action.png"), full_page=True)
    with page.expect_download() as info:
        page.click("button[name=index]")
    download = info.value
    assert download.suggested_filename.startswith("calls-")
    assert download.suggested_filename.endswith(".csv")
    rows = read_download(download)
    assert [row["call_id"] for row in rows] == [calls[0].call_id, calls[2].call_id]
    assert rows[0]["start_time"].endswith(("+01:00", "+02:00"))  # Berlin time

    with page.expect_download() as info:
        page.click("a.cs-export")
    rows = read_download(info.value)
    assert [row["call_id"] for row in rows] == [c.call_id for c in calls]
    assert page_errors == []


def test_a_dashboard_drill_down_names_its_window_and_zone(
    page: Any, log_in: LogIn, staff: User, acme: Tenant, artifacts: Path, page_errors: list[str]
) -> None:
    seed_dashboard_data(acme, timezone.now())

    log_in("ada", PASSWORD, f"{DASHBOARD}?range=30d")
    page.locator('a.cs-tile[data-tile="completed"]').click()
    page.wait_for_url("**/admin/calls/call/**")

    banner = page.locator(".cs-drill-down")
    assert banner.is_visible()
    text = banner.inner_text()
    assert text.startswith("Calls started ")
    assert "(Europe/Berlin)" in text
    assert "status Completed" in text
    header = page.locator("#result_list thead th.column-started").text_content() or ""
    assert header.strip() == "Started (Europe/Berlin)"
    assert "By date (Europe/Berlin)" in page.locator("#changelist-filter").inner_text()
    assert_fits(page)
    page.screenshot(path=str(artifacts / "call-list-drill-down-banner.png"), full_page=True)

    banner.locator("a.cs-drill-down-clear").click()
    page.wait_for_load_state("load")
    assert page.locator(".cs-drill-down").count() == 0
    assert "start_time__gte" not in page.url
    assert page_errors == []

"""What the dashboard's tiles say about change, and which ratio each rate names.

Counts and averages change in percent of their previous value, rates in percentage points; a
previous window with nothing to compare with says so instead of a percentage; "Active calls now"
(a count at one instant) shows no change at all. The success rate (successful calls / calls) and
the completion rate (completed calls / calls, the voice-platform API's ``success_rate``) carry
different labels wherever they are shown: tiles, tooltips, tables and the OpenAPI schema.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from analytics.dashboard import (
    NO_CALLS_BEFORE,
    Change,
    Scope,
    Tile,
    build_dashboard,
    preset_window,
    rate_change,
    relative_change,
)
from calls.models import Tenant
from tests.analytics.conftest import call, workflow
from tests.analytics.test_dashboard import (  # noqa: F401  (fixtures)
    DASHBOARD,
    NOW,
    fixed_now,
    staff_client,
)

WEEK = timedelta(days=7)


def tiles(tenant: Tenant) -> dict[str, Tile]:
    """The tiles of the tenant's last 7 days ending at ``NOW``."""
    board = build_dashboard(Scope(tenant, preset_window("7d", NOW)), now=NOW)
    return {tile.key: tile for tile in board.tiles}


def shown(change: Change | None) -> tuple[str, str, str]:
    assert change is not None
    return change.display, change.versus, change.trend


# --- The rules, on their own ------------------------------------------------------------------


def test_a_count_changes_in_percent_of_its_previous_value() -> None:
    assert shown(relative_change(12, 8, versus="vs 8", absent="-")) == ("+50.0%", "vs 8", "up")
    assert shown(relative_change(6, 8, versus="vs 8", absent="-")) == (
        "\u221225.0%",
        "vs 8",
        "down",
    )
    assert shown(relative_change(0, 8, versus="vs 8", absent="-")) == (
        "\u2212100%",
        "vs 8",
        "down",
    )


def test_a_large_change_in_percent_drops_the_decimal() -> None:
    # 4,996 against 4: a tenth of a percent of +124,800% says nothing.
    assert relative_change(4996, 4, versus="vs 4", absent="-").display == "+124,800%"
    assert relative_change(8, 4, versus="vs 4", absent="-").display == "+100%"
    assert relative_change(7.996, 4, versus="vs 4", absent="-").display == "+99.9%"


def test_a_rate_changes_in_percentage_points_not_in_percent_of_itself() -> None:
    # 63.1% against 68.1% is 5 points down (as a relative change it would read -7.3%).
    assert shown(rate_change(63.1, 68.1, versus="vs 68.1%", absent="-")) == (
        "\u22125.0 pp",
        "vs 68.1%",
        "down",
    )
    # From 0%: 20 points up, where a relative change would divide by zero.
    assert shown(rate_change(20.0, 0.0, versus="vs 0.0%", absent="-")) == (
        "+20.0 pp",
        "vs 0.0%",
        "up",
    )


def test_nothing_to_compare_with_shows_no_figure_and_no_trend() -> None:
    for change in (
        relative_change(5, 0, versus="vs 0", absent=NO_CALLS_BEFORE),
        relative_change(90.0, None, versus="vs -", absent=NO_CALLS_BEFORE),
        rate_change(60.0, None, versus="vs -", absent=NO_CALLS_BEFORE),
    ):
        assert shown(change) == ("", NO_CALLS_BEFORE, "none")
        assert change.figure is None
    # No calls now, but some before: nothing to show against the previous rate either.
    assert shown(rate_change(None, 50.0, versus="vs 50.0%", absent="-")) == (
        "",
        "vs 50.0%",
        "none",
    )


@pytest.mark.parametrize(
    ("change", "display"),
    [
        (relative_change(100.04, 100, versus="", absent=""), "\u00b10.0%"),
        (relative_change(99.96, 100, versus="", absent=""), "\u00b10.0%"),
        (rate_change(50.04, 50.0, versus="", absent=""), "\u00b10.0 pp"),
        (rate_change(49.96, 50.0, versus="", absent=""), "\u00b10.0 pp"),
    ],
)
def test_the_trend_follows_the_figure_as_shown(change: Change, display: str) -> None:
    # A change that rounds to zero is flat: never a green "+0.0%" or a red "-0.0 pp".
    assert change.display == display
    assert change.trend == "flat"


# --- The tiles ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_tiles_show_counts_in_percent_rates_in_points_and_no_change_for_active_calls(
    tenant: Tenant,
) -> None:
    # This week: 5 calls, 3 successful (60%), 4 completed, 2 positive (40%), 1 live.
    for n in range(5):
        call(
            tenant,
            NOW - timedelta(days=1, hours=n),
            status="completed" if n < 4 else "failed",
            end_call_reason="agent_goodbye" if n < 3 else "max_duration",
            sentiment="positive" if n < 2 else "neutral",
            duration=90,
        )
    call(tenant, NOW - timedelta(minutes=5), status="in-progress")
    # The week before: 4 calls, 2 successful (50%), 2 completed, 3 positive (75%), 60 s each.
    for n in range(4):
        call(
            tenant,
            NOW - WEEK - timedelta(days=1, hours=n),
            status="completed" if n < 2 else "failed",
            end_call_reason="agent_goodbye",
            sentiment="positive" if n < 3 else "neutral",
            duration=60,
        )
    # Live a week ago at this very instant: still no comparison for "Active calls now".
    call(tenant, NOW - WEEK - timedelta(minutes=5), status="in-progress")

    t = tiles(tenant)

    # The live call started this week counts: 6 calls against 5.
    assert shown(t["calls"].change) == ("+20.0%", "vs 5", "up")
    assert shown(t["completed"].change) == ("+100%", "vs 2", "up")
    assert shown(t["minutes"].change) == ("+87.5%", "vs 4.0", "up")  # 7.5 min against 4
    assert shown(t["average_duration"].change) == ("+50.0%", "vs 1:00", "up")
    # 3 of 6 (50.0%) against 2 of 5 (40.0%): 10 points, not +25%.
    assert shown(t["success_rate"].change) == ("+10.0 pp", "vs 40.0%", "up")
    # 2 of 6 (33.3%) against 3 of 5 (60.0%).
    assert shown(t["positive"].change) == ("\u221226.7 pp", "vs 60.0%", "down")
    assert t["active"].value == 1
    assert t["active"].change is None


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_a_previous_window_without_calls_says_so_on_every_tile(tenant: Tenant) -> None:
    call(tenant, NOW - timedelta(days=1), end_call_reason="agent_goodbye", duration=60)

    t = tiles(tenant)

    for key in ("calls", "completed", "success_rate", "minutes", "average_duration", "positive"):
        assert shown(t[key].change) == ("", NO_CALLS_BEFORE, "none"), key
    assert t["active"].change is None


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_a_previous_window_with_calls_but_none_of_a_kind_names_what_it_lacked(
    tenant: Tenant,
) -> None:
    call(tenant, NOW - timedelta(days=1), end_call_reason="agent_goodbye", duration=60)
    # Before: two calls, neither completed nor with a duration, neither successful.
    call(tenant, NOW - WEEK - timedelta(days=1), status="no-answer")
    call(tenant, NOW - WEEK - timedelta(days=2), status="busy")

    t = tiles(tenant)

    assert shown(t["calls"].change) == ("\u221250.0%", "vs 2", "down")
    assert shown(t["completed"].change) == ("", "no completed calls in previous period", "none")
    assert shown(t["minutes"].change) == ("", "no call minutes in previous period", "none")
    assert shown(t["average_duration"].change) == (
        "",
        "no calls with a duration in previous period",
        "none",
    )
    # A rate from 0% is defined: 100 points up.
    assert shown(t["success_rate"].change) == ("+100.0 pp", "vs 0.0%", "up")


# --- The page: labels per ratio, and the change lines as rendered ---------------------------------


def tile_html(text: str, key: str) -> str:
    match = re.search(rf'<a class="cs-tile"[^>]*data-tile="{key}".*?</a>', text, re.S)
    assert match, key
    return match.group(0)


def plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_the_page_names_each_ratio_by_what_it_counts(
    staff_client: Client,  # noqa: F811
    tenant: Tenant,
) -> None:
    daily = workflow(tenant)
    for n in range(4):
        call(
            tenant,
            NOW - timedelta(days=1, hours=n),
            status="completed" if n < 3 else "failed",
            end_call_reason="agent_goodbye" if n < 1 else "max_duration",
            workflow=daily,
        )
    call(tenant, NOW - WEEK - timedelta(days=1), end_call_reason="agent_goodbye")
    call(tenant, NOW - WEEK - timedelta(days=2), end_call_reason="agent_goodbye")

    text = staff_client.get(DASHBOARD, {"range": "7d"}).text

    success = tile_html(text, "success_rate")
    assert "Success rate Successful calls / calls 25.0%" in plain(success)
    # 1 of 4 against 2 of 2: 75 points down.
    assert "\u221275.0 pp vs 100.0%" in plain(success)
    assert "cs-tile-change cs-down" in success
    tooltip = html.unescape(re.search(r'title="([^"]*)"', success).group(1))  # type: ignore[union-attr]
    assert tooltip.startswith("Successful calls / calls. A call is successful when")
    assert "completion rate (completed calls / calls)" in tooltip
    assert "+100% vs 2" in plain(tile_html(text, "calls"))
    # Active calls now has a value and no change line.
    assert "cs-tile-change" not in tile_html(text, "active")
    # The workflow table shows the completion rate, under that name (3 of 4 completed); the
    # agents table (no agents here) and the tiles keep "success rate" for successful / calls.
    workflows = plain(re.search(r'data-card="workflows".*?</section>', text, re.S).group(0))  # type: ignore[union-attr]
    assert "completion rate 75.0% (completed / calls)" in workflows
    assert "success rate" not in workflows.lower()
    assert "percentage points (pp)" in plain(text)


# --- The OpenAPI schema ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema["components"]["schemas"]  # type: ignore[no-any-return]


def test_the_schema_describes_each_success_rate_field_by_its_ratio(
    components: dict[str, Any],
) -> None:
    summary = components["PlatformSummary"]["properties"]["success_rate"]["description"]
    per_workflow = components["PlatformWorkflowStat"]["properties"]["success_rate"]["description"]
    synthflow = components["SynthflowSuccessRate"]["properties"]["success_rate"]["description"]

    for completion in (summary, per_workflow):
        assert completion.startswith("Completed calls / calls (completion rate)")
    assert synthflow.startswith("Successful calls / calls")
    assert "Successful calls / calls" not in summary
    assert "(completion rate)" not in synthflow
    change = components["SynthflowSuccessRate"]["properties"]["percentage_change"]["description"]
    assert "not percentage points" in change


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_a_count_of_one_reads_in_the_singular(tenant: Tenant) -> None:
    call(tenant, NOW - timedelta(minutes=5), status="in-progress")
    call(tenant, NOW - timedelta(days=1), status="completed", duration=60)

    labels = {key: tile.count_label for key, tile in tiles(tenant).items()}

    assert labels["calls"] == "2 calls"
    assert labels["completed"] == "1 completed call"
    assert labels["active"] == "1 live call"


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_the_minutes_tile_and_its_previous_value_show_the_same_decimals(
    staff_client: Client,  # noqa: F811
    tenant: Tenant,
) -> None:
    # 52.7 minutes in the last 7 days against exactly 5 the 7 days before.
    call(tenant, NOW - timedelta(days=1), status="completed", duration=3162)
    call(tenant, NOW - WEEK - timedelta(days=1), status="completed", duration=300)

    text = staff_client.get(DASHBOARD, {"range": "7d"}).text

    minutes = plain(tile_html(text, "minutes"))
    assert "52.7" in minutes
    assert "vs 5.0" in minutes


@pytest.mark.django_db
@pytest.mark.usefixtures("fixed_now")
def test_the_funnel_names_its_engaged_stage_as_its_caption_defines_it(
    staff_client: Client,  # noqa: F811
    tenant: Tenant,
) -> None:
    call(tenant, NOW - timedelta(days=1), status="completed")

    response = staff_client.get(DASHBOARD, {"range": "7d"})

    labels = response.context["dashboard"].charts["funnel"]["labels"]
    card = plain(re.search(r'data-card="funnel".*?</section>', response.text, re.S).group(0))  # type: ignore[union-attr]
    assert labels[1] == "Engaged (completed calls)"
    assert f"Visitors (every call) → {labels[1]} →" in card
    assert "Started Chat" not in response.text

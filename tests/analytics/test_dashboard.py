"""The admin analytics dashboard: its numbers against the REST APIs', tenant scoping, a bounded
number of queries, and drill-down links whose call lists hold exactly the calls counted."""

from __future__ import annotations

import filecmp
import json
import re
import zoneinfo
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.dashboard import (
    DAILY_UP_TO,
    Scope,
    build_dashboard,
    preset_window,
    time_buckets,
)
from analytics.definitions import percentile_cont
from analytics.windows import Window, date_window
from calls.models import Agent, Call, LatencySample, Tenant, TenantMembership
from tests.analytics.conftest import agent, call, lead, utc, workflow

DASHBOARD = "/admin/analytics/dashboard/"
NOW = utc(2026, 3, 10, 12, 0)
ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "analytics/static/analytics/vendor/chart.umd.js"
NPM_PACKAGE = ROOT / "analytics/static_src/node_modules/chart.js/dist/chart.umd.js"

PROVIDERS = (("stt", "deepgram"), ("llm", "openai"), ("tts", "elevenlabs"))
STATUSES = ("completed", "completed", "completed", "failed", "no-answer", "busy", "completed")
REASONS = ("agent_goodbye", "human_goodbye", "max_duration", "", "voicemail", "", "agent_goodbye")
SENTIMENTS = ("positive", "neutral", "positive", "negative", None, None, "positive")


def seed_dashboard_data(tenant: Tenant, now: datetime, *, scale: int = 1, prefix: str = "") -> None:
    """A week of calls before ``now`` (and fewer in the week before it) with agents, workflows,
    latencies, transcripts, leads and live calls: every tile and chart has something to show.
    Deterministic; ``scale`` multiplies the number of calls."""
    jake = agent(tenant, "agent-jake", "Jake", type="outbound")
    mia = agent(tenant, "agent-mia", "Mia", type="inbound")
    daily = workflow(tenant, "daily-call", "Daily Health Check")
    onboarding = workflow(tenant, "onboarding", "Onboarding")
    n = 0
    for day in range(7):
        for slot in range(3 + day % 3):
            for _ in range(scale):
                n += 1
                i = n % len(STATUSES)
                inbound = n % 3 == 0
                status = STATUSES[i]
                call(
                    tenant,
                    now - timedelta(days=day, hours=1 + slot * 5, minutes=n % 50),
                    status=status,
                    agent=mia if inbound else jake,
                    workflow=daily if n % 4 else onboarding,
                    type_of_call="inbound" if inbound else "outbound",
                    channel="phone",
                    duration=None if status == "no-answer" else 40 + (n * 37) % 300,
                    end_call_reason=REASONS[i],
                    sentiment=SENTIMENTS[i],
                    success=False if n % 11 == 0 else None,
                    turns=2,
                    recording_url=f"https://cdn.example.com/rec/{n}.mp3",
                    latencies=[
                        (ptype, pname, 100.0 + (n * 13 + k * 71) % 400)
                        for k, (ptype, pname) in enumerate(PROVIDERS)
                    ],
                    call_id=f"{prefix}c-{n}",
                )
    # The week before: fewer calls, so every change is visible.
    for k in range(8 * scale):
        call(
            tenant,
            now - timedelta(days=7, hours=3 + k * 19),
            status="completed" if k % 2 else "failed",
            agent=jake,
            type_of_call="outbound",
            duration=60,
            end_call_reason="agent_goodbye" if k % 2 else "",
            sentiment="positive" if k % 3 == 0 else "neutral",
            call_id=f"{prefix}p-{k}",
        )
    # Live calls: two active, one stale (started more than two hours ago), one a week ago.
    call(
        tenant,
        now - timedelta(minutes=20),
        status="in-progress",
        agent=jake,
        call_id=f"{prefix}live-1",
    )
    call(tenant, now - timedelta(minutes=5), status="ringing", agent=mia, call_id=f"{prefix}live-2")
    call(tenant, now - timedelta(hours=3), status="in-progress", call_id=f"{prefix}stale-1")
    call(
        tenant, now - timedelta(days=7, minutes=30), status="queue", call_id=f"{prefix}live-before"
    )
    # Leads through the funnel.
    for k in range(6):
        created = now - timedelta(days=1 + k)
        lead(
            tenant,
            created,
            status="qualified" if k < 4 else "new",
            qualified=created + timedelta(hours=2) if k < 4 else None,
            demo=created + timedelta(hours=3) if k < 2 else None,
            converted=created + timedelta(hours=4) if k < 1 else None,
            value=1000 * (k + 1),
            channel="phone",
            source="chat",
        )


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """``timezone.now()`` is ``NOW`` everywhere (dashboard, APIs, admin)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


@pytest.fixture
def data(tenant: Tenant, fixed_now: datetime) -> Tenant:
    seed_dashboard_data(tenant, fixed_now)
    return tenant


@pytest.fixture
def staff_client(tenant: Tenant) -> Client:
    user = User.objects.create_user("ada", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    client = Client()
    client.force_login(user)
    return client


def dashboard(client: Client, **params: Any) -> Any:
    response = client.get(DASHBOARD, params)
    assert response.status_code == 200, response.content[:2000]
    return response.context["dashboard"]


def tiles(board: Any) -> dict[str, Any]:
    return {tile.key: tile for tile in board.tiles}


def figure(tile: Any) -> float:
    """A tile's change figure (percent or percentage points); fails when it has none."""
    assert tile.change is not None and tile.change.figure is not None, tile
    return float(tile.change.figure)


def listed(client: Client, url: str) -> int:
    """How many rows the admin list at ``url`` holds (exact: test data stay far below the
    paginator's cap)."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get("Location"))
    changelist = response.context["cl"]
    assert changelist.paginator.count_is_exact
    return int(changelist.result_count)


def links(spec: dict[str, Any], series: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The drill-down URLs and tooltip notes of a chart series' elements (its own, or those it
    shares through the chart's ``links``)."""
    source = spec["links"][series["links"]] if "links" in series else series
    return source["urls"], source["notes"]


def api(client: APIClient, path: str, **params: Any) -> Any:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


# --- the page ----------------------------------------------------------------------------------


def test_dashboard_is_listed_as_analytics_in_the_admin_index(staff_client: Client) -> None:
    text = staff_client.get(reverse("admin:index")).text

    assert "Analytics" in text
    assert f'href="{DASHBOARD}"' in text


def test_dashboard_renders_tiles_charts_and_the_tenants_time_zone(
    staff_client: Client, data: Tenant
) -> None:
    data.timezone = "Europe/Berlin"
    data.save(update_fields=["timezone"])

    response = staff_client.get(DASHBOARD)

    assert response.status_code == 200
    text = response.text
    assert "Europe/Berlin" in text
    for key in ("calls", "completed", "success_rate", "minutes", "average_duration", "positive"):
        assert f'data-tile="{key}"' in text
    assert 'data-tile="active"' in text
    charts = json.loads(
        re.search(
            r'<script id="cs-dashboard-charts" type="application/json">(.*?)</script>', text
        ).group(1)  # type: ignore[union-attr]
    )
    assert set(charts) == {"volume", "end_reasons", "latency", "agents", "workflows", "funnel"}
    for name, spec in charts.items():
        assert spec["datasets"], name
        assert any(any(v for v in d["data"]) for d in spec["datasets"]), name
        for d in spec["datasets"]:
            urls, _ = links(spec, d)
            assert len(urls) == len(d["data"]) == len(spec["labels"]), name
    for name in charts:
        assert f'data-chart="{name}"' in text
    assert "analytics/vendor/chart.umd.js" in text
    assert "analytics/charts.js" in text


def test_dashboard_charts_a_short_window_per_hour_and_a_long_one_per_day(
    staff_client: Client, data: Tenant
) -> None:
    hourly = dashboard(staff_client, range="24h")
    daily = dashboard(staff_client, range="30d")
    quarter = dashboard(staff_client, range="90d")
    longest_daily = dashboard(staff_client, from_date="2025-12-09", to_date="2026-03-10")

    assert hourly.interval == "hour"
    assert len(hourly.charts["volume"]["labels"]) == 24  # NOW is on the hour
    assert [d["label"] for d in hourly.charts["volume"]["datasets"]] == [
        "completed",
        "failed",
        "other",
    ]
    assert daily.interval == "day"
    assert len(daily.charts["volume"]["labels"]) == 31
    assert quarter.interval == "day"
    assert len(quarter.charts["volume"]["labels"]) == 91
    assert longest_daily.interval == "day"
    assert len(longest_daily.charts["volume"]["labels"]) == DAILY_UP_TO == 92
    assert sum(sum(d["data"]) for d in daily.charts["volume"]["datasets"]) == (
        tiles(daily)["calls"].count
    )


def test_a_range_longer_than_a_quarter_is_charted_per_local_week(
    staff_client: Client, data: Tenant
) -> None:
    # 93 local days, Tuesday 2025-12-09 to Wednesday 2026-03-11: weeks run Monday to Sunday,
    # and the first and last keep only their days inside the range.
    board = dashboard(staff_client, from_date="2025-12-09", to_date="2026-03-11")
    volume = board.charts["volume"]

    assert board.interval == "week"
    assert len(volume["labels"]) == 14
    assert volume["labels"][0] == "Dec 09\u2013Dec 14"
    assert volume["labels"][1] == "Dec 15\u2013Dec 21"
    assert volume["labels"][-1] == "Mar 09\u2013Mar 11"
    assert sum(sum(d["data"]) for d in volume["datasets"]) == tiles(board)["calls"].count > 0
    # Per week, the bars add up to the calls of that week's days.
    daily = dashboard(staff_client, from_date="2026-03-02", to_date="2026-03-08").charts["volume"]
    week_of_march_2 = volume["labels"].index("Mar 02\u2013Mar 08")
    for series in volume["datasets"]:
        same = next((d for d in daily["datasets"] if d["label"] == series["label"]), None)
        assert series["data"][week_of_march_2] == (sum(same["data"]) if same else 0)
    # Latency follows the same weeks: a week's percentiles are those of all its samples.
    assert board.latency_interval == "week"
    latency = board.charts["latency"]
    assert latency["labels"] == volume["labels"]
    week = date_window(date(2026, 3, 2), date(2026, 3, 8), data.zone)
    checked = 0
    for series in latency["datasets"]:
        provider, label = series["label"].rsplit(" ", 1)
        ptype, name = provider.split(" · ")
        values = sorted(
            LatencySample.objects.filter(
                tenant=data,
                provider_type=ptype,
                provider_name=name,
                start_time__gte=week.start,
                start_time__lt=week.end,
            ).values_list("latency_ms", flat=True)
        )
        point = series["data"][week_of_march_2]
        if not values:
            assert point is None
            continue
        expected = percentile_cont(values, int(label[1:]) / 100)
        assert point == pytest.approx(expected, rel=0.011, abs=0.1)
        checked += 1
    assert checked


def test_every_weekly_bar_drills_down_to_exactly_its_calls(
    staff_client: Client, data: Tenant
) -> None:
    data.timezone = "Europe/Berlin"
    data.save(update_fields=["timezone"])
    board = dashboard(staff_client, from_date="2025-11-11", to_date="2026-03-10")
    volume = board.charts["volume"]

    assert board.interval == "week"
    assert len(volume["labels"]) == 18
    last_week = urlsplit(volume["datasets"][0]["urls"][-1]).query
    # Monday 2026-03-09 00:00 in Berlin to the end of the range (Wednesday 00:00).
    assert "start_time__gte=2026-03-08T23%3A00%3A00Z" in last_week
    assert "start_time__lt=2026-03-10T23%3A00%3A00Z" in last_week
    checked = 0
    for series in volume["datasets"]:
        for value, url in zip(series["data"], series["urls"], strict=True):
            if value:
                assert listed(staff_client, url) == value, (series["label"], url)
                checked += 1
    assert checked > len(volume["datasets"])  # several weeks per status
    empty = next(
        url
        for value, url in zip(
            volume["datasets"][0]["data"], volume["datasets"][0]["urls"], strict=True
        )
        if not value
    )
    assert listed(staff_client, empty) == 0


def test_week_buckets_cover_the_window_once_across_a_dst_change() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    # Wednesday 2026-03-25 to Thursday 2026-04-02; clocks go forward on Sunday 2026-03-29.
    window = date_window(date(2026, 3, 25), date(2026, 4, 2), berlin)

    buckets = time_buckets(window, berlin, "week")

    assert [b.label for b in buckets] == ["Mar 25\u2013Mar 29", "Mar 30\u2013Apr 02"]
    assert [len(b.days) for b in buckets] == [5, 4]
    assert buckets[0].window == Window(utc(2026, 3, 24, 23), utc(2026, 3, 29, 22))
    assert buckets[1].window == Window(utc(2026, 3, 29, 22), utc(2026, 4, 2, 22))
    assert buckets[-1].window.end == window.end
    assert [b.label for b in time_buckets(window, berlin, "day")][3:6] == [
        "Mar 28",
        "Mar 29",
        "Mar 30",
    ]


def test_custom_range_is_whole_local_days_of_the_tenant(staff_client: Client, data: Tenant) -> None:
    data.timezone = "America/New_York"
    data.save(update_fields=["timezone"])

    board = dashboard(staff_client, from_date="2026-03-06", to_date="2026-03-08")

    # 2026-03-08 is the spring-forward day in New York: 23 hours.
    assert board.scope.window.start == utc(2026, 3, 6, 5)
    assert board.scope.window.end == utc(2026, 3, 9, 4)
    assert board.interval == "day"
    assert board.charts["volume"]["labels"] == ["Mar 06", "Mar 07", "Mar 08"]
    assert (
        "Mar 6, 2026 00:00 \u2013 Mar 9, 2026 00:00"
        in staff_client.get(DASHBOARD, {"from_date": "2026-03-06", "to_date": "2026-03-08"}).text
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "custom", "from_date": "2026-03-07"}, "needs both a from and a to date"),
        ({"from_date": "2026-03-08", "to_date": "2026-03-07"}, "before the from date"),
        ({"from_date": "2024-01-01", "to_date": "2026-03-07"}, "at most 366 days"),
        ({"range": "5y"}, "Select a valid choice"),
        ({"from_date": "yesterday", "to_date": "2026-03-07"}, "Enter a valid date"),
    ],
)
def test_a_bad_range_is_a_400_that_says_why(
    staff_client: Client, tenant: Tenant, params: dict[str, str], message: str
) -> None:
    response = staff_client.get(DASHBOARD, params)

    assert response.status_code == 400
    assert message in response.text
    assert "dashboard" not in response.context


# --- the numbers are the APIs' -----------------------------------------------------------------


def test_tiles_and_charts_equal_the_apis_over_the_same_window(
    staff_client: Client, api_client: APIClient, data: Tenant
) -> None:
    board = dashboard(staff_client, range="7d")
    window = {"started_after": "2026-03-03T12:00:00Z", "started_before": "2026-03-10T12:00:00Z"}
    synthflow_window = {"from_date": window["started_after"], "to_date": window["started_before"]}
    summary = api(api_client, "/api/v1/analytics/summary", **window)
    synthflow = api(api_client, "/v2/analytics/", **synthflow_window)
    t = tiles(board)

    assert (
        t["calls"].value == summary["total_calls"] == synthflow["duration_metrics"]["total_calls"]
    )
    assert t["completed"].value == summary["completed_calls"]
    assert t["average_duration"].value == pytest.approx(summary["avg_duration_seconds"])
    assert t["active"].value == summary["active_calls"] == 2
    assert t["minutes"].value == pytest.approx(synthflow["duration_metrics"]["total_minutes"])
    assert t["positive"].value == pytest.approx(
        synthflow["sentiment_stat"]["positive_percentage"], abs=0.005
    )
    # Counts change against the previous 7 days in percent, as the Synthflow API computes them.
    metrics = synthflow["duration_metrics"]
    assert round(figure(t["calls"]), 2) == metrics["total_calls_percentage_change"]
    assert round(figure(t["minutes"]), 2) == metrics["total_minutes_percentage_change"]
    completed = next(
        s for s in synthflow["call_status_stat"]["items"] if s["status"] == "completed"
    )
    assert t["completed"].value == completed["value"]
    assert round(figure(t["completed"]), 2) == completed["percentage_change"]
    # A rate changes in percentage points: the difference of the two windows' rates.
    before = api(
        api_client,
        "/v2/analytics/",
        from_date="2026-02-24T12:00:00Z",
        to_date=synthflow_window["from_date"],
    )["sentiment_stat"]["positive_percentage"]
    assert figure(t["positive"]) == pytest.approx(
        synthflow["sentiment_stat"]["positive_percentage"] - before, abs=0.01
    )
    assert t["positive"].change.unit == "pp"
    # Charts.
    reasons = {i["reason"]: i["value"] for i in synthflow["end_call_reason_stat"]["items"]}
    end_reasons = board.charts["end_reasons"]
    assert dict(zip(end_reasons["labels"], end_reasons["datasets"][0]["data"], strict=True)) == (
        reasons
    )
    by_calls = {
        a["name"]: a["calls_made"] for a in synthflow["assistant_performance"]["by_calls_made"]
    }
    agents = board.charts["agents"]
    assert dict(zip(agents["labels"], agents["datasets"][0]["data"], strict=True)) == by_calls
    workflow_stats = api(api_client, "/api/v1/analytics/workflow-stats", **window, limit=10)
    workflows = board.charts["workflows"]
    assert dict(zip(workflows["labels"], workflows["datasets"][0]["data"], strict=True)) == {
        w["workflow_name"]: w["total_calls"] for w in workflow_stats
    }
    # Daily volume per status, against the Synthflow status series (UTC tenant: same days).
    volume = board.charts["volume"]
    series = synthflow["call_status_stat"]["series"]
    assert len(volume["labels"]) == len(series) == 8
    for status_data in volume["datasets"]:
        assert status_data["data"] == [day[status_data["label"]] for day in series]


def test_hourly_volume_equals_the_call_volume_api(
    staff_client: Client, api_client: APIClient, data: Tenant
) -> None:
    board = dashboard(staff_client, range="24h")
    hours = api(api_client, "/api/v1/analytics/call-volume", period="24h", interval="hour")["data"]
    completed, failed, other = board.charts["volume"]["datasets"]

    assert completed["data"] == [h["completed"] for h in hours]
    assert failed["data"] == [h["failed"] for h in hours]
    assert [
        c + f + o for c, f, o in zip(completed["data"], failed["data"], other["data"], strict=True)
    ] == [h["total"] for h in hours]


def test_agent_and_type_filters_equal_the_synthflow_apis(
    staff_client: Client, api_client: APIClient, data: Tenant
) -> None:
    mia = Agent.objects.get(tenant=data, model_id="agent-mia")
    window = {"from_date": "2026-03-03T12:00:00Z", "to_date": "2026-03-10T12:00:00Z"}

    board = dashboard(staff_client, range="7d", agent=mia.pk)
    synthflow = api(api_client, "/v2/analytics/", model_id="agent-mia", **window)
    rate = synthflow["assistant_performance"]["by_success_rate"][0]
    assert rate["model_id"] == "agent-mia"
    assert tiles(board)["success_rate"].value == pytest.approx(rate["success_rate"])
    assert tiles(board)["calls"].value == synthflow["duration_metrics"]["total_calls"]

    typed = dashboard(staff_client, range="7d", type="inbound")
    inbound = api(api_client, "/v2/analytics/", type_of_call="inbound", **window)
    assert tiles(typed)["calls"].value == inbound["duration_metrics"]["total_calls"] > 0
    assert tiles(typed)["minutes"].value == pytest.approx(
        inbound["duration_metrics"]["total_minutes"]
    )


def test_funnel_and_latency_equal_the_apis_over_whole_days(
    staff_client: Client, api_client: APIClient, data: Tenant
) -> None:
    board = dashboard(staff_client, from_date="2026-03-08", to_date="2026-03-08")
    funnel = api(
        api_client, "/api/v1/analytics/funnel", startDate="2026-03-08", endDate="2026-03-08"
    )
    latency = api(
        api_client,
        "/api/v1/analytics/provider-latency",
        started_after="2026-03-08T00:00:00Z",
        started_before="2026-03-09T00:00:00Z",
    )

    chart = board.charts["funnel"]
    # The same stages; the dashboard names the second by what it counts.
    assert chart["labels"] == [
        "Engaged (completed calls)" if i == 1 else s["name"] for i, s in enumerate(funnel["stages"])
    ]
    assert chart["datasets"][0]["data"] == [s["count"] for s in funnel["stages"]]
    # One day: the daily percentiles are the window's.
    lines = {d["label"]: d["data"] for d in board.charts["latency"]["datasets"]}
    assert latency
    for row in latency:
        name = f"{row['provider_type']} · {row['provider_name']}"
        assert lines[f"{name} p50"] == [pytest.approx(row["p50_latency_ms"], abs=0.06)]
        assert lines[f"{name} p95"] == [pytest.approx(row["p95_latency_ms"], abs=0.06)]
        assert lines[f"{name} p99"] == [pytest.approx(row["p99_latency_ms"], abs=0.06)]


# --- drill-down --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["superuser", "tenant staff"])
def test_every_tile_drills_down_to_exactly_the_calls_it_counts(
    who: str, admin_client: Client, staff_client: Client, data: Tenant, other_tenant: Tenant
) -> None:
    # Another tenant's calls in the same window must not leak into a superuser's list.
    seed_dashboard_data(other_tenant, NOW)
    client = admin_client if who == "superuser" else staff_client

    for params in ({"range": "7d"}, {"range": "24h", "type": "outbound"}):
        board = dashboard(client, tenant=data.pk, **params)
        for tile in board.tiles:
            assert tile.count > 0, tile.key
            assert listed(client, tile.url) == tile.count, (params, tile.key, tile.url)


def test_every_chart_element_drills_down_to_exactly_its_calls(
    staff_client: Client, data: Tenant
) -> None:
    board = dashboard(staff_client, range="7d")

    for name in ("volume", "end_reasons", "agents", "workflows"):
        for series in board.charts[name]["datasets"]:
            for value, url in zip(series["data"], series["urls"], strict=True):
                assert listed(staff_client, url) == value, (name, series["label"], url)
    funnel = board.charts["funnel"]["datasets"][0]
    for value, url in zip(funnel["data"], funnel["urls"], strict=True):
        assert listed(staff_client, url) == value, url
    assert "/admin/calls/lead/" in funnel["urls"][-1]
    # A latency point opens the calls with samples from that provider on that day.
    checked = 0
    latency = board.charts["latency"]
    for series in latency["datasets"]:
        urls, notes = links(latency, series)
        for note, url in zip(notes, urls, strict=True):
            if url:
                calls = int(note.split(" calls")[0].replace(",", ""))
                assert listed(staff_client, url) == calls
                checked += 1
    assert checked


def test_hourly_chart_elements_drill_down_to_exactly_their_calls(
    staff_client: Client, data: Tenant
) -> None:
    board = dashboard(staff_client, range="24h", agent=Agent.objects.get(model_id="agent-jake").pk)

    for series in board.charts["volume"]["datasets"]:
        for value, url in zip(series["data"], series["urls"], strict=True):
            if value:
                assert listed(staff_client, url) == value, (series["label"], url)


def test_drill_down_links_carry_exact_instants(staff_client: Client, data: Tenant) -> None:
    url = tiles(dashboard(staff_client, range="7d"))["completed"].url

    query = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))
    assert query["start_time__gte"] == "2026-03-03T12%3A00%3A00Z"
    assert query["start_time__lt"] == "2026-03-10T12%3A00%3A00Z"
    assert query["status__exact"] == "completed"
    assert query["tenant__id__exact"] == str(data.pk)


def test_successful_filter_uses_the_one_definition(staff_client: Client, tenant: Tenant) -> None:
    start = utc(2026, 3, 1, 10)
    call(tenant, start, success=True, status="failed", call_id="said-yes")
    call(tenant, start, end_call_reason="agent_goodbye", call_id="derived-yes")
    call(tenant, start, end_call_reason="max_duration", call_id="derived-no")
    call(tenant, start, success=False, end_call_reason="agent_goodbye", call_id="said-no")
    changelist = reverse("admin:calls_call_changelist")

    yes = staff_client.get(changelist, {"successful": "yes"}).context["cl"].result_list
    no = staff_client.get(changelist, {"successful": "no"}).context["cl"].result_list

    assert {c.call_id for c in yes} == {"said-yes", "derived-yes"}
    assert {c.call_id for c in no} == {"derived-no", "said-no"}


def test_active_filter_rejects_a_malformed_instant(staff_client: Client, tenant: Tenant) -> None:
    call(tenant, utc(2026, 3, 1, 10), call_id="c-1")

    response = staff_client.get(reverse("admin:calls_call_changelist"), {"active_at": "soon"})

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


# --- scoping -----------------------------------------------------------------------------------


def test_tenant_staff_see_only_their_tenants_dashboard(
    staff_client: Client, data: Tenant, other_tenant: Tenant
) -> None:
    call(other_tenant, NOW - timedelta(hours=1), call_id="globex-1")

    own = staff_client.get(DASHBOARD)
    assert own.status_code == 200
    assert own.context["tenant"] == data
    assert "Globex" not in own.text
    assert staff_client.get(DASHBOARD, {"tenant": other_tenant.pk}).status_code == 404
    assert staff_client.get(DASHBOARD, {"tenant": "nonsense"}).status_code == 404


def test_staff_of_several_tenants_choose_among_theirs(
    tenant: Tenant, other_tenant: Tenant, fixed_now: datetime
) -> None:
    third = Tenant.objects.create(name="Initech", slug="initech")
    user = User.objects.create_user("bo", password="x", is_staff=True)
    TenantMembership.objects.create(tenant=tenant, user=user)
    TenantMembership.objects.create(tenant=other_tenant, user=user)
    client = Client()
    client.force_login(user)

    response = client.get(DASHBOARD, {"tenant": other_tenant.pk})

    assert response.status_code == 200
    assert response.context["tenant"] == other_tenant
    assert [t.name for t in response.context["tenants"]] == ["Acme", "Globex"]
    assert client.get(DASHBOARD, {"tenant": third.pk}).status_code == 404


def test_superuser_picks_any_tenant(
    admin_client: Client, data: Tenant, other_tenant: Tenant
) -> None:
    call(other_tenant, NOW - timedelta(hours=1), call_id="globex-1")

    default = admin_client.get(DASHBOARD)
    picked = admin_client.get(DASHBOARD, {"tenant": other_tenant.pk, "range": "24h"})

    assert default.context["tenant"] == data  # the first by name
    assert picked.context["tenant"] == other_tenant
    assert tiles(picked.context["dashboard"])["calls"].value == 1
    assert 'name="tenant"' in picked.text and "Globex" in picked.text


def test_an_agent_of_another_tenant_is_refused(
    staff_client: Client, data: Tenant, other_tenant: Tenant
) -> None:
    foreign = agent(other_tenant, "agent-x", "Xavier")

    response = staff_client.get(DASHBOARD, {"agent": foreign.pk})

    assert response.status_code == 400
    assert "Xavier" not in response.text


def test_staff_without_a_membership_and_anonymous_users_see_no_dashboard(
    client: Client, tenant: Tenant
) -> None:
    assert client.get(DASHBOARD).status_code == 302  # to the login page
    loner = User.objects.create_user("lone", password="x", is_staff=True)
    client.force_login(loner)

    assert client.get(DASHBOARD).status_code == 403
    assert f'href="{DASHBOARD}"' not in client.get(reverse("admin:index")).text


# --- speed -------------------------------------------------------------------------------------


def test_dashboard_issues_a_fixed_number_of_queries(
    staff_client: Client,
    tenant: Tenant,
    fixed_now: datetime,
    django_assert_max_num_queries: Any,
) -> None:
    def queries_for(params: dict[str, Any]) -> int:
        # About 20 today (session, user, memberships, tenants, agents, then the dashboard's
        # own); room is left for the rollup reads each fact may add. The claim that matters is
        # below: the count does not grow with the data.
        with django_assert_max_num_queries(40) as captured:
            assert staff_client.get(DASHBOARD, params).status_code == 200
        return len(captured.captured_queries)

    seed_dashboard_data(tenant, fixed_now)
    mia = Agent.objects.get(tenant=tenant, model_id="agent-mia")
    small = {
        label: queries_for(params)
        for label, params in {
            "7d": {"range": "7d"},
            "24h": {"range": "24h"},
            "90d filtered": {"range": "90d", "agent": mia.pk, "type": "inbound"},
            "a year, weekly": {"from_date": "2025-03-11", "to_date": "2026-03-10"},
        }.items()
    }
    seed_dashboard_data(tenant, fixed_now - timedelta(days=30), scale=3, prefix="more-")
    seed_dashboard_data(tenant, fixed_now, scale=2, prefix="again-")
    large = {
        "7d": queries_for({"range": "7d"}),
        "24h": queries_for({"range": "24h"}),
        "90d filtered": queries_for({"range": "90d", "agent": mia.pk, "type": "inbound"}),
        "a year, weekly": queries_for({"from_date": "2025-03-11", "to_date": "2026-03-10"}),
    }

    assert large == small


def test_building_the_dashboard_reads_no_row_twice(
    tenant: Tenant, fixed_now: datetime, django_assert_max_num_queries: Any
) -> None:
    seed_dashboard_data(tenant, fixed_now)
    scope = Scope(tenant=tenant, window=preset_window("30d", fixed_now))

    # Call facts (by status and end reason, of the previous window, by agent, by workflow),
    # latency (percentiles and totals), lead stages (one query each), agent and workflow names,
    # active calls now and one window ago: 14 from raw rows, plus room for the rollup reads each
    # fact may add.
    with django_assert_max_num_queries(30):
        build_dashboard(scope, now=fixed_now)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # SET LOCAL must end with a real transaction
def test_the_dashboard_is_built_without_jit_compilation(
    tenant: Tenant, fixed_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import connection

    import analytics.queries.dashboard

    def jit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            return str(cursor.fetchone()[0])

    seen = []
    facts = analytics.queries.dashboard.call_facts

    def recording_facts(**kwargs: Any) -> Any:
        seen.append(jit())
        return facts(**kwargs)

    monkeypatch.setattr(analytics.queries.dashboard, "call_facts", recording_facts)
    seed_dashboard_data(tenant, fixed_now)
    before = jit()

    build_dashboard(Scope(tenant=tenant, window=preset_window("7d", fixed_now)), now=fixed_now)

    assert seen and set(seen) == {"off"}
    assert jit() == before


# --- the call page -----------------------------------------------------------------------------


def test_call_page_draws_its_latency_samples(staff_client: Client, data: Tenant) -> None:
    target = Call.objects.get(tenant=data, call_id="c-1")

    text = staff_client.get(reverse("admin:calls_call_change", args=[target.pk])).text

    spec = json.loads(
        re.search(
            rf'<script id="cs-latency-{target.pk}" type="application/json">(.*?)</script>', text
        ).group(1)  # type: ignore[union-attr]
    )["latency"]
    assert [d["label"] for d in spec["datasets"]] == [
        "stt (deepgram)",
        "llm (openai)",
        "tts (elevenlabs)",
    ]
    assert all(len(d["data"]) == 1 for d in spec["datasets"])
    assert 'data-chart="latency"' in text
    assert "analytics/vendor/chart.umd.js" in text


# --- the vendored chart library ----------------------------------------------------------------


def test_vendored_chart_js_is_the_npm_packages_file() -> None:
    assert VENDORED.is_file()
    assert VENDORED.read_text(encoding="utf-8").startswith("/*!\n * Chart.js v4.6.1")
    if not NPM_PACKAGE.is_file():
        pytest.skip("analytics/static_src/node_modules is not installed (make static)")
    assert filecmp.cmp(VENDORED, NPM_PACKAGE, shallow=False)


def test_the_pinned_version_is_exact_and_locked() -> None:
    package = json.loads((ROOT / "analytics/static_src/package.json").read_text())
    lock = json.loads((ROOT / "analytics/static_src/package-lock.json").read_text())

    pinned = package["dependencies"]["chart.js"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    assert lock["packages"]["node_modules/chart.js"]["version"] == pinned


def _chart_points(board: Any) -> dict[tuple[str, str, int], Any]:
    """Every chart value and tile count of a dashboard, by (chart, series label, position)."""
    points: dict[tuple[str, str, int], Any] = {
        ("tile", name, 0): tile.count for name, tile in tiles(board).items()
    }
    for chart_name, spec in board.charts.items():
        for series in spec["datasets"]:
            for i, value in enumerate(series["data"]):
                points[(chart_name, series["label"], i)] = value
    return points


@pytest.mark.parametrize(
    "params",
    [{"range": "7d"}, {"range": "90d"}, {"from_date": "2025-12-09", "to_date": "2026-03-11"}],
    ids=["7d", "90d", "93 days, weekly"],
)
def test_the_dashboard_shows_the_same_from_rollups_as_from_raw_rows(
    staff_client: Client, data: Tenant, params: dict[str, str]
) -> None:
    from analytics import rollups
    from analytics.facts import raw_only
    from analytics.windows import local_date

    with raw_only():
        raw = _chart_points(dashboard(staff_client, **params))
    earliest = Call.objects.filter(tenant=data).earliest("start_time").start_time
    first = local_date(earliest, data.zone)
    rollups.roll_days(tenant_id=data.pk, first=first, last=local_date(NOW, data.zone))
    rolled = _chart_points(dashboard(staff_client, **params))

    assert rolled.keys() == raw.keys()
    for key, value in raw.items():
        if key[0] == "latency" and value is not None:
            # Percentiles from stored histograms (day or week rows): within 1%.
            assert rolled[key] == pytest.approx(value, rel=0.011, abs=0.1), key
        else:
            assert rolled[key] == value, key


def test_chart_json_escapes_like_json_script_and_round_trips() -> None:
    from analytics.templatetags.dashboard_json import chart_json

    value = {"label": "</script><b>Q&A</b>", "urls": ["/admin/?a=1&b=2"], "n": [1, 2.5, None]}

    html = chart_json(value, "cs-x")

    assert html.startswith('<script id="cs-x" type="application/json">')
    body = html.removeprefix('<script id="cs-x" type="application/json">').removesuffix("</script>")
    assert "<" not in body and ">" not in body and "&" not in body
    assert json.loads(body) == value

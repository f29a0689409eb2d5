"""Tenant-local days and buckets: non-UTC zones, DST changes, fractional offsets."""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from analytics.windows import (
    Window,
    WindowError,
    day_start,
    hour_starts,
    local_days,
    resolve_zone,
)
from calls.models import Tenant
from config.api.params import QueryValueError, parse_instant
from tests.analytics.conftest import call, lead, utc

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_berlin_spring_forward_day_is_23_hours() -> None:
    assert day_start(date(2026, 3, 29), BERLIN) == utc(2026, 3, 28, 23)
    assert day_start(date(2026, 3, 30), BERLIN) == utc(2026, 3, 29, 22)


def test_new_york_fall_back_day_is_25_hours() -> None:
    assert day_start(date(2026, 11, 1), NEW_YORK) == utc(2026, 11, 1, 4)
    assert day_start(date(2026, 11, 2), NEW_YORK) == utc(2026, 11, 2, 5)


def test_nonexistent_local_midnight_starts_the_day_at_the_jump() -> None:
    # Santiago springs forward at 00:00 → 01:00 on 2026-09-06.
    santiago = zoneinfo.ZoneInfo("America/Santiago")
    start = day_start(date(2026, 9, 6), santiago)
    assert start == utc(2026, 9, 6, 4)
    assert start.astimezone(santiago).hour == 1


def test_local_days_of_a_window() -> None:
    window = Window(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert local_days(window, BERLIN) == [date(2026, 3, 29)]
    assert local_days(Window(utc(2026, 3, 1), utc(2026, 3, 1)), BERLIN) == []


def test_hour_starts_keep_the_repeated_hour() -> None:
    window = Window(utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))
    assert hour_starts(window, NEW_YORK) == [utc(2026, 11, 1, h) for h in (4, 5, 6, 7)]


def test_parse_instant() -> None:
    assert parse_instant("2026-03-01T10:00:00", BERLIN) == utc(2026, 3, 1, 10)
    assert parse_instant("2026-03-01T10:00:00Z", BERLIN) == utc(2026, 3, 1, 10)
    assert parse_instant("2026-03-01T10:00:00+02:00", BERLIN) == utc(2026, 3, 1, 8)
    # A bare date is the start of that local day.
    assert parse_instant("2026-03-01", BERLIN) == utc(2026, 2, 28, 23)
    for bad in ("yesterday", "2026-13-01T00:00:00", "", "1066-10-14T09:00:00Z"):
        with pytest.raises(QueryValueError):
            parse_instant(bad, BERLIN)


def test_resolve_zone_refuses_non_iana_names() -> None:
    assert resolve_zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Olympus", "../etc/passwd", "", "+01:00", "europe/berlin"):
        with pytest.raises(WindowError):
            resolve_zone(bad)


def test_synthflow_days_follow_the_tenant_zone_across_dst(
    api_client: APIClient, berlin: Tenant
) -> None:
    call(berlin, utc(2026, 3, 28, 22, 59), duration=60)  # 03-28 23:59 CET
    call(berlin, utc(2026, 3, 28, 23, 30), duration=60)  # 03-29 00:30 CET
    call(berlin, utc(2026, 3, 29, 21, 59), duration=60)  # 03-29 23:59 CEST
    call(berlin, utc(2026, 3, 29, 22, 0), duration=60)  # 03-30 00:00 CEST
    body = api_client.get(
        "/v2/analytics/",
        {"from_date": "2026-03-28T00:00:00+01:00", "to_date": "2026-03-31T00:00:00+02:00"},
    ).json()
    assert body["meta"]["timezone"] == "Europe/Berlin"
    assert [(p["date"], p["total_calls"]) for p in body["duration_metrics"]["series"]] == [
        ("2026-03-28", 1),
        ("2026-03-29", 2),
        ("2026-03-30", 1),
    ]


def test_timezone_parameter_overrides_the_tenants(api_client: APIClient, berlin: Tenant) -> None:
    call(berlin, utc(2026, 3, 28, 23, 30))  # 03-29 in Berlin, 03-28 in UTC
    body = api_client.get(
        "/v2/analytics/",
        {"from_date": "2026-03-28T00:00:00Z", "to_date": "2026-03-30T00:00:00Z", "timezone": "UTC"},
    ).json()
    assert [(p["date"], p["total_calls"]) for p in body["duration_metrics"]["series"]] == [
        ("2026-03-28", 1),
        ("2026-03-29", 0),
    ]


def test_call_volume_days_across_berlin_spring_forward(
    api_client: APIClient, berlin: Tenant
) -> None:
    call(berlin, utc(2026, 3, 28, 22, 59))  # 03-28
    call(berlin, utc(2026, 3, 28, 23, 0))  # 03-29 00:00 CET
    call(berlin, utc(2026, 3, 29, 21, 59), status="failed")  # 03-29 23:59 CEST
    call(berlin, utc(2026, 3, 29, 22, 0))  # 03-30
    body = api_client.get(
        "/api/v1/analytics/call-volume",
        {
            "interval": "day",
            "started_after": "2026-03-28T00:00:00+01:00",
            "started_before": "2026-03-31T00:00:00+02:00",
        },
    ).json()
    assert body["data"] == [
        {"timestamp": "2026-03-28T00:00:00+01:00", "total": 1, "completed": 1, "failed": 0},
        {"timestamp": "2026-03-29T00:00:00+01:00", "total": 2, "completed": 1, "failed": 1},
        {"timestamp": "2026-03-30T00:00:00+02:00", "total": 1, "completed": 1, "failed": 0},
    ]


def test_call_volume_hours_across_new_york_fall_back(api_client: APIClient, tenant: Tenant) -> None:
    tenant.timezone = "America/New_York"
    tenant.save()
    call(tenant, utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    call(tenant, utc(2026, 11, 1, 6, 30), status="failed")  # 01:30 EST, the repeated hour
    call(tenant, utc(2026, 11, 1, 6, 59))
    body = api_client.get(
        "/api/v1/analytics/call-volume",
        {"started_after": "2026-11-01T04:00:00Z", "started_before": "2026-11-01T08:00:00Z"},
    ).json()
    assert body["interval"] == "hour"
    assert body["data"] == [
        {"timestamp": "2026-11-01T00:00:00-04:00", "total": 0, "completed": 0, "failed": 0},
        {"timestamp": "2026-11-01T01:00:00-04:00", "total": 1, "completed": 1, "failed": 0},
        {"timestamp": "2026-11-01T01:00:00-05:00", "total": 2, "completed": 1, "failed": 1},
        {"timestamp": "2026-11-01T02:00:00-05:00", "total": 0, "completed": 0, "failed": 0},
    ]


def test_call_volume_days_across_new_york_fall_back(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 11, 2, 4, 30))  # 11-01 23:30 EST: the 25-hour day
    call(tenant, utc(2026, 11, 2, 5, 0))  # 11-02 00:00 EST
    body = api_client.get(
        "/api/v1/analytics/call-volume",
        {
            "interval": "day",
            "timezone": "America/New_York",
            "started_after": "2026-11-01T00:00:00-04:00",
            "started_before": "2026-11-03T00:00:00-05:00",
        },
    ).json()
    assert [(p["timestamp"], p["total"]) for p in body["data"]] == [
        ("2026-11-01T00:00:00-04:00", 1),
        ("2026-11-02T00:00:00-05:00", 1),
    ]


def test_call_volume_hours_in_a_half_hour_zone(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 2, 28, 18, 45))  # 00:15 IST
    call(tenant, utc(2026, 2, 28, 19, 29))  # 00:59 IST
    call(tenant, utc(2026, 2, 28, 19, 30))  # 01:00 IST
    body = api_client.get(
        "/api/v1/analytics/call-volume",
        {
            "timezone": "Asia/Kolkata",
            "started_after": "2026-03-01T00:00:00+05:30",
            "started_before": "2026-03-01T03:00:00+05:30",
        },
    ).json()
    assert [(p["timestamp"], p["total"]) for p in body["data"]] == [
        ("2026-03-01T00:00:00+05:30", 2),
        ("2026-03-01T01:00:00+05:30", 1),
        ("2026-03-01T02:00:00+05:30", 0),
    ]


def test_call_volume_weeks_start_on_local_mondays(api_client: APIClient, berlin: Tenant) -> None:
    call(berlin, utc(2026, 3, 22, 22, 59))  # Sunday 03-22 23:59 CET: week of 03-16
    call(berlin, utc(2026, 3, 22, 23, 0))  # Monday 03-23 00:00 CET: week of 03-23
    call(berlin, utc(2026, 3, 29, 22, 30))  # Monday 03-30 00:30 CEST: week of 03-30
    body = api_client.get(
        "/api/v1/analytics/call-volume",
        {
            "interval": "week",
            "started_after": "2026-03-20T00:00:00Z",
            "started_before": "2026-04-01T00:00:00Z",
        },
    ).json()
    assert [(p["timestamp"], p["total"]) for p in body["data"]] == [
        ("2026-03-16T00:00:00+01:00", 1),
        ("2026-03-23T00:00:00+01:00", 1),
        ("2026-03-30T00:00:00+02:00", 1),
    ]


def test_sales_dates_are_tenant_local_days(api_client: APIClient, berlin: Tenant) -> None:
    call(berlin, utc(2026, 3, 28, 22, 59))  # 03-28 23:59 local: out
    call(berlin, utc(2026, 3, 28, 23, 0))  # 03-29 00:00 local: in
    call(berlin, utc(2026, 3, 29, 21, 59))  # 03-29 23:59 CEST: in (endDate is included)
    call(berlin, utc(2026, 3, 29, 22, 0))  # 03-30 00:00 CEST: out
    lead(berlin, utc(2026, 3, 29, 21, 30), qualified=utc(2026, 3, 29, 22, 30))
    body = api_client.get(
        "/api/v1/analytics/overview", {"startDate": "2026-03-29", "endDate": "2026-03-29"}
    ).json()
    assert body["summary"]["totalConversations"] == 2
    assert body["summary"]["totalLeads"] == 1
    assert body["summary"]["qualifiedLeads"] == 0  # qualified on 03-30 local
    assert body["meta"]["window"] == {
        "start": "2026-03-28T23:00:00Z",
        "end": "2026-03-29T22:00:00Z",
    }
    assert body["timeSeries"] == [
        {
            "period": "2026-03-29",
            "conversations": 2,
            "leads": 1,
            "qualifiedLeads": 0,
            "conversionRate": 0.0,
        }
    ]


def test_activity_dates_are_tenant_local_days(api_client: APIClient, berlin: Tenant) -> None:
    from tests.analytics.conftest import event

    event(berlin, utc(2026, 3, 28, 22, 59))
    inside = event(berlin, utc(2026, 3, 28, 23, 0))
    body = api_client.get(
        "/api/v1/analytics/activity", {"startDate": "2026-03-29", "endDate": "2026-03-29"}
    ).json()
    assert [e["id"] for e in body["data"]] == [inside.event_id]


def test_window_previous_has_equal_length() -> None:
    window = Window(utc(2026, 3, 2), utc(2026, 3, 5))
    assert window.previous() == Window(utc(2026, 2, 27), utc(2026, 3, 2))
    assert window.span == timedelta(days=3)

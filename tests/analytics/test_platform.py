"""Voice-platform analytics (/api/v1/analytics/...): every field on a known dataset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from calls.models import Tenant
from tests.analytics.conftest import call, error_log, utc, workflow

BASE = "/api/v1/analytics/"
WINDOW = {"started_after": "2026-03-02T00:00:00Z", "started_before": "2026-03-03T00:00:00Z"}


@pytest.fixture
def dataset(tenant: Tenant) -> None:
    daily = workflow(tenant, "daily-call", "Daily Health Check")
    onboarding = workflow(tenant, "onboarding", "Onboarding Flow")
    call(
        tenant,
        utc(2026, 3, 2, 10),
        workflow=daily,
        duration=100,
        total_tokens=1000,
        latencies=[("stt", "deepgram", 100), ("stt", "deepgram", 200), ("llm", "openai", 300)],
    )
    call(
        tenant,
        utc(2026, 3, 2, 11, 59, 59),
        workflow=daily,
        duration=200,
        total_tokens=500,
        latencies=[("stt", "deepgram", 300), ("llm", "openai", 500)],
    )
    call(tenant, utc(2026, 3, 2, 12), workflow=daily, status="failed")
    call(
        tenant,
        utc(2026, 3, 2, 13),
        workflow=onboarding,
        duration=60,
        latencies=[("tts", "cartesia", 50)],
    )
    call(tenant, utc(2026, 3, 2, 14), status="in-progress")  # long stale: not active
    # Outside the window on both sides.
    call(
        tenant,
        utc(2026, 3, 3),
        workflow=daily,
        duration=1000,
        total_tokens=99,
        latencies=[("stt", "deepgram", 9999)],
    )
    call(
        tenant,
        utc(2026, 3, 1, 23, 59, 59),
        workflow=onboarding,
        status="failed",
        latencies=[("tts", "cartesia", 1)],
    )


def get(client: APIClient, name: str, **params: Any) -> Any:
    response = client.get(BASE + name, {**WINDOW, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def test_summary(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "summary")
    body.pop("meta")
    assert body == {
        "total_calls": 5,
        "completed_calls": 3,
        "failed_calls": 1,
        "active_calls": 0,
        "avg_duration_seconds": 120.0,  # (100 + 200 + 60) / 3 calls with a duration
        "success_rate": 60.0,  # 3 completed / 5
        "total_tokens": 1500,
        "avg_stt_latency_ms": 200.0,
        "avg_llm_latency_ms": 400.0,
        "avg_tts_latency_ms": 50.0,
    }


def test_summary_of_an_empty_window(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client, "summary")
    body.pop("meta")
    assert body == {
        "total_calls": 0,
        "completed_calls": 0,
        "failed_calls": 0,
        "active_calls": 0,
        "avg_duration_seconds": None,
        "success_rate": None,
        "total_tokens": 0,
        "avg_stt_latency_ms": None,
        "avg_llm_latency_ms": None,
        "avg_tts_latency_ms": None,
    }


def test_call_volume_by_hour_is_zero_filled(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "call-volume")
    assert body["interval"] == "hour"
    assert len(body["data"]) == 24
    expected = {10: (1, 1, 0), 11: (1, 1, 0), 12: (1, 0, 1), 13: (1, 1, 0), 14: (1, 0, 0)}
    for hour, point in enumerate(body["data"]):
        total, completed, failed = expected.get(hour, (0, 0, 0))
        assert point == {
            "timestamp": f"2026-03-02T{hour:02d}:00:00Z",
            "total": total,
            "completed": completed,
            "failed": failed,
        }


def test_call_volume_by_day_and_week(api_client: APIClient, dataset: None) -> None:
    window = {"started_after": "2026-03-01T00:00:00Z", "started_before": "2026-03-04T00:00:00Z"}
    body = get(api_client, "call-volume", interval="day", **window)
    assert body["data"] == [
        {"timestamp": "2026-03-01T00:00:00Z", "total": 1, "completed": 0, "failed": 1},
        {"timestamp": "2026-03-02T00:00:00Z", "total": 5, "completed": 3, "failed": 1},
        {"timestamp": "2026-03-03T00:00:00Z", "total": 1, "completed": 1, "failed": 0},
    ]
    body = get(api_client, "call-volume", interval="week", **window)
    assert body["data"] == [  # 2026-03-01 is a Sunday
        {"timestamp": "2026-02-23T00:00:00Z", "total": 1, "completed": 0, "failed": 1},
        {"timestamp": "2026-03-02T00:00:00Z", "total": 6, "completed": 4, "failed": 1},
    ]


def test_call_volume_of_an_empty_window(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client, "call-volume", interval="day")
    assert body["data"] == [
        {"timestamp": "2026-03-02T00:00:00Z", "total": 0, "completed": 0, "failed": 0}
    ]


def test_workflow_stats(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "workflow-stats")
    ids = [row.pop("workflow_id") for row in body]
    assert all(isinstance(i, str) for i in ids)
    assert body == [
        {
            "workflow_name": "Daily Health Check",
            "workflow_slug": "daily-call",
            "total_calls": 3,
            "completed_calls": 2,
            "failed_calls": 1,
            "success_rate": pytest.approx(200 / 3),
            "avg_duration_seconds": 150.0,
        },
        {
            "workflow_name": "Onboarding Flow",
            "workflow_slug": "onboarding",
            "total_calls": 1,
            "completed_calls": 1,
            "failed_calls": 0,
            "success_rate": 100.0,
            "avg_duration_seconds": 60.0,
        },
    ]
    assert [w["workflow_slug"] for w in get(api_client, "workflow-stats", limit=1)] == [
        "daily-call"
    ]


def test_workflow_stats_limit_defaults_to_10(api_client: APIClient, tenant: Tenant) -> None:
    for i in range(12):
        wf = workflow(tenant, f"wf-{i:02d}", f"Flow {i}")
        for _ in range(i + 1):
            call(tenant, utc(2026, 3, 2, 10), workflow=wf)
    body = get(api_client, "workflow-stats")
    assert [w["workflow_slug"] for w in body] == [f"wf-{i:02d}" for i in range(11, 1, -1)]
    assert len(get(api_client, "workflow-stats", limit=50)) == 12
    assert get(api_client, "workflow-stats", started_after="2026-03-02T11:00:00Z") == []


def test_workflow_without_durations_has_null_average(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 3, 2, 10), workflow=workflow(tenant), status="failed")
    [row] = get(api_client, "workflow-stats")
    assert row["avg_duration_seconds"] is None
    assert row["success_rate"] == 0.0


def test_provider_latency(api_client: APIClient, dataset: None) -> None:
    # stt [100, 200, 300]: p95 at position 1.9 → 200 + 0.9 x 100; p99 at 1.98.
    # llm [300, 500]: p50 at 0.5 → 400; p95 at 0.95 → 490; p99 at 0.99 → 498.
    assert get(api_client, "provider-latency") == [
        {
            "provider_type": "stt",
            "provider_name": "deepgram",
            "avg_latency_ms": 200.0,
            "p50_latency_ms": 200.0,
            "p95_latency_ms": pytest.approx(290.0),
            "p99_latency_ms": pytest.approx(298.0),
            "call_count": 2,
        },
        {
            "provider_type": "llm",
            "provider_name": "openai",
            "avg_latency_ms": 400.0,
            "p50_latency_ms": 400.0,
            "p95_latency_ms": pytest.approx(490.0),
            "p99_latency_ms": pytest.approx(498.0),
            "call_count": 2,
        },
        {
            "provider_type": "tts",
            "provider_name": "cartesia",
            "avg_latency_ms": 50.0,
            "p50_latency_ms": 50.0,
            "p95_latency_ms": 50.0,
            "p99_latency_ms": 50.0,
            "call_count": 1,
        },
    ]


def test_provider_latency_separates_provider_names(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 3, 2, 10), latencies=[("llm", "openai", 10), ("llm", "anthropic", 20)])
    call(tenant, utc(2026, 3, 2, 11), latencies=[("llm", "anthropic", 40)])
    rows = get(api_client, "provider-latency")
    assert [(r["provider_name"], r["avg_latency_ms"], r["call_count"]) for r in rows] == [
        ("anthropic", 30.0, 2),
        ("openai", 10.0, 1),
    ]
    assert get(api_client, "provider-latency", started_after="2026-03-02T12:00:00Z") == []


def test_errors_newest_first_with_total_and_pagination(
    api_client: APIClient, tenant: Tenant
) -> None:
    c = call(tenant, utc(2026, 3, 2, 9), call_id="call-uuid")
    error_log(
        tenant,
        utc(2026, 3, 2, 10, 25),
        call=c,
        position=1,
        service="llm",
        message="Rate limit exceeded",
        details={"retry_after": 60},
        agent_name="greeter",
    )
    error_log(
        tenant,
        utc(2026, 3, 2, 10, 30),
        call=c,
        position=0,
        service="stt",
        message="Connection timeout to Deepgram",
        details={"timeout_ms": 5000},
        agent_name="meal-agent",
    )
    error_log(tenant, utc(2026, 3, 2, 11), service="tts", level="warning", message="Slow")
    error_log(tenant, utc(2026, 3, 3), message="outside")  # at the window's end
    error_log(tenant, utc(2026, 3, 1, 23, 59), message="outside")
    body = get(api_client, "errors")
    assert body["total"] == 3
    assert [i["message"] for i in body["items"]] == [
        "Slow",
        "Connection timeout to Deepgram",
        "Rate limit exceeded",
    ]
    slow = body["items"][0]
    assert slow["id"].startswith("error-") and slow["call_id"] is None
    assert body["items"][1] == {
        "id": "call-uuid-0",
        "call_id": "call-uuid",
        "timestamp": "2026-03-02T10:30:00Z",
        "service": "stt",
        "level": "error",
        "message": "Connection timeout to Deepgram",
        "details": {"timeout_ms": 5000},
        "agent": "meal-agent",
    }
    page = get(api_client, "errors", offset=1, limit=1)
    assert page["total"] == 3
    assert [i["message"] for i in page["items"]] == ["Connection timeout to Deepgram"]
    assert get(api_client, "errors", offset=3)["items"] == []
    assert [i["message"] for i in get(api_client, "errors", service="llm")["items"]] == [
        "Rate limit exceeded"
    ]
    warnings = get(api_client, "errors", level="warning")
    assert (warnings["total"], [i["message"] for i in warnings["items"]]) == (1, ["Slow"])
    tool = get(api_client, "errors", service="tool")
    assert (tool["items"], tool["total"]) == ([], 0)


def test_errors_default_to_the_last_24_hours(api_client: APIClient, tenant: Tenant) -> None:
    now = timezone.now()
    error_log(tenant, now - timedelta(hours=23), message="recent")
    error_log(tenant, now - timedelta(hours=25), message="old")
    body = api_client.get(BASE + "errors").json()
    assert [i["message"] for i in body["items"]] == ["recent"]
    assert body["total"] == 1


def test_active_calls(api_client: APIClient, tenant: Tenant, other_tenant: Tenant) -> None:
    now = timezone.now()
    call(tenant, now - timedelta(minutes=90), status="in-progress")  # active
    call(tenant, now - timedelta(minutes=10), status="ringing")  # active
    call(tenant, now - timedelta(minutes=5), status="queue")  # active
    call(tenant, now - timedelta(minutes=1), status="initiated")  # active
    call(tenant, now - timedelta(hours=2, minutes=1), status="in-progress")  # stale
    call(tenant, now - timedelta(minutes=30), status="completed")
    call(tenant, now - timedelta(minutes=30), status="paused")  # not a live status
    call(other_tenant, now - timedelta(minutes=10), status="in-progress")
    assert api_client.get(BASE + "active-calls").json()["count"] == 4
    assert api_client.get(BASE + "active-calls", {"period": "1h"}).json()["count"] == 3
    assert api_client.get(BASE + "summary").json()["active_calls"] == 4
    assert api_client.get(BASE + "summary", {"period": "1h"}).json()["active_calls"] == 3


def test_active_calls_respect_the_stale_setting(
    api_client: APIClient, tenant: Tenant, settings: Any
) -> None:
    settings.ACTIVE_CALL_STALE_AFTER_SECONDS = 3600
    now = timezone.now()
    call(tenant, now - timedelta(minutes=90), status="in-progress")
    call(tenant, now - timedelta(minutes=50), status="in-progress")
    assert api_client.get(BASE + "active-calls").json()["count"] == 1


def test_periods(api_client: APIClient, tenant: Tenant) -> None:
    now = timezone.now()
    for age in (
        timedelta(minutes=30),
        timedelta(hours=5),
        timedelta(days=3),
        timedelta(days=20),
        timedelta(days=40),
    ):
        call(tenant, now - age)
    counts = {
        period: api_client.get(BASE + "summary", {"period": period}).json()["total_calls"]
        for period in ("1h", "24h", "7d", "30d")
    }
    assert counts == {"1h": 1, "24h": 2, "7d": 3, "30d": 4}
    assert api_client.get(BASE + "summary").json()["total_calls"] == 2  # default 24h


def test_started_after_alone_runs_until_now(api_client: APIClient, tenant: Tenant) -> None:
    now = timezone.now()
    call(tenant, now - timedelta(days=3))
    call(tenant, now - timedelta(days=10))
    after = (now - timedelta(days=5)).isoformat()
    body = api_client.get(BASE + "summary", {"started_after": after}).json()
    assert body["total_calls"] == 1
    assert body["meta"]["window"]["end"] == body["meta"]["as_of"]


def test_started_before_alone_takes_the_period_before_it(
    api_client: APIClient, dataset: None
) -> None:
    response = api_client.get(
        BASE + "summary", {"started_before": "2026-03-02T12:00:00Z", "period": "1h"}
    )
    body = response.json()
    assert body["meta"]["window"] == {
        "start": "2026-03-02T11:00:00Z",
        "end": "2026-03-02T12:00:00Z",
    }
    assert body["total_calls"] == 1


@pytest.mark.parametrize(
    "name", ["summary", "call-volume", "workflow-stats", "provider-latency", "errors"]
)
def test_other_tenants_rows_change_nothing(
    api_client: APIClient, dataset: None, other_tenant: Tenant, name: str
) -> None:
    before = get(api_client, name)
    wf = workflow(other_tenant, "daily-call", "Daily Health Check")
    for hour in range(6):
        c = call(
            other_tenant,
            utc(2026, 3, 2, hour),
            workflow=wf,
            duration=5,
            total_tokens=7,
            status="failed" if hour % 2 else "completed",
            latencies=[("stt", "deepgram", 1), ("tts", "cartesia", 2)],
        )
        error_log(other_tenant, utc(2026, 3, 2, hour), call=c)
    after = get(api_client, name)
    if isinstance(before, dict):
        before.pop("meta"), after.pop("meta")
    assert after == before

"""Sales analytics (/api/v1/analytics/{overview,funnel,activity}) on a known dataset."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.windows import DateSpan, comparison_span, sales_buckets
from calls.models import Tenant
from tests.analytics.conftest import call, event, lead, utc

BASE = "/api/v1/analytics/"
SPAN = {"startDate": "2026-03-01", "endDate": "2026-03-14"}


@pytest.fixture
def dataset(tenant: Tenant) -> None:
    l1 = lead(
        tenant,
        utc(2026, 3, 1, 9),
        source="chat",
        channel="web_chat",
        score=60,
        status="converted",
        qualified=utc(2026, 3, 2),
        demo=utc(2026, 3, 5),
        converted=utc(2026, 3, 9),
        value=1000,
        lead_id="lead_L1",
    )
    l2 = lead(
        tenant,
        utc(2026, 3, 2),
        source="form",
        channel="whatsapp",
        score=40,
        status="qualified",
        qualified=utc(2026, 3, 8),
        value=500,
    )
    lead(
        tenant,
        utc(2026, 2, 20),
        source="chat",
        channel="web_chat",
        status="demo_booked",
        qualified=utc(2026, 3, 3),
        demo=utc(2026, 3, 10),
        value=2000,
    )
    lead(tenant, utc(2026, 3, 10), source="api", channel="api")
    lead(tenant, utc(2026, 3, 14, 23), source="chat", channel="web_chat", score=80)
    lead(
        tenant,
        utc(2026, 3, 15),
        source="chat",
        channel="web_chat",
        score=1,
        qualified=utc(2026, 3, 15),
        value=7,
    )  # after endDate
    # Conversations (completed): c1, c2, c3, c8. Visitors: every call.
    call(
        tenant,
        utc(2026, 3, 1, 10),
        channel="web_chat",
        handoff=True,
        response_time_ms=1000,
        turns=4,
        lead=l1,
    )
    call(tenant, utc(2026, 3, 2), channel="whatsapp", response_time_ms=2000, turns=6, lead=l2)
    call(tenant, utc(2026, 3, 9), channel="web_chat", turns=2)
    call(
        tenant,
        utc(2026, 3, 10),
        status="failed",
        channel="web_chat",
        turns=1,
        response_time_ms=9000,
        handoff=True,
        lead=l1,
    )
    call(tenant, utc(2026, 3, 12), status="no-answer", channel="api")
    call(tenant, utc(2026, 3, 13, 23, 59), channel="web_chat")
    # Outside the span; the first one falls in the previous period.
    call(tenant, utc(2026, 2, 28, 23, 59), channel="web_chat", turns=3)
    call(tenant, utc(2026, 3, 15), channel="web_chat", turns=3)


def get(client: APIClient, name: str, **params: Any) -> dict[str, Any]:
    response = client.get(BASE + name, {**SPAN, **params})
    assert response.status_code == 200, response.json()
    body = response.json()
    body.pop("meta")
    return body


def test_overview_summary(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "overview")
    assert body["period"] == {"startDate": "2026-03-01", "endDate": "2026-03-14"}
    assert body["summary"] == {
        "totalConversations": 4,
        "totalLeads": 4,  # created 03-01, 03-02, 03-10, 03-14 23:00
        "qualifiedLeads": 3,  # stamps 03-02, 03-03, 03-08
        "conversionRate": 0.75,  # 3 qualified / 4 conversations
        "avgLeadScore": 60.0,  # (60 + 40 + 80) / 3 leads with a score
        "avgResponseTime": 1.5,  # (1000 + 2000) / 2 ms of conversations, in seconds
        "avgMessagesPerConversation": 3.0,  # (4 + 6 + 2 + 0) / 4
        "handoffRate": 0.25,  # 1 of 4 conversations (the failed call is no conversation)
        "totalRevenuePipeline": 3500.0,  # 1000 + 500 + 2000
    }
    assert body["comparison"] is None


def test_overview_weekly_series(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "overview", granularity="week")
    assert body["timeSeries"] == [
        {
            "period": "2026-03-01/2026-03-07",
            "conversations": 2,
            "leads": 2,
            "qualifiedLeads": 2,
            "conversionRate": 1.0,
        },
        {
            "period": "2026-03-08/2026-03-14",
            "conversations": 2,
            "leads": 2,
            "qualifiedLeads": 1,
            "conversionRate": 0.5,
        },
    ]


def test_overview_daily_and_monthly_series(api_client: APIClient, dataset: None) -> None:
    days = get(api_client, "overview")["timeSeries"]
    assert [d["period"] for d in days] == [f"2026-03-{d:02d}" for d in range(1, 15)]
    assert days[0] == {
        "period": "2026-03-01",
        "conversations": 1,
        "leads": 1,
        "qualifiedLeads": 0,
        "conversionRate": 0.0,
    }
    assert days[2] == {  # 03-03: a qualification, no conversation
        "period": "2026-03-03",
        "conversations": 0,
        "leads": 0,
        "qualifiedLeads": 1,
        "conversionRate": None,
    }
    months = get(api_client, "overview", granularity="month", startDate="2026-02-15")["timeSeries"]
    assert months == [
        {
            "period": "2026-02-15/2026-02-28",
            "conversations": 1,
            "leads": 1,
            "qualifiedLeads": 0,
            "conversionRate": 0.0,
        },
        {
            "period": "2026-03-01/2026-03-14",
            "conversations": 4,
            "leads": 4,
            "qualifiedLeads": 3,
            "conversionRate": 0.75,
        },
    ]


def test_week_buckets_fold_a_short_trailing_run_into_the_last_week() -> None:
    span = DateSpan(date(2026, 3, 1), date(2026, 3, 31))
    assert [label for label, _, _ in sales_buckets(span, "week")] == [
        "2026-03-01/2026-03-07",
        "2026-03-08/2026-03-14",
        "2026-03-15/2026-03-21",
        "2026-03-22/2026-03-31",
    ]
    short = DateSpan(date(2026, 3, 1), date(2026, 3, 3))
    assert [label for label, _, _ in sales_buckets(short, "week")] == ["2026-03-01/2026-03-03"]
    exact = DateSpan(date(2026, 3, 1), date(2026, 3, 14))
    assert len(sales_buckets(exact, "week")) == 2


def test_month_buckets_are_calendar_months_clipped() -> None:
    span = DateSpan(date(2025, 12, 20), date(2026, 2, 10))
    assert [label for label, _, _ in sales_buckets(span, "month")] == [
        "2025-12-20/2025-12-31",
        "2026-01-01/2026-01-31",
        "2026-02-01/2026-02-10",
    ]


def test_comparison_periods() -> None:
    march = DateSpan(date(2026, 3, 1), date(2026, 3, 31))
    assert comparison_span(march, "previous_period") == DateSpan(
        date(2026, 1, 30), date(2026, 2, 28)
    )  # the documented example
    assert comparison_span(march, "previous_year") == DateSpan(date(2025, 3, 1), date(2025, 3, 31))
    leap = DateSpan(date(2028, 2, 29), date(2028, 2, 29))
    assert comparison_span(leap, "previous_year") == DateSpan(date(2027, 2, 28), date(2027, 2, 28))
    assert comparison_span(leap, "previous_period") == DateSpan(
        date(2028, 2, 28), date(2028, 2, 28)
    )


def test_overview_compared_with_previous_period(api_client: APIClient, dataset: None) -> None:
    # 03-01..03-14 spans 13 days → 02-16..02-28: one conversation, one lead (02-20), none qualified.
    assert get(api_client, "overview", compareWith="previous_period")["comparison"] == {
        "period": {"startDate": "2026-02-16", "endDate": "2026-02-28"},
        "totalConversations": {"value": 1, "change": 3.0},
        "totalLeads": {"value": 1, "change": 3.0},
        "qualifiedLeads": {"value": 0, "change": None},
        "conversionRate": {"value": 0.0, "change": None},
    }


def test_overview_compared_with_previous_year(
    api_client: APIClient, dataset: None, tenant: Tenant
) -> None:
    call(tenant, utc(2025, 3, 5))
    call(tenant, utc(2025, 3, 6))
    lead(tenant, utc(2025, 3, 5), qualified=utc(2025, 3, 6))
    assert get(api_client, "overview", compareWith="previous_year")["comparison"] == {
        "period": {"startDate": "2025-03-01", "endDate": "2025-03-14"},
        "totalConversations": {"value": 2, "change": 1.0},
        "totalLeads": {"value": 1, "change": 3.0},
        "qualifiedLeads": {"value": 1, "change": 2.0},
        "conversionRate": {"value": 0.5, "change": 0.5},  # 0.75 vs 0.5
    }


def test_overview_of_an_empty_span(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client, "overview", granularity="week", compareWith="previous_period")
    assert body["summary"] == {
        "totalConversations": 0,
        "totalLeads": 0,
        "qualifiedLeads": 0,
        "conversionRate": None,
        "avgLeadScore": None,
        "avgResponseTime": None,
        "avgMessagesPerConversation": None,
        "handoffRate": None,
        "totalRevenuePipeline": 0.0,
    }
    assert body["comparison"]["totalLeads"] == {"value": 0, "change": None}
    assert body["comparison"]["conversionRate"] == {"value": None, "change": None}
    assert [p["conversations"] for p in body["timeSeries"]] == [0, 0]


def test_overview_defaults_to_the_last_30_days(api_client: APIClient, tenant: Tenant) -> None:
    today = timezone.now().date()
    body = api_client.get(BASE + "overview").json()
    assert body["period"] == {
        "startDate": (today - timedelta(days=30)).isoformat(),
        "endDate": today.isoformat(),
    }
    assert len(body["timeSeries"]) == 31


def test_funnel(api_client: APIClient, dataset: None) -> None:
    assert get(api_client, "funnel") == {
        "period": {"startDate": "2026-03-01", "endDate": "2026-03-14"},
        "stages": [
            {"name": "Visitors", "count": 6, "conversionToNext": pytest.approx(4 / 6)},
            {"name": "Engaged (Started Chat)", "count": 4, "conversionToNext": 1.0},
            {"name": "Lead Captured", "count": 4, "conversionToNext": 0.75},
            {"name": "Qualified", "count": 3, "conversionToNext": pytest.approx(2 / 3)},
            {"name": "Demo Booked", "count": 2, "conversionToNext": 0.5},
            {"name": "Converted", "count": 1, "conversionToNext": None},
        ],
        "overallConversion": pytest.approx(1 / 6),
        "topDropoffStage": "Visitors -> Engaged (Started Chat)",
    }


def test_funnel_channel_filter(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "funnel", channel="web_chat")
    # Calls on web_chat: c1, c3, c4, c8 (c1, c3, c8 completed); leads on web_chat: L1, L3, L5.
    assert [s["count"] for s in body["stages"]] == [4, 3, 2, 2, 2, 1]
    assert body["topDropoffStage"] == "Visitors -> Engaged (Started Chat)"


def test_funnel_source_filter(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, "funnel", source="chat")
    # Calls whose lead came from chat: c1, c4 (L1); chat leads created: L1, L5; L1 and L3 qualified
    # and booked a demo; L1 converted.
    assert [s["count"] for s in body["stages"]] == [2, 1, 2, 2, 2, 1]
    # Losses: 1, -1, 0, 0, 1: the earliest of the largest.
    assert body["topDropoffStage"] == "Visitors -> Engaged (Started Chat)"
    assert body["overallConversion"] == 0.5


def test_funnel_top_dropoff_can_be_a_later_stage(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 3, 2))
    for day in (2, 3, 4):
        lead(tenant, utc(2026, 3, day))
    body = get(api_client, "funnel")
    assert [s["count"] for s in body["stages"]] == [1, 1, 3, 0, 0, 0]
    assert body["topDropoffStage"] == "Lead Captured -> Qualified"


def test_funnel_of_an_empty_span(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client, "funnel")
    assert [(s["count"], s["conversionToNext"]) for s in body["stages"]] == [(0, None)] * 6
    assert body["overallConversion"] is None
    assert body["topDropoffStage"] is None


@pytest.fixture
def events(tenant: Tenant) -> list[Any]:
    l1 = lead(tenant, utc(2026, 3, 1), lead_id="lead_A")
    c1 = call(tenant, utc(2026, 3, 1), call_id="conv_1")
    return [
        event(tenant, utc(2026, 3, 1, 10), "lead.created", lead=l1, description="New lead."),
        event(tenant, utc(2026, 3, 2, 10), "conversation.started", call=c1),
        event(
            tenant,
            utc(2026, 3, 3, 10),
            "lead.qualified",
            lead=l1,
            call=c1,
            metadata={"previousStatus": "new", "newStatus": "qualified"},
        ),
        event(tenant, utc(2026, 3, 4, 10), "intent.high_value", call=c1),
        event(
            tenant,
            utc(2026, 3, 5, 10),
            "lead.score_changed",
            lead=lead(tenant, utc(2026, 3, 1), lead_id="lead_B"),
        ),
        event(tenant, utc(2026, 3, 15), "lead.created"),  # after endDate
    ]


def test_activity_feed_newest_first(api_client: APIClient, events: list[Any]) -> None:
    body = get(api_client, "activity")
    assert [e["id"] for e in body["data"]] == [e.event_id for e in events[4::-1]]
    assert body["data"][2] == {
        "id": events[2].event_id,
        "type": "lead.qualified",
        "leadId": "lead_A",
        "conversationId": "conv_1",
        "description": "",
        "metadata": {"previousStatus": "new", "newStatus": "qualified"},
        "occurredAt": "2026-03-03T10:00:00.000Z",
    }
    assert body["data"][1]["leadId"] is None
    assert body["pagination"] == {
        "page": 1,
        "limit": 50,
        "total": 5,
        "totalPages": 1,
        "hasMore": False,
    }


def test_activity_filters(api_client: APIClient, events: list[Any]) -> None:
    body = get(api_client, "activity", type="lead.qualified,intent.high_value")
    assert [e["type"] for e in body["data"]] == ["intent.high_value", "lead.qualified"]
    body = get(api_client, "activity", leadId="lead_A")
    assert [e["type"] for e in body["data"]] == ["lead.qualified", "lead.created"]
    assert get(api_client, "activity", leadId="lead_nobody")["data"] == []


def test_activity_pagination(api_client: APIClient, events: list[Any]) -> None:
    body = get(api_client, "activity", limit=2, page=2)
    assert [e["id"] for e in body["data"]] == [events[2].event_id, events[1].event_id]
    assert body["pagination"] == {
        "page": 2,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasMore": True,
    }
    last = get(api_client, "activity", limit=2, page=3)
    assert last["pagination"]["hasMore"] is False and len(last["data"]) == 1
    beyond = get(api_client, "activity", limit=2, page=9)
    assert beyond["data"] == [] and beyond["pagination"]["hasMore"] is False


def test_activity_defaults_to_the_last_24_hours(api_client: APIClient, tenant: Tenant) -> None:
    now = timezone.now()
    recent = event(tenant, now - timedelta(hours=23))
    event(tenant, now - timedelta(hours=25))
    body = api_client.get(BASE + "activity").json()
    assert [e["id"] for e in body["data"]] == [recent.event_id]
    assert body["pagination"]["total"] == 1


def test_activity_of_an_empty_window(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client, "activity")
    assert body["data"] == []
    assert body["pagination"] == {
        "page": 1,
        "limit": 50,
        "total": 0,
        "totalPages": 0,
        "hasMore": False,
    }


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("overview", {"compareWith": "previous_period", "granularity": "week"}),
        ("funnel", {}),
        ("funnel", {"source": "chat"}),
        ("activity", {}),
    ],
)
def test_other_tenants_rows_change_nothing(
    api_client: APIClient,
    dataset: None,
    other_tenant: Tenant,
    name: str,
    params: dict[str, str],
) -> None:
    before = get(api_client, name, **params)
    for day in range(1, 15):
        other_lead = lead(
            other_tenant,
            utc(2026, 3, day),
            source="chat",
            channel="web_chat",
            score=10,
            qualified=utc(2026, 3, day),
            demo=utc(2026, 3, day),
            converted=utc(2026, 3, day),
            value=100,
        )
        call(
            other_tenant,
            utc(2026, 3, day),
            channel="web_chat",
            handoff=True,
            turns=2,
            lead=other_lead,
        )
        event(other_tenant, utc(2026, 3, day), "lead.created", lead=other_lead)
    assert get(api_client, name, **params) == before

"""GET /v2/analytics/: every block on a dataset whose answers follow from the definitions."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.queries.synthflow import END_REASON_SERIES_KEYS, STATUS_SERIES_KEYS
from calls.models import Tenant
from tests.analytics.conftest import agent, call, utc

URL = "/v2/analytics/"
WINDOW = {"from_date": "2026-03-02T00:00:00Z", "to_date": "2026-03-05T00:00:00Z"}
DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]


@pytest.fixture
def dataset(tenant: Tenant) -> None:
    """Six calls in [03-02, 03-05) UTC and three in the previous window [02-27, 03-02)."""
    a = agent(tenant, "agent-a", "Alice")
    b = agent(tenant, "agent-b", "Bob")
    # Current window.
    call(
        tenant,
        utc(2026, 3, 2, 10),
        agent=a,
        duration=120,
        end_call_reason="agent_goodbye",
        sentiment="positive",
        type_of_call="outbound",
        actions=["book", "extract"],
        lead_phone_number="+4915758658647",
        call_id="c1",
    )  # success derived: true
    call(
        tenant,
        utc(2026, 3, 2, 11),
        agent=a,
        duration=60,
        end_call_reason="human_goodbye",
        success=False,
        sentiment="neutral",
        type_of_call="outbound",
        actions=["extract"],
        call_id="c2",
    )
    call(
        tenant,
        utc(2026, 3, 3, 9),
        agent=a,
        status="failed",
        end_call_reason="Request failed: 500",
        type_of_call="inbound",
        call_id="c3",
    )
    call(
        tenant,
        utc(2026, 3, 4, 23, 59, 59),
        agent=b,
        duration=30,
        end_call_reason="max_duration",
        sentiment="positive",
        type_of_call="inbound",
        actions=["extract"],
        call_id="c4",
    )
    call(
        tenant,
        utc(2026, 3, 3, 12),
        agent=b,
        status="no-answer",
        duration=0,
        success=True,
        sentiment="negative",
        type_of_call="inbound",
        call_id="c5",
    )
    call(
        tenant,
        utc(2026, 3, 4, 1),
        status="spam",
        duration=90,
        end_call_reason="voicemail",
        type_of_call="widget",
        call_id="c6",
    )
    # Outside: at the window's (excluded) end.
    call(
        tenant,
        utc(2026, 3, 5),
        agent=a,
        duration=999,
        end_call_reason="agent_goodbye",
        actions=["extract"],
        call_id="c-after",
    )
    # Previous window [02-27, 03-02).
    call(
        tenant,
        utc(2026, 3, 1, 10),
        agent=a,
        duration=60,
        end_call_reason="agent_goodbye",
        sentiment="positive",
        actions=["extract"],
        call_id="p1",
    )
    call(
        tenant,
        utc(2026, 2, 27),
        agent=b,
        status="failed",
        duration=30,
        sentiment="neutral",
        call_id="p2",
    )
    call(
        tenant,
        utc(2026, 3, 1, 23, 59, 59),
        agent=a,
        duration=120,
        end_call_reason="human_goodbye",
        sentiment="positive",
        call_id="p3",
    )
    # Before the previous window: counts nowhere.
    call(tenant, utc(2026, 2, 26, 23, 59, 59), agent=a, duration=500, call_id="p-before")


def get(client: APIClient, **params: Any) -> dict[str, Any]:
    response = client.get(URL, {**WINDOW, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def zero_status(day: str, **counts: int) -> dict[str, Any]:
    return {"date": day, **dict.fromkeys(STATUS_SERIES_KEYS, 0), **counts}


def zero_reasons(day: str, **counts: int) -> dict[str, Any]:
    return {"date": day, **dict.fromkeys(END_REASON_SERIES_KEYS, 0), **counts}


def test_executed_actions(api_client: APIClient, dataset: None) -> None:
    body = get(api_client)
    assert body["executed_actions"] == {
        "items": [
            {
                "name": "extract",
                "value": 3,
                "series": [
                    {"date": "2026-03-02", "value": 2},
                    {"date": "2026-03-03", "value": 0},
                    {"date": "2026-03-04", "value": 1},
                ],
                "percentage_change": 200.0,  # 1 before
            },
            {
                "name": "book",
                "value": 1,
                "series": [
                    {"date": "2026-03-02", "value": 1},
                    {"date": "2026-03-03", "value": 0},
                    {"date": "2026-03-04", "value": 0},
                ],
                "percentage_change": 100.0,  # none before
            },
        ]
    }


def test_assistant_performance(api_client: APIClient, dataset: None) -> None:
    perf = get(api_client)["assistant_performance"]
    # Alice: c1 (120 s, derived success), c2 (60 s, success false), c3 (failed) → 3 calls, 3 min,
    # 1/3 successful. Before: p1 + p3 → 2 calls, 3 min, 2/2 successful.
    # Bob: c4 (30 s, max_duration: not a successful reason), c5 (explicit success) → 2 calls,
    # 0.5 min, 1/2. Before: p2 (failed, 30 s) → 1 call, 0.5 min, 0/1.
    assert perf["by_minutes_used"] == [
        {"model_id": "agent-a", "name": "Alice", "minutes_used": 3.0, "percentage_change": 0.0},
        {"model_id": "agent-b", "name": "Bob", "minutes_used": 0.5, "percentage_change": 0.0},
    ]
    assert perf["by_calls_made"] == [
        {"model_id": "agent-a", "name": "Alice", "calls_made": 3, "percent_change": 50.0},
        {"model_id": "agent-b", "name": "Bob", "calls_made": 2, "percent_change": 100.0},
    ]
    assert perf["by_success_rate"] == [
        {"model_id": "agent-b", "name": "Bob", "success_rate": 50.0, "percentage_change": 100.0},
        {
            "model_id": "agent-a",
            "name": "Alice",
            "success_rate": 33.33333,
            "percentage_change": -66.67,  # (33.33 - 100) / 100
        },
    ]


def test_call_status_stat(api_client: APIClient, dataset: None) -> None:
    stat = get(api_client)["call_status_stat"]
    assert stat["items"] == [
        {"status": "completed", "value": 3, "percentage": 50.0, "percentage_change": 50.0},
        {"status": "failed", "value": 1, "percentage": 16.67, "percentage_change": 0.0},
        {"status": "no-answer", "value": 1, "percentage": 16.67, "percentage_change": 100.0},
        {"status": "spam", "value": 1, "percentage": 16.67, "percentage_change": 100.0},
    ]
    # Every seed key every day, plus "spam" (seen in the window).
    assert stat["series"] == [
        zero_status("2026-03-02", completed=2, spam=0),
        zero_status("2026-03-03", failed=1, **{"no-answer": 1}, spam=0),
        zero_status("2026-03-04", completed=1, spam=1),
    ]
    assert list(stat["series"][0]) == ["date", *STATUS_SERIES_KEYS, "spam"]


def test_recent_call_history_is_newest_first(api_client: APIClient, dataset: None) -> None:
    items = get(api_client)["recent_call_history"]["items"]
    assert [i["call_id"] for i in items] == ["c4", "c6", "c5", "c3", "c2", "c1"]
    assert items[-1] == {
        "call_id": "c1",
        "call_status": "completed",
        "duration": 120,
        "agent_name": "Alice",
        "model_id": "agent-a",
        "lead_phone_number": "+4915758658647",
        "created_at": "2026-03-02T10:00:00Z",
    }
    # No agent, no phone, no duration render as null.
    assert items[1]["agent_name"] is None and items[1]["model_id"] is None
    assert items[1]["lead_phone_number"] is None
    assert items[3]["duration"] is None


def test_recent_call_history_holds_the_20_newest(api_client: APIClient, tenant: Tenant) -> None:
    for minute in range(25):
        call(tenant, utc(2026, 3, 3, 8, minute), call_id=f"r{minute:02d}")
    items = get(api_client)["recent_call_history"]["items"]
    assert [i["call_id"] for i in items] == [f"r{m:02d}" for m in range(24, 4, -1)]


def test_duration_metrics(api_client: APIClient, dataset: None) -> None:
    metrics = get(api_client)["duration_metrics"]
    # 120 + 60 + 0 + 30 + 90 s over 6 calls (c3 has no duration); before 60 + 30 + 120 s, 3 calls.
    assert metrics == {
        "total_minutes": 5.0,
        "average_duration": pytest.approx(5 / 6),
        "total_calls": 6,
        "series": [
            {"date": "2026-03-02", "total_minutes": 3.0, "average_duration": 1.5, "total_calls": 2},
            {"date": "2026-03-03", "total_minutes": 0.0, "average_duration": 0.0, "total_calls": 2},
            {"date": "2026-03-04", "total_minutes": 2.0, "average_duration": 1.0, "total_calls": 2},
        ],
        "total_minutes_percentage_change": 42.86,  # (5 - 3.5) / 3.5
        "total_duration_percentage_change": 42.86,
        "total_calls_percentage_change": 100.0,
    }


def test_end_call_reason_stat(api_client: APIClient, dataset: None) -> None:
    stat = get(api_client)["end_call_reason_stat"]
    reasons = ["Request failed: 500", "agent_goodbye", "human_goodbye", "max_duration", "voicemail"]
    # c5 has no end reason: it counts in the denominator only.
    assert stat["items"] == [{"reason": r, "value": 1, "percentage": 16.67} for r in reasons]
    assert stat["series"] == [
        zero_reasons("2026-03-02", agent_goodbye=1, human_goodbye=1, **{"Request failed: 500": 0}),
        zero_reasons("2026-03-03", **{"Request failed: 500": 1}),
        zero_reasons("2026-03-04", max_duration=1, voicemail=1, **{"Request failed: 500": 0}),
    ]


def test_sentiment_stat(api_client: APIClient, dataset: None) -> None:
    # 2 positive of 6 now; 2 of 3 before: (33.33 - 66.67) / 66.67 = -50 %.
    assert get(api_client)["sentiment_stat"] == {
        "positive_percentage": 33.33,
        "series": [
            {"date": "2026-03-02", "positive": 1, "total": 2},
            {"date": "2026-03-03", "positive": 0, "total": 2},
            {"date": "2026-03-04", "positive": 1, "total": 2},
        ],
        "positive_percentage_change": -50.0,
    }


def test_model_id_filters_every_block(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, model_id="agent-a")
    assert body["duration_metrics"]["total_calls"] == 3
    assert body["duration_metrics"]["total_calls_percentage_change"] == 50.0  # 3 vs 2
    assert [i["model_id"] for i in body["assistant_performance"]["by_calls_made"]] == ["agent-a"]
    assert {i["call_id"] for i in body["recent_call_history"]["items"]} == {"c1", "c2", "c3"}
    assert [(i["name"], i["value"]) for i in body["executed_actions"]["items"]] == [
        ("extract", 2),
        ("book", 1),
    ]
    assert body["sentiment_stat"]["positive_percentage"] == 33.33
    assert get(api_client, model_id="nobody")["duration_metrics"]["total_calls"] == 0


def test_type_of_call_filters(api_client: APIClient, dataset: None) -> None:
    body = get(api_client, type_of_call="inbound")
    assert {i["call_id"] for i in body["recent_call_history"]["items"]} == {"c3", "c4", "c5"}
    assert body["call_status_stat"]["items"][0] == {
        "status": "completed",
        "value": 1,
        "percentage": 33.33,
        "percentage_change": 100.0,  # previous-window calls have no type
    }


def test_empty_window_gives_zeros(api_client: APIClient, tenant: Tenant) -> None:
    body = get(api_client)
    assert body["executed_actions"] == {"items": []}
    assert body["assistant_performance"] == {
        "by_minutes_used": [],
        "by_calls_made": [],
        "by_success_rate": [],
    }
    assert body["call_status_stat"] == {
        "items": [],
        "series": [zero_status(d) for d in DAYS],
    }
    assert body["recent_call_history"] == {"items": []}
    assert body["duration_metrics"] == {
        "total_minutes": 0.0,
        "average_duration": 0.0,
        "total_calls": 0,
        "series": [
            {"date": d, "total_minutes": 0.0, "average_duration": 0.0, "total_calls": 0}
            for d in DAYS
        ],
        "total_minutes_percentage_change": 0.0,
        "total_duration_percentage_change": 0.0,
        "total_calls_percentage_change": 0.0,
    }
    assert body["end_call_reason_stat"] == {
        "items": [],
        "series": [zero_reasons(d) for d in DAYS],
    }
    assert body["sentiment_stat"] == {
        "positive_percentage": 0.0,
        "series": [{"date": d, "positive": 0, "total": 0} for d in DAYS],
        "positive_percentage_change": 0.0,
    }


def test_change_is_minus_100_when_everything_stopped(api_client: APIClient, tenant: Tenant) -> None:
    call(tenant, utc(2026, 3, 1), duration=60)
    metrics = get(api_client)["duration_metrics"]
    assert metrics["total_calls_percentage_change"] == -100.0
    assert metrics["total_minutes_percentage_change"] == -100.0


def test_meta_reports_zone_window_and_freshness(api_client: APIClient, tenant: Tenant) -> None:
    response = api_client.get(URL, {**WINDOW, "timezone": "America/New_York"})
    meta = response.json()["meta"]
    assert meta["timezone"] == "America/New_York"
    assert meta["window"] == {"start": "2026-03-02T00:00:00Z", "end": "2026-03-05T00:00:00Z"}
    assert meta["as_of"].endswith("Z")
    assert response["X-Analytics-Timezone"] == "America/New_York"
    assert response["X-Analytics-Window-Start"] == "2026-03-02T00:00:00Z"
    assert response["X-Analytics-Window-End"] == "2026-03-05T00:00:00Z"
    assert response["X-Analytics-As-Of"] == meta["as_of"]
    # 2026-03-02T00:00Z is 03-01 19:00 in New York: four local days are touched.
    dates = [p["date"] for p in response.json()["sentiment_stat"]["series"]]
    assert dates == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]


def test_default_window_is_the_last_7_days(api_client: APIClient, tenant: Tenant) -> None:
    from django.utils import timezone

    now = timezone.now()
    call(tenant, now - timezone.timedelta(days=6, hours=23))
    call(tenant, now - timezone.timedelta(days=7, hours=1))
    body = api_client.get(URL).json()
    assert body["duration_metrics"]["total_calls"] == 1
    assert len(body["duration_metrics"]["series"]) == 8  # partial first and last days
    assert body["meta"]["window"]["end"] == body["meta"]["as_of"]


def test_naive_datetimes_are_utc(api_client: APIClient, dataset: None) -> None:
    body = api_client.get(
        URL, {"from_date": "2026-03-02T00:00:00", "to_date": "2026-03-05T00:00:00"}
    ).json()
    assert body["duration_metrics"]["total_calls"] == 6


def test_offsets_in_datetimes_are_honoured(api_client: APIClient, dataset: None) -> None:
    # [03-02 10:30+01:00, ...) = [09:30Z, ...): c1 at 10:00Z is in, nothing earlier that day.
    body = get(api_client, from_date="2026-03-02T10:30:00+01:00")
    assert body["duration_metrics"]["total_calls"] == 6
    body = get(api_client, from_date="2026-03-02T11:30:00+01:00")
    assert body["duration_metrics"]["total_calls"] == 5


def test_other_tenants_calls_change_nothing(
    api_client: APIClient, dataset: None, other_tenant: Tenant
) -> None:
    before = get(api_client)
    same_model = agent(other_tenant, "agent-a", "Alice elsewhere")
    for hour in range(5):
        call(
            other_tenant,
            utc(2026, 3, 2, hour),
            agent=same_model,
            duration=600,
            sentiment="positive",
            actions=["extract"],
            end_call_reason="agent_goodbye",
        )
        call(other_tenant, utc(2026, 3, 1, hour), agent=same_model, status="failed")
    after = get(api_client)
    before.pop("meta"), after.pop("meta")
    assert after == before
    assert get(api_client, model_id="agent-a")["duration_metrics"]["total_calls"] == 3

"""Every analytics endpoint runs a fixed number of queries, however much data it reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from calls.models import Tenant
from tests.analytics.conftest import agent, call, error_log, event, lead, utc, workflow

STATUSES = ["completed", "failed", "no-answer", "busy", "in-progress", "spam"]
REASONS = ["agent_goodbye", "human_goodbye", "voicemail", "max_duration", "", "custom thing"]
PROVIDERS = [("stt", "deepgram"), ("llm", "openai"), ("llm", "anthropic"), ("tts", "cartesia")]

REQUESTS = [
    ("/v2/analytics/", {"from_date": "2026-03-01T00:00:00Z", "to_date": "2026-03-31T00:00:00Z"}),
    ("/v2/analytics/", {"from_date": "2026-03-01", "to_date": "2026-03-31", "model_id": "a-1"}),
    *(
        (
            f"/api/v1/analytics/{name}",
            {
                "started_after": "2026-03-01T00:00:00Z",
                "started_before": "2026-03-31T00:00:00Z",
                **extra,
            },
        )
        for name, extra in [
            ("summary", {}),
            ("call-volume", {}),
            ("call-volume", {"interval": "day"}),
            ("call-volume", {"interval": "week", "timezone": "Asia/Kolkata"}),
            ("call-volume", {"timezone": "Asia/Kolkata"}),
            ("workflow-stats", {}),
            ("provider-latency", {}),
            ("errors", {}),
            ("active-calls", {}),
        ]
    ),
    *(
        (f"/api/v1/analytics/{name}", {"startDate": "2026-03-01", "endDate": "2026-03-30", **extra})
        for name, extra in [
            ("overview", {"granularity": "week", "compareWith": "previous_period"}),
            ("overview", {"granularity": "month"}),
            ("funnel", {"channel": "web_chat", "source": "chat"}),
            ("funnel", {}),
            ("activity", {"type": "lead.created,lead.qualified", "leadId": "lead_00000001"}),
            ("activity", {}),
        ]
    ),
]


def grow(tenant: Tenant, first: int, n: int) -> None:
    """``n`` calls over March 2026 with every dimension varying, plus leads, events, errors."""
    for i in range(first, first + n):
        start = utc(2026, 3, 1) + timedelta(hours=(7 * i + 1) % (29 * 24))
        the_lead = lead(
            tenant,
            start,
            lead_id=f"lead_{i:08d}",
            source=["chat", "form"][i % 2],
            channel=["web_chat", "phone"][i % 2],
            score=i % 100,
            qualified=start if i % 2 else None,
            demo=start if i % 3 == 0 else None,
            converted=start if i % 5 == 0 else None,
            value=100 * i,
        )
        c = call(
            tenant,
            start,
            agent=agent(tenant, f"a-{i % 4}", f"Agent {i % 4}"),
            workflow=workflow(tenant, f"wf-{i % 5}", f"Flow {i % 5}"),
            lead=the_lead,
            status=STATUSES[i % len(STATUSES)],
            end_call_reason=REASONS[i % len(REASONS)],
            duration=i * 7,
            channel="web_chat",
            turns=i % 3,
            actions=[f"action-{i % 3}", f"action-{i % 4}"],
            latencies=[(*PROVIDERS[i % 4], 10.0 * i), (*PROVIDERS[(i + 1) % 4], 5.0 * i)],
        )
        error_log(tenant, start, call=c, service=["stt", "llm"][i % 2])
        event(tenant, start, ["lead.created", "lead.qualified"][i % 2], lead=the_lead, call=c)


def count_queries(client: APIClient, url: str, params: dict[str, Any]) -> int:
    client.get(url, params)  # warm up: the API key's last_used_at write happens once a minute
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, response.json()
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_data(api_client: APIClient, tenant: Tenant) -> None:
    def counts() -> dict[str, int]:
        return {
            f"{url} {params}": count_queries(api_client, url, params) for url, params in REQUESTS
        }

    grow(tenant, 0, 3)
    small = counts()
    grow(tenant, 3, 40)
    large = counts()
    assert large == small
    # One query reads the API key; each set of facts reads the window's rollup state (one query)
    # before its rows; the largest answer (/v2/analytics/, seven blocks) stays within 16.
    assert max(large.values()) <= 16, large

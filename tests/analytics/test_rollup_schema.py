"""The call rollup schema stores what the analytics read, and nothing more.

Every analytics endpoint and the dashboard are exercised with their filter variants over rolled
days while the grouping each call question is read from is recorded: every stored grouping must
be chosen by some question (a grouping no question chooses is rows written for nothing). A
question no stored grouping holds is answered from raw rows, exactly.
(That each grouping's rows are the sums of the raw calls is a property in
``test_rollup_equivalence.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from rest_framework.test import APIClient

from analytics import rollups
from analytics.dashboard import Scope, build_dashboard, custom_window
from analytics.facts import (
    CallQuestion,
    FactScope,
    call_answers,
    call_facts,
    one_answer,
    raw_only,
    rolled,
)
from analytics.facts import raw as raw_facts
from analytics.facts.vocabulary import CALL_GROUPINGS, CallFilters, grouping_for
from analytics.models import CallDayRollup
from analytics.windows import Window
from calls.models import Agent, Tenant
from calls.services import ingest_call_documents
from tests.analytics.conftest import utc

pytestmark = pytest.mark.django_db

FIRST = date(2026, 3, 2)  # a Monday
DAYS = 10


def _documents() -> list[dict[str, Any]]:
    """Calls on every day, across agents, types, channels, statuses, end reasons, workflows and
    lead sources."""
    documents = []
    for i in range(DAYS * 4):
        day = FIRST + timedelta(days=i % DAYS)
        documents.append(
            {
                "call_id": f"c-{i}",
                "status": ("completed", "failed", "no-answer")[i % 3],
                "start_time": f"{day.isoformat()}T{8 + i % 9:02d}:15:00Z",
                "end_call_reason": ("agent_goodbye", "human_goodbye", "")[i % 3],
                "model_id": f"agent-{i % 2}",
                "type_of_call": ("inbound", "outbound")[i % 2],
                "channel": ("phone", "web_chat")[i // 2 % 2],
                "duration": 30 + i,
                "workflow": {"slug": f"wf-{i % 3}"},
                "executed_actions": [{"name": "book"}],
                "latencies": [
                    {"provider_type": "llm", "provider_name": "a", "latency_ms": 100 + i}
                ],
                **(
                    {"lead": {"lead_id": f"lead_{i}", "source": ("chat", "form")[i % 2]}}
                    if i % 4 == 0
                    else {}
                ),
            }
        )
    return documents


@pytest.fixture
def rolled_tenant(db: Any) -> Tenant:
    tenant = Tenant.objects.create(name="S", slug="s", timezone="Europe/Berlin")
    ingest_call_documents(tenant=tenant, documents=_documents())
    rollups.roll_days(tenant_id=tenant.pk, first=FIRST, last=FIRST + timedelta(days=DAYS - 1))
    return tenant


@pytest.fixture
def chosen() -> Iterator[list[str | None]]:
    """The grouping chosen for every call question read while the fixture is in use."""
    seen: list[str | None] = []

    def recording(columns: set[str]) -> str | None:
        grouping = grouping_for(columns)
        seen.append(grouping)
        return grouping

    with mock.patch.object(rolled, "grouping_for", recording):
        yield seen


def _api_requests() -> Iterator[tuple[str, dict[str, str]]]:
    """Every analytics endpoint with each of its filter variants, over windows that hold rolled
    days."""
    zone = {"timezone": "Europe/Berlin"}
    first, last = FIRST + timedelta(days=1), FIRST + timedelta(days=DAYS - 2)
    dates = {"startDate": first.isoformat(), "endDate": last.isoformat(), **zone}
    instants = {
        "started_after": f"{first.isoformat()}T06:00:00Z",
        "started_before": f"{last.isoformat()}T18:00:00Z",
        **zone,
    }
    v2 = {"from_date": instants["started_after"], "to_date": instants["started_before"], **zone}
    for agent in (None, "agent-1"):
        for kind in (None, "outbound"):
            params = dict(v2)
            if agent:
                params["model_id"] = agent
            if kind:
                params["type_of_call"] = kind
            yield "/v2/analytics/", params
    yield "/api/v1/analytics/summary", instants
    for interval in ("hour", "day", "week"):
        yield "/api/v1/analytics/call-volume", {**instants, "interval": interval}
    yield "/api/v1/analytics/workflow-stats", instants
    yield "/api/v1/analytics/provider-latency", instants
    for granularity in ("day", "week", "month"):
        yield "/api/v1/analytics/overview", {**dates, "granularity": granularity}
    yield "/api/v1/analytics/overview", {**dates, "compareWith": "previous_period"}
    for channel in (None, "phone"):
        for source in (None, "chat"):
            params = dict(dates)
            if channel:
                params["channel"] = channel
            if source:
                params["source"] = source
            yield "/api/v1/analytics/funnel", params
    yield "/api/v1/analytics/activity", dates


def _dashboard_scopes(tenant: Tenant) -> Iterator[Scope]:
    """The dashboard's windows (hourly, daily, weekly charts) with its agent and type filters."""
    agent = Agent.objects.get(tenant=tenant, model_id="agent-1")
    last = FIRST + timedelta(days=DAYS - 1)
    windows = [
        custom_window(FIRST + timedelta(days=3), FIRST + timedelta(days=4), tenant.zone),
        custom_window(FIRST, last, tenant.zone),
        custom_window(last - timedelta(days=120), last, tenant.zone),
    ]
    for window in windows:
        for filters in ({}, {"agent": agent}, {"type_of_call": "inbound"}):
            yield Scope(tenant=tenant, window=window, **filters)


def test_every_stored_call_grouping_is_chosen_by_a_question_asked(
    rolled_tenant: Tenant, make_client: Any, chosen: list[str | None]
) -> None:
    client: APIClient = make_client(rolled_tenant)
    for url, params in _api_requests():
        response = client.get(url, params)
        assert response.status_code == 200, (url, params, response.content[:500])
    now = datetime(2026, 3, 12, 12, tzinfo=rolled_tenant.zone)
    for scope in _dashboard_scopes(rolled_tenant):
        build_dashboard(scope, now=now)

    assert set(chosen) - {None} == set(CALL_GROUPINGS)


def test_a_question_no_stored_grouping_holds_is_answered_from_raw_rows(
    rolled_tenant: Tenant,
) -> None:
    window = custom_window(FIRST, FIRST + timedelta(days=DAYS - 1), rolled_tenant.zone)
    scope = FactScope(tenant=rolled_tenant, window=window, zone=rolled_tenant.zone)
    # Per channel for one agent: no grouping is keyed by both.
    question: dict[str, Any] = {
        "filters": CallFilters(agent_model_id="agent-1"),
        "by": ("channel",),
        "per_day": False,
    }
    assert rolled.call_grouping(question["filters"], ("channel",)) is None
    assert CallDayRollup.objects.filter(tenant=rolled_tenant).exists()

    with (
        one_answer(),
        mock.patch.object(raw_facts, "call_rows", wraps=raw_facts.call_rows) as raw_reads,
        mock.patch.object(rolled, "call_rows", wraps=rolled.call_rows) as rolled_reads,
    ):
        answer = call_facts(scope=scope, **question)
    with one_answer(), raw_only():
        expected = call_facts(scope=scope, **question)

    assert answer == expected
    assert sum(t.calls for t in answer.values()) == DAYS * 2
    assert rolled_reads.call_count == 0
    # The whole window in one read, rolled days and all.
    assert [c.kwargs["windows"] for c in raw_reads.call_args_list] == [(window,)]


def test_the_raw_read_of_such_a_question_is_shared_and_the_others_still_use_rollups(
    rolled_tenant: Tenant,
) -> None:
    # Partial first and last days around rolled ones: two raw pieces.
    window = Window(utc(2026, 3, 3, 12), utc(2026, 3, 7, 12))
    scope = FactScope(tenant=rolled_tenant, window=window, zone=rolled_tenant.zone)
    questions = [
        CallQuestion(by=("status",)),
        CallQuestion(by=("channel", "agent"), per_day=False),
        CallQuestion(by=("channel", "workflow")),
    ]

    with (
        one_answer(),
        mock.patch.object(raw_facts, "call_rows", wraps=raw_facts.call_rows) as raw_reads,
    ):
        answers = call_answers(scope=scope, questions=questions)
    with one_answer(), raw_only():
        expected = call_answers(scope=scope, questions=questions)

    assert answers == expected
    # One read of the two raw pieces for the question a grouping holds, one of the whole window
    # shared by the two no grouping holds.
    assert {c.kwargs["windows"] for c in raw_reads.call_args_list} == {
        (
            Window(utc(2026, 3, 3, 12), utc(2026, 3, 3, 23)),
            Window(utc(2026, 3, 6, 23), window.end),
        ),
        (window,),
    }
    assert raw_reads.call_count == 2

"""Rollup writes: dirty marking in the writer's transaction, idempotent rolls, late data."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from unittest import mock

import pytest
from django.db import connections

from analytics import rollups
from analytics.facts.vocabulary import CALL_GROUPINGS
from analytics.models import (
    ActionDayRollup,
    CallDayRollup,
    CallHourRollup,
    ErrorDayRollup,
    EventDayRollup,
    LatencyDayRollup,
    LatencyMonthRollup,
    LatencyWeekRollup,
    LeadDayRollup,
    RollupDay,
)
from analytics.sketch import Sketch
from calls.models import Tenant
from calls.services import ingest_call_documents
from tests.analytics.conftest import rollup_rows, utc

pytestmark = pytest.mark.django_db
ROLLUP_TABLES = (
    CallDayRollup,
    CallHourRollup,
    ActionDayRollup,
    LeadDayRollup,
    LatencyDayRollup,
    LatencyMonthRollup,
    LatencyWeekRollup,
    EventDayRollup,
    ErrorDayRollup,
)


def doc(call_id: str, start: str, **extra):
    return {
        "call_id": call_id,
        "status": "completed",
        "start_time": start,
        "duration": 60,
        "model_id": "agent-1",
        "end_call_reason": "agent_goodbye",
        "channel": "phone",
        "transcript": [{"role": "bot", "text": "Hi"}, {"role": "human", "text": "Hello"}],
        "executed_actions": [{"name": "book"}],
        "errors": [{"service": "stt", "message": "timeout"}],
        "latencies": [
            {"provider_type": "llm", "provider_name": "openai", "latency_ms": 200},
            {"provider_type": "llm", "provider_name": "openai", "latency_ms": 400},
        ],
        "lead": {
            "lead_id": f"lead_{call_id}",
            "source": "chat",
            "status": "qualified",
            "score": 50,
            "estimated_value": 1000,
        },
        **extra,
    }


def snapshot(tenant: Tenant) -> dict[str, list[tuple]]:
    """Every rollup row of the tenant, without ids, in a stable order."""
    return rollup_rows(tenant, ROLLUP_TABLES)


@pytest.fixture
def berlin(db) -> Tenant:
    return Tenant.objects.create(name="Berlin", slug="berlin", timezone="Europe/Berlin")


def test_ingestion_marks_the_tenant_local_day_dirty(berlin):
    # 23:30 UTC on March 1st is 00:30 on March 2nd in Berlin.
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-01T23:30:00Z")])

    state = RollupDay.objects.get(tenant=berlin)
    assert state.day == date(2026, 3, 2)
    assert state.dirty_since is not None and state.rolled_at is None


def test_rolling_clears_dirty_and_writes_every_table(berlin):
    ingest_call_documents(
        tenant=berlin,
        documents=[doc("a", "2026-03-02T10:00:00Z"), doc("b", "2026-03-02T11:00:00Z")],
    )

    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    state = RollupDay.objects.get(tenant=berlin, day=date(2026, 3, 2))
    assert state.dirty_since is None and state.rolled_at is not None
    assert state.timezone == "Europe/Berlin"
    row = CallDayRollup.objects.get(tenant=berlin, grouping="sales")
    assert (row.calls, row.completed, row.successful, row.duration_sum, row.turns) == (
        2,
        2,
        2,
        120,
        4,
    )
    assert row.lead_source == "chat"
    # Every grouping sums to the same day totals.
    for grouping in CALL_GROUPINGS:
        rows = CallDayRollup.objects.filter(tenant=berlin, grouping=grouping)
        assert sum(r.calls for r in rows) == 2, grouping
        assert sum(r.duration_sum for r in rows) == 120, grouping
    assert ActionDayRollup.objects.get(tenant=berlin, grouping="full").count == 2
    assert ActionDayRollup.objects.get(tenant=berlin, grouping="name").count == 2
    # Hours are rolled on their own (``roll_hours``), for recent days only.
    assert not CallHourRollup.objects.exists()
    errors = ErrorDayRollup.objects.get(tenant=berlin)
    assert (errors.day, errors.service, errors.level, errors.count) == (
        date(2026, 3, 2),
        "stt",
        "error",
        2,
    )
    latency = LatencyDayRollup.objects.get(tenant=berlin)
    assert (latency.samples, latency.latency_sum, latency.calls) == (4, 1200.0, 2)
    sketch = Sketch()
    sketch.merge_dense([latency.histogram])
    assert sketch.count == 4
    # The day's p50/p95/p99 (samples 200, 200, 400, 400 ms) are stored beside its histogram.
    p50, p95, p99 = latency.quantiles
    assert p50 == pytest.approx(300, rel=0.01)
    assert p95 == pytest.approx(400, rel=0.01) and p99 == pytest.approx(400, rel=0.01)
    for grouping in ("full", "stage"):
        rows = LeadDayRollup.objects.filter(tenant=berlin, grouping=grouping)
        assert {r.stage: r.count for r in rows} == {"created": 2, "qualified": 2}, grouping
    assert set(LeadDayRollup.objects.filter(grouping="stage").values_list("channel", "source")) == {
        ("", "")
    }
    assert LatencyMonthRollup.objects.get(tenant=berlin).month == date(2026, 3, 1)
    week = LatencyWeekRollup.objects.get(tenant=berlin)
    assert week.week == date(2026, 3, 2)  # the Monday of the rolled day's week
    assert (week.samples, week.latency_sum, week.calls) == (4, 1200.0, 2)
    events = dict(EventDayRollup.objects.filter(tenant=berlin).values_list("type", "count"))
    assert events == {"conversation.started": 2, "lead.created": 2, "lead.qualified": 2}


def test_rolling_twice_gives_identical_rows(berlin):
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))
    first = snapshot(berlin)

    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    assert snapshot(berlin) == first
    assert sum(len(rows) for rows in first.values()) >= 6


def test_a_roll_interrupted_midway_leaves_the_old_rows_and_the_day_dirty(berlin):
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))
    before = snapshot(berlin)
    ingest_call_documents(tenant=berlin, documents=[doc("b", "2026-03-02T12:00:00Z")])

    with (
        mock.patch.object(rollups, "_roll_leads", side_effect=RuntimeError("worker died")),
        pytest.raises(RuntimeError),
    ):
        rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    assert snapshot(berlin) == before
    assert RollupDay.objects.get(day=date(2026, 3, 2)).dirty_since is not None
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))
    assert CallDayRollup.objects.get(tenant=berlin, grouping="day").calls == 2


def test_late_call_for_a_rolled_day_marks_it_dirty_again(berlin):
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    ingest_call_documents(tenant=berlin, documents=[doc("late", "2026-03-02T09:00:00Z")])

    assert rollups.dirty_days() == [(berlin.pk, date(2026, 3, 2))]


def test_moving_a_call_to_another_day_marks_both_days(berlin):
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    ingest_call_documents(
        tenant=berlin,
        documents=[{"call_id": "a", "status": "completed", "start_time": "2026-03-05T10:00:00Z"}],
    )

    assert sorted(day for _, day in rollups.dirty_days()) == [date(2026, 3, 2), date(2026, 3, 5)]


def test_lead_stage_change_marks_the_stage_day(berlin):
    from calls.documents import LeadIn
    from calls.leads import lead_upsert

    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    lead_upsert(tenant=berlin, data=LeadIn(lead_id="lead_a", status="converted"))

    dirty = {day for _, day in rollups.dirty_days()}
    assert date(2026, 3, 2) in dirty  # the lead's created/qualified day
    assert len(dirty) == 2  # plus today, when it converted


def test_an_event_on_another_day_than_its_call_marks_that_day(berlin):
    # Handed off at 00:10 Berlin time on March 3rd, after starting late on March 2nd.
    late = doc(
        "a", "2026-03-02T22:50:00Z", end_time="2026-03-02T23:10:00Z", handoff=True, duration=None
    )
    del late["lead"]

    ingest_call_documents(tenant=berlin, documents=[late])

    assert sorted(day for _, day in rollups.dirty_days()) == [date(2026, 3, 2), date(2026, 3, 3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rolls_of_one_day_leave_one_set_of_rows():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    ingest_call_documents(
        tenant=tenant, documents=[doc(f"c{i}", f"2026-03-02T{10 + i}:00:00Z") for i in range(5)]
    )
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def roll() -> None:
        try:
            barrier.wait()
            rollups.roll_day(tenant_id=tenant.pk, day=date(2026, 3, 2))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=roll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert CallDayRollup.objects.filter(tenant=tenant, grouping="day").count() == 1
    assert CallDayRollup.objects.get(tenant=tenant, grouping="day").calls == 5
    assert ErrorDayRollup.objects.get(tenant=tenant).count == 5
    assert RollupDay.objects.filter(tenant=tenant).count() == 1


def roll_each_day_at_once(days: list[date]) -> Tenant:
    """A new tenant with one call on each of ``days``, every day rolled in its own thread and
    transaction, all started together."""
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    ingest_call_documents(
        tenant=tenant,
        documents=[doc(f"c{d.isoformat()}", f"{d.isoformat()}T10:00:00Z") for d in days],
    )
    barrier = threading.Barrier(len(days))
    errors: list[BaseException] = []

    def roll(day: date) -> None:
        try:
            barrier.wait()
            rollups.roll_day(tenant_id=tenant.pk, day=day)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=roll, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return tenant


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rolls_of_days_of_one_month_leave_a_complete_month_row():
    days = [date(2026, 3, d) for d in range(2, 10)]
    tenant = roll_each_day_at_once(days)

    month = LatencyMonthRollup.objects.get(tenant=tenant)  # exactly one row
    sketch = Sketch()
    sketch.merge_dense([month.histogram])
    assert sketch.count == 2 * len(days)  # every day's two samples


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rolls_of_days_of_one_week_leave_a_complete_week_row(monkeypatch):
    # Tuesday 2026-03-31 and Wednesday 2026-04-01: one week, two months (no month lock shared).
    # Each roll dawdles before merging the week's days, so both would merge at once unless the
    # week's lock makes the second wait for the first to commit.
    merge = rollups._merged_latency_days

    def slow_merge(*args, **kwargs):
        time.sleep(0.3)
        return merge(*args, **kwargs)

    monkeypatch.setattr(rollups, "_merged_latency_days", slow_merge)
    tenant = roll_each_day_at_once([date(2026, 3, 31), date(2026, 4, 1)])

    week = LatencyWeekRollup.objects.get(tenant=tenant)  # exactly one row
    assert (week.week, week.samples, week.calls) == (date(2026, 3, 30), 4, 2)
    sketch = Sketch()
    sketch.merge_dense([week.histogram])
    assert sketch.count == 4  # both days' two samples


def test_week_rows_stand_for_weeks_whose_days_are_all_clean(berlin):
    from analytics.facts import FactScope
    from analytics.facts.plan import split_window
    from analytics.facts.rolled import latency_period_rows
    from analytics.windows import date_window

    # Two weeks, Monday 2026-03-02 to Sunday 2026-03-15 (Berlin), one call a day.
    days = [date(2026, 3, 2) + timedelta(days=n) for n in range(14)]
    ingest_call_documents(
        tenant=berlin,
        documents=[doc(f"c{d.day}", f"{d.isoformat()}T10:00:00Z") for d in days],
    )
    rollups.roll_days(tenant_id=berlin.pk, first=days[0], last=days[-1])
    # A late call dirties one day of the second week.
    ingest_call_documents(tenant=berlin, documents=[doc("late", "2026-03-11T12:00:00Z")])
    window = date_window(days[0], days[-1], berlin.zone)

    scope = FactScope(tenant=berlin, window=window, zone=berlin.zone)
    split = split_window(scope=scope)
    rows = latency_period_rows(scope=scope, split=split)

    # The first week is one stored week row; the second week's six clean days are day rows
    # keyed by their week, and the dirty day is left to raw rows.
    assert sorted((r["week"], r["samples"]) for r in rows) == [
        (date(2026, 3, 2), 14),
        *[(date(2026, 3, 9), 2)] * 6,
    ]
    assert date(2026, 3, 11) not in split.days


def test_action_rollups_follow_a_calls_new_agent(berlin):
    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    moved = doc("a", "2026-03-02T10:00:00Z", model_id="agent-2", type_of_call="inbound")
    ingest_call_documents(tenant=berlin, documents=[moved])

    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))

    row = ActionDayRollup.objects.get(tenant=berlin, grouping="full")
    assert (row.agent.model_id, row.type_of_call, row.count) == ("agent-2", "inbound", 1)


@pytest.mark.parametrize("totals", ["CallTotals", "LeadTotals", "LatencyTotals"])
def test_totals_add_covers_every_field(totals):
    from dataclasses import fields

    from analytics import facts

    cls = getattr(facts, totals)
    one = cls(**{f.name: 1 for f in fields(cls)})
    total = cls()
    total.add(one)
    total.add(one)

    assert all(getattr(total, f.name) == 2 for f in fields(cls))


def test_rollup_measures_are_exactly_the_call_totals():
    from dataclasses import fields

    from analytics.facts import CALL_MEASURES, CallTotals

    assert tuple(f.name for f in fields(CallTotals)) == CALL_MEASURES


def test_whole_months_take_only_months_covered_entirely():
    from analytics.facts.rolled import _whole_months

    february = [date(2026, 2, 1) + timedelta(days=n) for n in range(28)]
    days = [date(2026, 1, 31), *february, *(date(2026, 3, d) for d in range(1, 6))]

    months, rest = _whole_months(days)

    assert months == [date(2026, 2, 1)]
    assert rest == [date(2026, 1, 31), *(date(2026, 3, d) for d in range(1, 6))]
    assert _whole_months(february[1:]) == ([], february[1:])


def test_one_view_of_rollups_looks_each_window_up_once(berlin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.facts import FactScope
    from analytics.facts.plan import one_view_of_rollups, split_window
    from analytics.windows import date_window

    ingest_call_documents(tenant=berlin, documents=[doc("a", "2026-03-02T10:00:00Z")])
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 2))
    window = date_window(date(2026, 3, 1), date(2026, 3, 3), berlin.zone)

    with CaptureQueriesContext(connection) as outside:
        split_window(scope=FactScope(tenant=berlin, window=window, zone=berlin.zone))
        split_window(scope=FactScope(tenant=berlin, window=window, zone=berlin.zone))
    with CaptureQueriesContext(connection) as inside, one_view_of_rollups():
        first = split_window(scope=FactScope(tenant=berlin, window=window, zone=berlin.zone))
        second = split_window(scope=FactScope(tenant=berlin, window=window, zone=berlin.zone))

    assert len(outside) == 2
    assert len(inside) == 1
    assert first == second
    assert first.days == (date(2026, 3, 2),)


def test_provider_latency_reads_whole_weeks_from_week_rows(berlin):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.facts import FactScope, latency_summary, one_answer, raw_only
    from analytics.windows import date_window

    # Monday 2026-03-09 to Sunday 2026-03-22 (two whole weeks, no whole month), varied latencies.
    days = [date(2026, 3, 9) + timedelta(days=n) for n in range(14)]
    documents = [
        doc(
            f"c{d.day}-{k}",
            f"{d.isoformat()}T{8 + k:02d}:00:00Z",
            latencies=[
                {"provider_type": "llm", "provider_name": "openai", "latency_ms": 50 + d.day * k},
                {"provider_type": "tts", "provider_name": "eleven", "latency_ms": 900 - d.day},
            ],
        )
        for d in days
        for k in range(3)
    ]
    ingest_call_documents(tenant=berlin, documents=documents)
    rollups.roll_days(tenant_id=berlin.pk, first=days[0], last=days[-1])
    window = date_window(days[0], days[-1], berlin.zone)
    fractions = (0.5, 0.95, 0.99)

    with raw_only(), one_answer():
        raw = latency_summary(
            scope=FactScope(tenant=berlin, window=window, zone=berlin.zone), fractions=fractions
        )
    with CaptureQueriesContext(connection) as queries, one_answer():
        rolled = latency_summary(
            scope=FactScope(tenant=berlin, window=window, zone=berlin.zone), fractions=fractions
        )

    assert any("analytics_latencyweekrollup" in q["sql"] for q in queries.captured_queries)
    assert not any("calls_latencysample" in q["sql"] for q in queries.captured_queries)
    assert rolled.keys() == raw.keys() == {("llm", "openai"), ("tts", "eleven")}
    for key, (raw_totals, raw_quantiles) in raw.items():
        totals, quantiles = rolled[key]
        assert (totals.samples, totals.calls) == (raw_totals.samples, raw_totals.calls) == (42, 42)
        assert totals.latency_sum == pytest.approx(raw_totals.latency_sum)
        assert quantiles == pytest.approx(raw_quantiles, rel=0.01)


def test_call_answers_read_the_raw_pieces_once_for_every_question(berlin):
    from analytics.facts import (
        CallQuestion,
        FactScope,
        call_answers,
        call_facts,
        one_answer,
        raw,
        raw_only,
    )
    from analytics.windows import Window

    ingest_call_documents(
        tenant=berlin,
        documents=[
            doc("a", "2026-03-02T15:00:00Z"),
            doc("b", "2026-03-03T10:00:00Z", model_id="agent-2", status="failed"),
            doc("c", "2026-03-03T12:00:00Z", end_call_reason="human_goodbye"),
            doc("d", "2026-03-04T08:00:00Z", model_id="agent-2", duration=30),
        ],
    )
    rollups.roll_day(tenant_id=berlin.pk, day=date(2026, 3, 3))
    # Raw pieces: the afternoon of March 2nd and the morning of March 4th; March 3rd is rolled.
    window = Window(utc(2026, 3, 2, 12), utc(2026, 3, 4, 12))
    questions = [
        CallQuestion(by=("status", "end_call_reason"), measures=("calls", "duration_sum")),
        CallQuestion(by=("agent",), per_day=False, measures=("calls", "successful")),
    ]
    scope = FactScope(tenant=berlin, window=window, zone=berlin.zone)

    with (
        one_answer(),
        mock.patch.object(raw, "call_rows", wraps=raw.call_rows) as raw_reads,
    ):
        answers = call_answers(scope=scope, questions=questions)
    with one_answer(), raw_only():
        expected = [
            call_facts(scope=scope, by=q.by, per_day=q.per_day, measures=q.measures)
            for q in questions
        ]

    assert raw_reads.call_count == 1
    assert answers == expected
    by_status = answers[0]
    assert by_status[(date(2026, 3, 3), "failed", "agent_goodbye")].calls == 1
    assert by_status[(date(2026, 3, 4), "completed", "agent_goodbye")].duration_sum == 30
    # Measures not asked for stay 0, from raw rows and rollups alike.
    assert all(t.positive == 0 and t.turns == 0 for t in by_status.values())
    assert sum(t.calls for t in answers[1].values()) == 4

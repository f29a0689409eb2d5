"""Hour rollups: rolls equal to raw rows, dirty hours, the horizon, the beat, concurrent rolls.

Hours are kept for the recent ``ROLLUP_HOUR_HORIZON_DAYS`` only, so every hour here is a few
hours before the test runs.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connections
from django.db.models import Count, F, Sum
from django.utils import timezone

from analytics import rollups, tasks
from analytics.facts.raw import CALLS_WITH_SAMPLES, call_aggregates
from analytics.facts.vocabulary import CALL_GROUPINGS, CALL_MEASURES, TOTALS
from analytics.models import (
    ActionHourRollup,
    CallHourRollup,
    ErrorDayRollup,
    ErrorHourRollup,
    EventHourRollup,
    LatencyHourRollup,
    RollupDay,
    RollupHour,
)
from analytics.sketch import Sketch
from analytics.windows import local_date, utc_hour
from calls.models import ActivityEvent, Call, ErrorLog, ExecutedAction, LatencySample, Tenant
from calls.services import ingest_call_documents
from tests.analytics.conftest import agent, call, error_log, event, lead, rollup_rows, workflow

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
HOUR_TABLES = (
    CallHourRollup,
    ActionHourRollup,
    EventHourRollup,
    ErrorHourRollup,
    LatencyHourRollup,
)


def hours_ago(n: int) -> datetime:
    return utc_hour(timezone.now()) - n * HOUR


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def iso_offset(hour: datetime) -> str:
    """An hour as the beat hands it to ``roll_tenant_hours``."""
    return hour.isoformat()


def doc(call_id: str, start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "status": "completed",
        "start_time": iso(start),
        "duration": 60,
        "latencies": [{"provider_type": "llm", "provider_name": "openai", "latency_ms": 200}],
        **extra,
    }


def hour_rows(tenant: Tenant) -> dict[str, list[tuple]]:
    """Every hour rollup row of the tenant, without ids, in a stable order."""
    return rollup_rows(tenant, HOUR_TABLES)


@pytest.fixture
def kolkata(db) -> Tenant:
    # A zone whose hours do not start on UTC hours: hour rollups are UTC hours all the same.
    return Tenant.objects.create(name="K", slug="k", timezone="Asia/Kolkata")


def seed_three_hours(tenant: Tenant, first: datetime) -> None:
    """Calls of every kind in the three hours from ``first``, and some just outside them."""
    agents = [agent(tenant, "a1"), agent(tenant, "a2")]
    flow = workflow(tenant)
    chat = lead(tenant, first, source="chat")
    form = lead(tenant, first, source="form")
    specs: list[tuple[timedelta, dict[str, Any]]] = [
        (timedelta(minutes=-1), {}),  # the hour before
        (timedelta(minutes=0), {"agent": agents[0], "lead": chat, "duration": 30}),
        (
            timedelta(minutes=5),
            {"agent": agents[0], "status": "failed", "type_of_call": "inbound", "duration": 12},
        ),
        (
            timedelta(minutes=59, seconds=59),
            {"agent": agents[1], "workflow": flow, "channel": "web_chat", "lead": form},
        ),
        (timedelta(hours=1), {"agent": agents[1], "end_call_reason": "human_goodbye"}),
        (
            timedelta(hours=1, minutes=30),
            {"agent": agents[0], "sentiment": "positive", "handoff": True, "lead": chat},
        ),
        (timedelta(hours=2, minutes=45), {"total_tokens": 900, "response_time_ms": 350}),
        (timedelta(hours=3), {}),  # the hour after
    ]
    for n, (offset, fields) in enumerate(specs):
        start = first + offset
        call(
            tenant,
            start,
            turns=n % 3,
            actions=["book", "transfer"][: n % 3],
            latencies=[("llm", "openai", 100.0 + 37 * n), ("tts", "eleven", 20.0 * n)][: 1 + n % 2],
            end_call_reason=fields.pop("end_call_reason", "agent_goodbye"),
            duration=fields.pop("duration", 60),
            **fields,
        )
        event(tenant, start + timedelta(minutes=1), "conversation.started")
        error_log(tenant, start + timedelta(minutes=2), service="llm" if n % 2 else "stt")
    error_log(tenant, first + timedelta(minutes=10), level="warning")


def raw_call_rows(tenant: Tenant, hour: datetime, keyed: tuple[str, ...]) -> dict[tuple, tuple]:
    calls = Call.objects.filter(tenant=tenant, start_time__gte=hour, start_time__lt=hour + HOUR)
    if not keyed:
        rows = [calls.aggregate(**call_aggregates())] if calls.exists() else []
    else:
        rows = list(
            calls.annotate(lead_source=F("lead__source"))
            .values(*keyed)
            .annotate(**call_aggregates())
            .order_by()
        )
    return {
        (hour, *(row[c] for c in keyed)): tuple(row[m] or 0 for m in CALL_MEASURES) for row in rows
    }


def assert_hours_equal_raw(tenant: Tenant, hours: list[datetime]) -> None:
    for name, keyed in CALL_GROUPINGS.items():
        rolled = {
            (row["hour"], *(row[c] for c in keyed)): tuple(row[m] for m in CALL_MEASURES)
            for row in CallHourRollup.objects.filter(tenant=tenant, grouping=name).values()
        }
        expected: dict[tuple, tuple] = {}
        for hour in hours:
            expected |= raw_call_rows(tenant, hour, keyed)
        assert rolled == expected, name
    for hour in hours:
        within = {"start_time__gte": hour, "start_time__lt": hour + HOUR}
        actions = ExecutedAction.objects.filter(tenant=tenant, **within)
        full = actions.values("agent_id", "type_of_call", "name").annotate(n=Count("pk"))
        assert {
            (r["agent_id"], r["type_of_call"], r["name"], r["count"])
            for r in ActionHourRollup.objects.filter(
                tenant=tenant, hour=hour, grouping="full"
            ).values()
        } == {(r["agent_id"], r["type_of_call"], r["name"], r["n"]) for r in full}
        by_name = actions.values("name").annotate(n=Count("pk")).order_by()
        assert set(
            ActionHourRollup.objects.filter(tenant=tenant, hour=hour, grouping="name").values_list(
                "name", "count", "agent_id", "type_of_call"
            )
        ) == {(r["name"], r["n"], None, "") for r in by_name}

        events = ActivityEvent.objects.filter(
            tenant=tenant, occurred_at__gte=hour, occurred_at__lt=hour + HOUR
        )
        assert dict(
            EventHourRollup.objects.filter(tenant=tenant, hour=hour).values_list("type", "count")
        ) == dict(events.values_list("type").annotate(n=Count("pk")).order_by())

        errors = ErrorLog.objects.filter(
            tenant=tenant, timestamp__gte=hour, timestamp__lt=hour + HOUR
        )
        assert set(
            ErrorHourRollup.objects.filter(tenant=tenant, hour=hour).values_list(
                "service", "level", "count"
            )
        ) == set(errors.values_list("service", "level").annotate(n=Count("pk")).order_by())

        samples = LatencySample.objects.filter(tenant=tenant, **within)
        expected_latency = {}
        for row in samples.values("provider_type", "provider_name").annotate(
            n=Count("pk"), total=Sum("latency_ms"), calls=CALLS_WITH_SAMPLES
        ):
            sketch = Sketch()
            sketch.extend(
                samples.filter(
                    provider_type=row["provider_type"], provider_name=row["provider_name"]
                ).values_list("latency_ms", flat=True)
            )
            key = (row["provider_type"], row["provider_name"])
            expected_latency[key] = (row["n"], row["total"], row["calls"], sketch.to_dense())
        assert {
            (r.provider_type, r.provider_name): (r.samples, r.latency_sum, r.calls, r.histogram)
            for r in LatencyHourRollup.objects.filter(tenant=tenant, hour=hour)
        } == expected_latency


@pytest.mark.parametrize("one_by_one", [False, True], ids=["run", "each-hour"])
def test_rolled_hours_hold_exactly_the_raw_sums_of_each_hour(kolkata, one_by_one):
    first = hours_ago(5)
    seed_three_hours(kolkata, first)
    hours = [first, first + HOUR, first + 2 * HOUR]

    if one_by_one:
        for hour in hours:
            assert rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)
    else:
        assert rollups.roll_hours(tenant_id=kolkata.pk, first=hours[0], last=hours[-1])

    assert_hours_equal_raw(kolkata, hours)
    # Nothing outside the rolled hours; every table got rows.
    rows = hour_rows(kolkata)
    assert all(rows.values())
    assert {r["hour"] for m in HOUR_TABLES for r in m.objects.values("hour")} == set(hours)
    states = RollupHour.objects.filter(tenant=kolkata).order_by("hour")
    assert [s.hour for s in states] == hours
    assert all(s.rolled_at is not None and s.dirty_since is None for s in states)


def test_rolling_hours_again_gives_identical_rows(kolkata):
    first = hours_ago(5)
    seed_three_hours(kolkata, first)
    rollups.roll_hours(tenant_id=kolkata.pk, first=first, last=first + 2 * HOUR)
    before = hour_rows(kolkata)

    for hour in (first, first + HOUR, first + 2 * HOUR):
        rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)

    assert hour_rows(kolkata) == before


def test_the_day_roll_writes_error_days_and_no_hours(kolkata):
    first = hours_ago(5)
    seed_three_hours(kolkata, first)
    day = local_date(first + HOUR, kolkata.zone)

    rollups.roll_day(tenant_id=kolkata.pk, day=day)

    assert not any(hour_rows(kolkata).values())
    assert not RollupHour.objects.filter(rolled_at__isnull=False).exists()
    # Error days are the tenant's local days, counted by the errors' timestamps.
    zone = kolkata.zone
    expected: dict[tuple, int] = {}
    for error in ErrorLog.objects.filter(tenant=kolkata):
        if local_date(error.timestamp, zone) == day:
            key = (error.service, error.level)
            expected[key] = expected.get(key, 0) + 1
    assert {
        (r.service, r.level): r.count for r in ErrorDayRollup.objects.filter(tenant=kolkata)
    } == expected
    assert set(ErrorDayRollup.objects.values_list("day", flat=True)) == {day}


def test_an_empty_hour_rolls_clean_with_no_rows(kolkata):
    hour = hours_ago(2)

    rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)

    state = RollupHour.objects.get(tenant=kolkata)
    assert (state.hour, state.dirty_since) == (hour, None) and state.rolled_at is not None
    assert not any(hour_rows(kolkata).values())


def test_roll_hours_refuses_instants_that_are_not_hour_starts(kolkata):
    with pytest.raises(ValueError, match="start of an hour"):
        rollups.roll_hour(tenant_id=kolkata.pk, hour=hours_ago(2) + timedelta(minutes=30))
    with pytest.raises(ValueError, match="start of an hour"):
        rollups.roll_hour(tenant_id=kolkata.pk, hour=hours_ago(2).replace(tzinfo=None))
    assert rollups.roll_hour(tenant_id=999_999, hour=hours_ago(2)) is False


def test_a_write_marks_its_hour_and_its_day_dirty(kolkata):
    hour = hours_ago(3)
    rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)

    ingest_call_documents(tenant=kolkata, documents=[doc("a", hour + timedelta(minutes=40))])

    state = RollupHour.objects.get(tenant=kolkata, hour=hour)
    assert state.dirty_since is not None and state.rolled_at is not None
    day = local_date(hour + timedelta(minutes=40), kolkata.zone)
    assert RollupDay.objects.get(tenant=kolkata, day=day).dirty_since is not None
    assert rollups.dirty_hours() == [(kolkata.pk, hour)]

    rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)

    assert rollups.dirty_hours() == []
    assert CallHourRollup.objects.get(tenant=kolkata, grouping="day").calls == 1


def test_moving_a_call_to_another_hour_marks_both_hours(kolkata):
    old, new = hours_ago(6), hours_ago(2)
    ingest_call_documents(tenant=kolkata, documents=[doc("a", old)])
    rollups.roll_hours(tenant_id=kolkata.pk, first=old, last=new)

    ingest_call_documents(tenant=kolkata, documents=[doc("a", new + timedelta(minutes=1))])

    assert sorted(hour for _, hour in rollups.dirty_hours()) == [old, new]


def test_hours_past_the_horizon_keep_their_call_totals_only(kolkata, settings):
    settings.ROLLUP_HOUR_HORIZON_DAYS = 2
    old, recent = hours_ago(49), hours_ago(47)
    ingest_call_documents(tenant=kolkata, documents=[doc("old", old), doc("recent", recent)])

    # Every hour written is marked, the old one too: its call totals are rolled.
    assert sorted(hour for _, hour in rollups.dirty_hours()) == [old, recent]
    rollups.roll_hours(tenant_id=kolkata.pk, first=old, last=recent)
    assert not RollupHour.objects.filter(dirty_since__isnull=False).exists()
    assert list(RollupHour.objects.values_list("hour", flat=True).order_by("hour")) == [
        old,
        hours_ago(48),
        recent,
    ]
    # The old hour has its totals row and nothing else; the recent one every table's rows.
    old_rows = {name: [r for r in rows if old in r] for name, rows in hour_rows(kolkata).items()}
    assert {name for name, rows in old_rows.items() if rows} == {"CallHourRollup"}
    assert CallHourRollup.objects.get(hour=old).grouping == TOTALS
    assert CallHourRollup.objects.filter(hour=recent).count() == len(CALL_GROUPINGS)
    assert LatencyHourRollup.objects.filter(hour=recent).exists()

    # Two hours later the recent hour falls past the horizon too: prune drops all but the call
    # totals, and keeps the states that vouch for them.
    assert rollups.prune_hours(now=timezone.now() + 2 * HOUR) > 0
    assert RollupHour.objects.count() == 3
    remaining = {name: rows for name, rows in hour_rows(kolkata).items() if rows}
    assert set(remaining) == {"CallHourRollup"}
    assert set(CallHourRollup.objects.values_list("grouping", "hour")) == {
        (TOTALS, old),
        (TOTALS, recent),
    }


def test_prune_keeps_the_hours_within_the_horizon(kolkata):
    hour = hours_ago(2)
    ingest_call_documents(tenant=kolkata, documents=[doc("a", hour)])
    rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)
    before = hour_rows(kolkata)

    assert rollups.prune_hours() == 0

    assert hour_rows(kolkata) == before
    assert RollupHour.objects.filter(tenant=kolkata, hour=hour).exists()


def test_the_beat_rolls_dirty_hours_that_ended_and_the_quiet_hours_of_every_tenant(kolkata):
    quiet = Tenant.objects.create(name="Q", slug="q", timezone="UTC")
    busy = [hours_ago(8), hours_ago(7), hours_ago(5)]
    ingest_call_documents(
        tenant=kolkata,
        documents=[
            *(doc(f"c{n}", hour + timedelta(minutes=9)) for n, hour in enumerate(busy)),
            # The hour under way is dirty too, but waits for its end.
            doc("now", hours_ago(0)),
        ],
    )
    last_three = [hours_ago(3), hours_ago(2), hours_ago(1)]

    with mock.patch.object(tasks.roll_tenant_hours, "delay") as delay:
        enqueued = tasks.roll_dirty_hours()

    runs = sorted(call.args for call in delay.call_args_list)
    assert runs == sorted(
        [
            # Consecutive dirty hours of a tenant in one task.
            (kolkata.pk, iso_offset(busy[0]), iso_offset(busy[1])),
            (kolkata.pk, iso_offset(busy[2]), iso_offset(busy[2])),
            # The last completed hours that no write touched, of both tenants.
            (kolkata.pk, iso_offset(last_three[0]), iso_offset(last_three[-1])),
            (quiet.pk, iso_offset(last_three[0]), iso_offset(last_three[-1])),
        ]
    )
    assert enqueued == 3 + 6

    # Run for real (tasks run in-process in tests): every hour handed out is rolled and clean.
    tasks.roll_dirty_hours()
    clean = RollupHour.objects.filter(rolled_at__isnull=False, dirty_since__isnull=True)
    assert set(clean.filter(tenant=kolkata).values_list("hour", flat=True)) == {
        *busy,
        *last_three,
    }
    assert set(clean.filter(tenant=quiet).values_list("hour", flat=True)) == set(last_three)
    assert RollupHour.objects.get(tenant=kolkata, hour=hours_ago(0)).dirty_since is not None
    assert not CallHourRollup.objects.filter(tenant=quiet).exists()
    # Quiet hours that have a state are not handed out again.
    with mock.patch.object(tasks.roll_tenant_hours, "delay") as delay:
        assert tasks.roll_dirty_hours() == 0
    delay.assert_not_called()


def test_the_beat_hands_out_a_bounded_number_of_dirty_hours_oldest_marks_first(kolkata):
    hours = [hours_ago(n) for n in range(30, 2, -1)]
    for n, hour in enumerate(hours):
        ingest_call_documents(tenant=kolkata, documents=[doc(f"c{n}", hour)])
    # The first hour is marked last.
    ingest_call_documents(tenant=kolkata, documents=[doc("late", hours[0])])

    assert [hour for _, hour in rollups.dirty_hours(limit=3)] == hours[1:4]


def test_reconcile_re_rolls_the_recent_hours_and_prune_is_a_task(kolkata):
    hour = hours_ago(30)
    ingest_call_documents(tenant=kolkata, documents=[doc("a", hour)])
    rollups.roll_hour(tenant_id=kolkata.pk, hour=hour)
    # A row written by hand, past the dirty marks.
    Call.objects.filter(tenant=kolkata).update(duration=99)

    assert tasks.reconcile_recent_hours() == 3 * 24

    assert CallHourRollup.objects.get(tenant=kolkata, grouping="day").duration_sum == 99
    assert RollupHour.objects.filter(tenant=kolkata, dirty_since__isnull=True).count() == 72
    assert tasks.prune_hours() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rolls_of_one_hour_leave_one_set_of_rows():
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    hour = hours_ago(2)
    ingest_call_documents(
        tenant=tenant,
        documents=[doc(f"c{i}", hour + timedelta(minutes=10 * i)) for i in range(5)],
    )
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def roll() -> None:
        try:
            barrier.wait()
            rollups.roll_hour(tenant_id=tenant.pk, hour=hour)
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
    assert CallHourRollup.objects.get(tenant=tenant, grouping="day").calls == 5
    assert CallHourRollup.objects.filter(tenant=tenant, grouping="status").count() == 1
    assert LatencyHourRollup.objects.get(tenant=tenant).samples == 5
    assert RollupHour.objects.filter(tenant=tenant).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_landing_mid_roll_keeps_the_hour_dirty(monkeypatch):
    tenant = Tenant.objects.create(name="T", slug="t", timezone="UTC")
    hour = hours_ago(2)
    ingest_call_documents(tenant=tenant, documents=[doc("a", hour + timedelta(minutes=1))])
    rolling = threading.Event()
    roll_events = rollups._roll_events

    def slow_roll_events(roll: Any) -> None:
        # The calls are read; the write below lands before this roll commits.
        rolling.set()
        time.sleep(0.5)
        roll_events(roll)

    monkeypatch.setattr(rollups, "_roll_events", slow_roll_events)
    errors: list[BaseException] = []

    def roll() -> None:
        try:
            rollups.roll_hour(tenant_id=tenant.pk, hour=hour)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=roll)
    thread.start()
    assert rolling.wait(timeout=10)
    ingest_call_documents(tenant=tenant, documents=[doc("b", hour + timedelta(minutes=2))])
    thread.join()

    assert errors == []
    state = RollupHour.objects.get(tenant=tenant, hour=hour)
    assert state.rolled_at is not None and state.dirty_since is not None
    assert CallHourRollup.objects.get(tenant=tenant, grouping="day").calls == 1
    monkeypatch.setattr(rollups, "_roll_events", roll_events)
    rollups.roll_hour(tenant_id=tenant.pk, hour=hour)
    assert CallHourRollup.objects.get(tenant=tenant, grouping="day").calls == 2
    assert RollupHour.objects.get(tenant=tenant, hour=hour).dirty_since is None


def test_rollup_freshness_admin_counts_dirty_days_and_hours_and_rolls_them(kolkata, admin_client):
    from django.urls import reverse

    hours = [hours_ago(30), hours_ago(29), hours_ago(3)]
    ingest_call_documents(
        tenant=kolkata, documents=[doc(f"c{n}", hour) for n, hour in enumerate(hours)]
    )
    url = reverse("admin:analytics_rollupfreshness_changelist")

    (row,) = admin_client.get(url).context["cl"].result_list
    dirty_days = RollupDay.objects.filter(tenant=kolkata, dirty_since__isnull=False).count()
    assert (row.dirty, row.dirty_hour_count) == (dirty_days, 3)

    response = admin_client.post(
        url, {"action": "roll_dirty_now", "_selected_action": [kolkata.pk]}, follow=True
    )

    assert f"Queued {dirty_days} day(s) and 3 hour(s)" in response.content.decode()
    (row,) = admin_client.get(url).context["cl"].result_list
    assert (row.dirty, row.dirty_hour_count) == (0, 0)

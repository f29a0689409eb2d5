"""Reading hour rollups: which hours of a window are read from hour rows, which from raw rows,
and in how many queries.

Hours are kept in full for the recent ``ROLLUP_HOUR_HORIZON_DAYS`` only, so every window here
ends a few hours before the test runs (at minute 37, like a window ending now).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import rollups
from analytics.facts import (
    CallFilters,
    FactScope,
    action_facts,
    call_facts,
    call_hour_facts,
    error_count,
    event_facts,
    latency_facts,
    latency_series,
    one_answer,
    raw,
    raw_only,
)
from analytics.facts.plan import first_readable_hour, split_window
from analytics.facts.vocabulary import hour_horizon
from analytics.windows import Window, day_start, local_date, resolve_zone, utc_hour
from calls.models import Tenant
from calls.services import ingest_call_documents

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)
# The end of every window: minute 37 of an hour three hours ago ("now", with room for late
# writes after it).
NOW = utc_hour(timezone.now()) - 3 * HOUR + timedelta(minutes=37)


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def document(i: int, start: datetime) -> dict[str, Any]:
    return {
        "call_id": f"c{i}",
        "status": ["completed", "completed", "failed"][i % 3],
        "start_time": iso(start),
        "duration": 60 + i,
        "model_id": f"agent-{1 + i % 2}",
        "type_of_call": "inbound",
        "executed_actions": [{"name": "book"}],
        "latencies": [
            {"provider_type": "llm", "provider_name": "openai", "latency_ms": 100 + i * 37 % 500}
        ],
        "errors": [{"service": "stt", "message": "timeout"}],
    }


def busy(tenant: Tenant, first: datetime, last: datetime) -> None:
    """A call every 20 minutes from ``first`` to ``last``."""
    count = (last - first) // timedelta(minutes=20)
    ingest_call_documents(
        tenant=tenant,
        documents=[document(i, first + i * timedelta(minutes=20)) for i in range(count)],
    )


def roll_every_hour(tenant: Tenant, first: datetime, last: datetime) -> None:
    rollups.roll_hours(tenant_id=tenant.pk, first=utc_hour(first), last=utc_hour(last))


def scope_of(tenant: Tenant, window: Window, zone: str | None = None) -> FactScope:
    return FactScope(tenant=tenant, window=window, zone=resolve_zone(zone or tenant.timezone))


def every_fact(scope: FactScope) -> dict[str, Any]:
    with one_answer():
        return {
            "calls": call_facts(scope=scope, by=("status",)),
            "totals": call_facts(scope=scope, by=("agent",), per_day=False),
            "filtered": call_facts(scope=scope, filters=CallFilters(agent_model_id="agent-1")),
            "hours": call_hour_facts(scope=scope),
            "actions": action_facts(scope=scope),
            "events": event_facts(scope=scope),
            "errors": error_count(scope=scope),
            "latency": latency_facts(scope=scope),
        }


@pytest.fixture
def raw_reads() -> Iterator[list[tuple[str, tuple[Window, ...]]]]:
    """Every raw read of calls, actions, events, errors and latencies: (what, windows)."""
    reads: list[tuple[str, tuple[Window, ...]]] = []
    names = (
        "call_rows",
        "call_hour_facts",
        "action_facts",
        "event_facts",
        "error_count",
        "latency_facts",
    )
    patches = []
    for name in names:
        original = getattr(raw, name)

        def record(*args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            reads.append((_name, tuple(kw["windows"])))
            return _original(*args, **kw)

        patches.append(mock.patch.object(raw, name, record))
    for patch in patches:
        patch.start()
    yield reads
    for patch in patches:
        patch.stop()


def test_a_day_ending_now_reads_raw_rows_for_its_two_partial_hours_only(
    berlin: Tenant, raw_reads: list[tuple[str, tuple[Window, ...]]]
) -> None:
    window = Window(NOW - 24 * HOUR, NOW)
    busy(berlin, window.start - 2 * HOUR, window.end + 2 * HOUR)
    roll_every_hour(berlin, window.start - 2 * HOUR, window.end + HOUR)
    scope = scope_of(berlin, window)

    rolled = every_fact(scope)
    reads = list(raw_reads)
    with raw_only():
        expected = every_fact(scope)

    assert rolled == expected
    assert rolled["errors"] == 72  # a call (and an error) every 20 minutes
    edges = (
        Window(window.start, utc_hour(window.start) + HOUR),
        Window(utc_hour(window.end), window.end),
    )
    # One raw read per fact, of the two partial hours at the edges and nothing else.
    assert sorted(name for name, _ in reads) == sorted(
        ["call_rows"] * 3
        + ["call_hour_facts", "action_facts", "event_facts"]
        + ["error_count", "latency_facts"]
    )
    assert {windows for _, windows in reads} == {edges}


def test_a_dirty_hour_is_read_from_raw_rows(
    berlin: Tenant, raw_reads: list[tuple[str, tuple[Window, ...]]]
) -> None:
    window = Window(NOW - 24 * HOUR, NOW)
    busy(berlin, window.start, window.end)
    roll_every_hour(berlin, window.start, window.end)
    late = utc_hour(NOW) - 5 * HOUR
    ingest_call_documents(tenant=berlin, documents=[document(999, late + timedelta(minutes=10))])
    scope = scope_of(berlin, window)

    split = split_window(scope=scope)
    rolled = every_fact(scope)
    reads = list(raw_reads)
    with raw_only():
        expected = every_fact(scope)

    assert Window(late, late + HOUR) in split.raw
    assert late not in split.hours and late - HOUR in split.hours
    assert rolled == expected
    assert sum(t.calls for t in rolled["calls"].values()) == 73
    assert all(Window(late, late + HOUR) in windows for _, windows in reads)


def test_per_day_answers_read_an_hour_straddling_local_midnight_raw(tenant: Tenant) -> None:
    # Kolkata's days start at 18:30 UTC: the UTC hour 18:00-19:00 holds the end of one local
    # day and the start of the next.
    tenant.timezone = "Asia/Kolkata"
    tenant.save(update_fields=["timezone"])
    window = Window(NOW - 80 * HOUR, NOW)
    busy(tenant, window.start, window.end)
    roll_every_hour(tenant, window.start, window.end)
    scope = scope_of(tenant, window)
    midnights = [
        utc_hour(day_start(day, scope.zone))
        for day in (local_date(NOW, scope.zone) - timedelta(days=n) for n in (1, 2))
    ]

    per_day = split_window(scope=scope, keyed_by="day")
    totals = split_window(scope=scope, keyed_by="window")

    for hour in midnights:
        assert hour.minute == 0 and day_start(local_date(NOW, scope.zone), scope.zone).minute == 30
        assert hour not in per_day.hours
        assert Window(hour, hour + HOUR) in per_day.raw
        assert hour in totals.hours
    assert len(totals.raw) == 2  # the partial hours at the edges
    with one_answer():
        rolled = (call_facts(scope=scope), call_facts(scope=scope, per_day=False))
    with one_answer(), raw_only():
        expected = (call_facts(scope=scope), call_facts(scope=scope, per_day=False))
    assert rolled == expected


@pytest.mark.parametrize(
    ("zone", "read_from_hours"),
    [("Europe/Berlin", True), ("Asia/Kolkata", False), ("America/St_Johns", False)],
)
def test_calls_per_local_hour_read_hour_rows_where_local_hours_are_utc_hours(
    tenant: Tenant, zone: str, read_from_hours: bool
) -> None:
    window = Window(NOW - 30 * HOUR, NOW)
    busy(tenant, window.start, window.end)
    roll_every_hour(tenant, window.start, window.end)
    scope = scope_of(tenant, window, zone)

    split = split_window(scope=scope, keyed_by="hour")
    filters = CallFilters(status="completed")
    with one_answer():
        rolled = (call_hour_facts(scope=scope), call_hour_facts(scope=scope, filters=filters))
    with one_answer(), raw_only():
        expected = (call_hour_facts(scope=scope), call_hour_facts(scope=scope, filters=filters))

    assert bool(split.hours) is read_from_hours
    assert split.days == ()
    assert rolled == expected
    assert sum(t.calls for t in rolled[0].values()) == 90


def test_days_and_hours_are_read_together_in_one_query_per_fact(berlin: Tenant) -> None:
    # Three whole local days rolled as days, the hours of the partial days around them as hours.
    last_day = local_date(NOW, berlin.zone) - timedelta(days=1)
    days = [last_day - timedelta(days=n) for n in (2, 1, 0)]
    window = Window(day_start(days[0], berlin.zone) - timedelta(hours=7, minutes=20), NOW)
    busy(berlin, window.start, window.end)
    rollups.roll_days(tenant_id=berlin.pk, first=days[0], last=days[-1])
    roll_every_hour(berlin, window.start, window.end)
    scope = scope_of(berlin, window)

    with CaptureQueriesContext(connection) as queries:
        rolled = every_fact(scope)
    with raw_only():
        expected = every_fact(scope)

    split = split_window(scope=scope)
    assert split.days == tuple(days) and split.hours
    assert rolled == expected
    sqls = [q["sql"] for q in queries.captured_queries]
    for table in ("call", "action", "event", "error", "latency"):
        hour_reads = [sql for sql in sqls if f"analytics_{table}hourrollup" in sql]
        day_reads = [sql for sql in sqls if f"analytics_{table}dayrollup" in sql]
        assert hour_reads, table
        # Each summed fact reads its days and hours in the same query.
        assert all(sql in hour_reads for sql in day_reads), table
    # The clean hours in the gaps the days leave, looked up once for every fact that reads those
    # days; calls per local hour read no days, so they look up the window's hours once more.
    assert sum("analytics_rolluphour" in sql for sql in sqls) == 2


def test_hours_past_the_horizon_are_read_from_raw_rows(berlin: Tenant) -> None:
    window = Window(NOW - 10 * HOUR, NOW)
    busy(berlin, window.start, window.end)
    roll_every_hour(berlin, window.start, window.end)
    scope = scope_of(berlin, window)
    assert len(split_window(scope=scope).hours) == 9

    # Later, with a one-day horizon: the older hours are still stored (not pruned yet), but a
    # roll would now write their call totals only, so nothing else of theirs is read.
    later = timezone.now() + timedelta(hours=18)
    with (
        override_settings(ROLLUP_HOUR_HORIZON_DAYS=1),
        mock.patch("django.utils.timezone.now", return_value=later),
    ):
        horizon = first_readable_hour()
        split = split_window(scope=scope)
        assert hour_horizon() < horizon
        assert split.hours and all(hour >= horizon for hour in split.hours)
        assert len(split.hours) < 9
        rolled = call_facts(scope=scope)
    with raw_only():
        assert rolled == call_facts(scope=scope)


def test_calls_per_hour_read_the_call_totals_kept_past_the_horizon(berlin: Tenant) -> None:
    window = Window(NOW - 10 * HOUR, NOW)
    busy(berlin, window.start, window.end)
    roll_every_hour(berlin, window.start, window.end)
    scope = scope_of(berlin, window)
    late = window.start + 2 * HOUR + timedelta(minutes=5)

    later = timezone.now() + timedelta(hours=18)
    with (
        override_settings(ROLLUP_HOUR_HORIZON_DAYS=1),
        mock.patch("django.utils.timezone.now", return_value=later),
    ):
        assert rollups.prune_hours() > 0
        # A late call in an hour past the horizon marks it dirty: read raw until rolled again.
        ingest_call_documents(tenant=berlin, documents=[document(999, late)])
        split = split_window(scope=scope, keyed_by="hour", totals_only=True)
        assert utc_hour(late) not in split.hours
        assert min(split.hours) < hour_horizon()
        assert len(split.hours) == 8
        with one_answer():
            dirty = call_hour_facts(scope=scope)
        roll_every_hour(berlin, window.start, window.end)
        assert len(split_window(scope=scope, keyed_by="hour", totals_only=True).hours) == 9
        with one_answer():
            rolled = call_hour_facts(scope=scope)
        # Filtered by status, the answer needs more than totals: no hour past the horizon.
        detailed = split_window(scope=scope, keyed_by="hour").hours
        assert detailed and min(detailed) >= first_readable_hour()
        with one_answer():
            filtered = call_hour_facts(scope=scope, filters=CallFilters(status="completed"))
        with raw_only():
            expected = call_hour_facts(scope=scope)
            expected_filtered = call_hour_facts(
                scope=scope, filters=CallFilters(status="completed")
            )

    assert dirty == rolled == expected
    assert filtered == expected_filtered
    assert sum(t.calls for t in expected.values()) == 31


def test_the_errors_total_reads_error_rollups_and_the_page_raw_rows(
    berlin: Tenant, make_client: Any
) -> None:
    window = Window(NOW - 24 * HOUR, NOW)
    busy(berlin, window.start, window.end)
    roll_every_hour(berlin, window.start, window.end)
    client: APIClient = make_client(berlin)
    params = {"started_after": iso(window.start), "started_before": iso(window.end)}

    with CaptureQueriesContext(connection) as queries:
        rolled = client.get("/api/v1/analytics/errors", {**params, "service": "stt"}).json()
    # Read before the next request, which empties the log.
    sqls = [q["sql"] for q in queries.captured_queries]
    with raw_only():
        expected = client.get("/api/v1/analytics/errors", {**params, "service": "stt"}).json()

    assert rolled.pop("meta")["window"] == expected.pop("meta")["window"]
    assert rolled == expected
    assert rolled["total"] == 72
    assert any("analytics_errorhourrollup" in sql for sql in sqls)
    with raw_only():
        assert (
            client.get("/api/v1/analytics/errors", {**params, "service": "llm"}).json()["total"]
            == 0
        )
    assert client.get("/api/v1/analytics/errors", {**params, "service": "llm"}).json()["total"] == 0


def test_latency_series_merge_hour_histograms_per_day(berlin: Tenant) -> None:
    window = Window(NOW - 50 * HOUR, NOW)
    busy(berlin, window.start, window.end)
    roll_every_hour(berlin, window.start, window.end)
    scope = scope_of(berlin, window)

    for weekly in (False, True):
        with one_answer():
            rolled = latency_series(scope=scope, fractions=(0.5, 0.99), weekly=weekly)
        with one_answer(), raw_only():
            expected = latency_series(scope=scope, fractions=(0.5, 0.99), weekly=weekly)
        assert rolled.keys() == expected.keys()
        for key, (totals, quantiles) in expected.items():
            assert rolled[key][0] == totals
            assert rolled[key][1] == pytest.approx(quantiles, rel=0.01)

"""The metric definitions, checked by hand, and percentiles against PostgreSQL's own."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from analytics.definitions import (
    SUCCESSFUL,
    decimal_change,
    percent_change,
    percentile_cont,
    point_change,
)
from analytics.facts import FactScope, latency_summary
from analytics.windows import Window
from calls.enums import KNOWN_END_CALL_REASONS, CallStatus
from calls.models import Call, Tenant, is_successful
from tests.analytics.conftest import call, utc

# Hand-checked: positions are fraction x (n - 1) over [15, 20, 35, 40, 50].
SAMPLE = [35.0, 50.0, 15.0, 40.0, 20.0]
HAND_CHECKED = {
    0.0: 15.0,
    0.4: 29.0,  # position 1.6: 20 + 0.6 x (35 - 20)
    0.5: 35.0,  # position 2
    0.95: 48.0,  # position 3.8: 40 + 0.8 x 10
    0.99: 49.6,  # position 3.96
    1.0: 50.0,
}


def test_percentile_cont_by_hand() -> None:
    ordered = sorted(SAMPLE)
    for fraction, expected in HAND_CHECKED.items():
        assert percentile_cont(ordered, fraction) == pytest.approx(expected)
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7.0], 0.99) == 7.0


@pytest.mark.postgres
def test_percentile_cont_agrees_with_postgresql(db: Any) -> None:
    rng = random.Random(7)
    values = [round(rng.lognormvariate(5, 0.6), 3) for _ in range(501)] + [0.0, 0.0, 1e6]
    fractions = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY v) "
            "FROM unnest(%s::float8[]) AS v",
            [fractions, values],
        )
        expected = cursor.fetchone()[0]
    ordered = sorted(values)
    assert [percentile_cont(ordered, f) for f in fractions] == expected


def test_latency_percentiles_on_the_hand_checked_sample(tenant: Tenant) -> None:
    for i, ms in enumerate(SAMPLE):
        call(tenant, utc(2026, 3, 2, i), latencies=[("llm", "openai", ms)])
    call(tenant, utc(2026, 3, 3), latencies=[("llm", "openai", 1000.0)])  # outside the window
    result = latency_summary(
        scope=FactScope(
            tenant=tenant, window=Window(utc(2026, 3, 2), utc(2026, 3, 3)), zone=tenant.zone
        ),
        fractions=list(HAND_CHECKED),
    )
    assert list(result) == [("llm", "openai")]
    totals, percentiles = result["llm", "openai"]
    assert (totals.samples, totals.calls) == (len(SAMPLE), len(SAMPLE))
    assert list(percentiles) == pytest.approx(list(HAND_CHECKED.values()))


def test_provider_latency_endpoint_uses_the_same_definition(
    api_client: APIClient, tenant: Tenant
) -> None:
    for i, ms in enumerate(SAMPLE):
        call(tenant, utc(2026, 3, 2, i), latencies=[("stt", "deepgram", ms)])
    [row] = api_client.get(
        "/api/v1/analytics/provider-latency",
        {"started_after": "2026-03-02T00:00:00Z", "started_before": "2026-03-03T00:00:00Z"},
    ).json()
    assert (row["p50_latency_ms"], row["p95_latency_ms"], row["p99_latency_ms"]) == (
        pytest.approx(35.0),
        pytest.approx(48.0),
        pytest.approx(49.6),
    )
    assert row["avg_latency_ms"] == pytest.approx(32.0)
    assert row["call_count"] == 5


def test_percent_change() -> None:
    assert percent_change(3, 2) == 50.0
    assert percent_change(1, 2) == -50.0
    assert percent_change(0, 2) == -100.0
    assert percent_change(5, 0) == 100.0
    assert percent_change(0, 0) == 0.0


def test_point_change_is_the_difference_of_two_rates() -> None:
    assert point_change(63.1, 68.1) == pytest.approx(-5.0)
    assert point_change(20.0, 0.0) == 20.0
    assert point_change(0.0, 0.0) == 0.0
    assert point_change(None, 50.0) is None
    assert point_change(50.0, None) is None


def test_decimal_change() -> None:
    assert decimal_change(124, 100) == pytest.approx(0.24)
    assert decimal_change(5, 0) is None
    assert decimal_change(None, 3) is None
    assert decimal_change(0.75, None) is None


def test_successful_in_sql_matches_successful_in_python(tenant: Tenant) -> None:
    reasons = [*KNOWN_END_CALL_REASONS, "", "custom"]
    combos = [
        (success, status, reason)
        for success in (True, False, None)
        for status in (CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER)
        for reason in reasons
    ]
    for i, (success, status, reason) in enumerate(combos):
        call(
            tenant,
            utc(2026, 3, 1),
            call_id=f"s{i}",
            success=success,
            status=status,
            end_call_reason=reason,
        )
    in_sql = set(
        Call.objects.filter(tenant=tenant).filter(SUCCESSFUL).values_list("call_id", flat=True)
    )
    in_python = {
        f"s{i}"
        for i, (success, status, reason) in enumerate(combos)
        if is_successful(success=success, status=status, end_call_reason=reason)
    }
    assert in_sql == in_python
    # Derived only for completed calls ending in a goodbye-type reason.
    assert "s0" in in_python  # explicit true
    derived = {
        r
        for (s, st, r) in combos
        if s is None
        and st == CallStatus.COMPLETED
        and is_successful(success=s, status=st, end_call_reason=r)
    }
    assert derived == {
        "agent_goodbye",
        "human_goodbye",
        "goodbye_detected",
        "agent_ended_call",
        "human_ended_call",
    }

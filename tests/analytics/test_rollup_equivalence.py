"""Properties: every analytics endpoint answers the same from rollups as from raw rows, and every
stored call grouping holds exactly the sums of the raw calls.

Random datasets (calls with children and leads, in random tenant zones around a DST change),
random subsets of days rolled up, late writes after the roll, random windows, filters and request
zones. Counts, sums and rates must be equal (floats to rounding); percentiles within 1%.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import TruncDate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from analytics import rollups
from analytics.facts import CALL_MEASURES, raw_only
from analytics.facts.raw import call_aggregates
from analytics.facts.vocabulary import CALL_GROUPINGS
from analytics.models import CallDayRollup
from analytics.sketch import RELATIVE_ACCURACY
from calls.keys import create_api_key
from calls.models import Call, Tenant
from calls.services import ingest_call_documents

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
FIRST_DAY = date(2026, 3, 26)  # Berlin and the EU switch to summer time on the 29th
DAYS = 7
STATUSES = ["completed", "completed", "failed", "no-answer", "busy", "in-progress"]
REASONS = ["agent_goodbye", "human_goodbye", "voicemail", "max_duration", ""]
PERCENTILE_KEYS = {"p50_latency_ms", "p95_latency_ms", "p99_latency_ms"}


def _iso(day_offset: int, minute: int) -> str:
    day = FIRST_DAY + timedelta(days=day_offset)
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00Z"


def _document(
    i: int,
    day: int,
    minute: int,
    status: str,
    reason: str,
    agent: str,
    kind: str,
    channel: str,
    sentiment: str | None,
    success: bool | None,
    handoff: bool,
    duration: int,
    turns: int,
    actions: list[str],
    latencies: list[tuple[str, str, float]],
    lead: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "call_id": f"c-{i}",
        "status": status,
        "start_time": _iso(day, minute),
        "end_call_reason": reason,
        "model_id": agent,
        "type_of_call": kind,
        "channel": channel,
        "sentiment": sentiment,
        **({"success": success} if success is not None else {}),
        "handoff": handoff,
        "duration": duration,
        "total_tokens": duration * 3,
        "response_time_ms": duration * 7.5,
        "workflow": {"slug": f"wf-{i % 2}"},
        "transcript": [{"role": "bot" if t % 2 else "human", "text": "x"} for t in range(turns)],
        "executed_actions": [{"name": name} for name in actions],
        "latencies": [
            {"provider_type": ptype, "provider_name": pname, "latency_ms": ms}
            for ptype, pname, ms in latencies
        ],
        **({"lead": lead} if lead else {}),
    }


call_documents = st.builds(
    _document,
    i=st.integers(0, 10_000),
    day=st.integers(-1, DAYS),
    minute=st.integers(0, 24 * 60 - 1),
    status=st.sampled_from(STATUSES),
    reason=st.sampled_from(REASONS),
    agent=st.sampled_from(["agent-a", "agent-b"]),
    kind=st.sampled_from(["inbound", "outbound"]),
    channel=st.sampled_from(["phone", "web_chat"]),
    sentiment=st.sampled_from(["positive", "neutral", "negative", None]),
    success=st.sampled_from([True, False, None]),
    handoff=st.booleans(),
    duration=st.integers(0, 600),
    turns=st.integers(0, 3),
    actions=st.lists(st.sampled_from(["book", "transfer"]), max_size=2),
    latencies=st.lists(
        st.tuples(
            st.sampled_from(["stt", "llm", "tts"]),
            st.sampled_from(["a", "b"]),
            st.floats(0, 3000, allow_nan=False).map(lambda v: round(v, 2)),
        ),
        max_size=4,
    ),
    lead=st.one_of(
        st.none(),
        st.builds(
            lambda n, status, score, source: {
                "lead_id": f"lead_{n}",
                "status": status,
                "score": score,
                "source": source,
                "channel": "phone",
                "estimated_value": score * 100,
            },
            n=st.integers(0, 5),
            status=st.sampled_from(["new", "qualified", "demo_booked", "converted", "lost"]),
            score=st.integers(0, 100),
            source=st.sampled_from(["chat", "form"]),
        ),
    ),
)


def _window(draw: Any) -> tuple[str, str]:
    start = draw(st.integers(-1, DAYS - 1))
    length = draw(st.integers(1, DAYS + 1 - start))
    aligned = draw(st.booleans())
    minute = 0 if aligned else draw(st.integers(0, 23 * 60))
    return _iso(start, minute), _iso(start + length, minute)


def _request(draw: Any, tenant_zone: str) -> tuple[str, dict[str, str]]:
    zone = draw(st.sampled_from([tenant_zone, tenant_zone, "UTC", "Asia/Kolkata"]))
    endpoint = draw(
        st.sampled_from(
            [
                "v2",
                "summary",
                "call-volume",
                "workflow-stats",
                "provider-latency",
                "overview",
                "funnel",
                "activity",
            ]
        )
    )
    after, before = _window(draw)
    if endpoint == "v2":
        params = {"from_date": after, "to_date": before, "timezone": zone}
        if draw(st.booleans()):
            params["model_id"] = draw(st.sampled_from(["agent-a", "agent-b"]))
        if draw(st.booleans()):
            params["type_of_call"] = draw(st.sampled_from(["inbound", "outbound"]))
        return "/v2/analytics/", params
    if endpoint == "activity":
        first = FIRST_DAY + timedelta(days=draw(st.integers(-1, DAYS - 1)))
        last = first + timedelta(days=draw(st.integers(0, 4)))
        params = {"startDate": first.isoformat(), "endDate": last.isoformat(), "timezone": zone}
        if draw(st.booleans()):
            params["type"] = draw(
                st.sampled_from(["conversation.started", "lead.created,conversation.handoff"])
            )
        return "/api/v1/analytics/activity", params
    if endpoint in {"overview", "funnel"}:
        first = FIRST_DAY + timedelta(days=draw(st.integers(-1, DAYS - 1)))
        last = first + timedelta(days=draw(st.integers(0, 4)))
        params = {"startDate": first.isoformat(), "endDate": last.isoformat(), "timezone": zone}
        if endpoint == "overview":
            params["granularity"] = draw(st.sampled_from(["day", "week", "month"]))
            if draw(st.booleans()):
                params["compareWith"] = "previous_period"
        else:
            if draw(st.booleans()):
                params["channel"] = draw(st.sampled_from(["phone", "web_chat"]))
            if draw(st.booleans()):
                params["source"] = draw(st.sampled_from(["chat", "form"]))
        return f"/api/v1/analytics/{endpoint}", params
    params = {"started_after": after, "started_before": before, "timezone": zone}
    if endpoint == "call-volume":
        params["interval"] = draw(st.sampled_from(["hour", "day", "week"]))
    return f"/api/v1/analytics/{endpoint}", params


def assert_same(rolled: Any, raw: Any, path: str = "") -> None:
    if isinstance(raw, dict):
        assert isinstance(rolled, dict) and rolled.keys() == raw.keys(), path
        for key in raw:
            if key == "meta":
                continue
            if key in PERCENTILE_KEYS and raw[key] is not None:
                assert rolled[key] is not None, f"{path}.{key}"
                # Each bucket representative is within 1% of the values it stands for.
                assert math.isclose(
                    rolled[key], raw[key], rel_tol=RELATIVE_ACCURACY + 1e-9, abs_tol=1e-9
                ), f"{path}.{key}: {rolled[key]} vs {raw[key]}"
                continue
            assert_same(rolled[key], raw[key], f"{path}.{key}")
    elif isinstance(raw, list):
        assert isinstance(rolled, list) and len(rolled) == len(raw), path
        for i, (a, b) in enumerate(zip(rolled, raw, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(raw, float) and isinstance(rolled, float):
        assert math.isclose(rolled, raw, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {rolled} vs {raw}"
    else:
        assert rolled == raw, f"{path}: {rolled!r} vs {raw!r}"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_rollup_and_raw_paths_give_the_same_answers(db: Any, data: st.DataObject) -> None:
    zone = data.draw(st.sampled_from(ZONES), label="tenant zone")
    documents = data.draw(st.lists(call_documents, max_size=25, unique_by=lambda d: d["call_id"]))
    rolled_days = data.draw(st.sets(st.integers(-2, DAYS + 1)), label="rolled day offsets")
    late = data.draw(st.lists(call_documents, max_size=4), label="late documents")
    requests = [_request(data.draw, zone) for _ in range(3)]

    with transaction.atomic():
        tenant = Tenant.objects.create(name="P", slug="p", timezone=zone)
        _, key = create_api_key(tenant=tenant)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        if documents:
            ingest_call_documents(tenant=tenant, documents=documents)
        for offset in sorted(rolled_days):
            rollups.roll_day(tenant_id=tenant.pk, day=FIRST_DAY + timedelta(days=offset))
        for document in late:  # written after the roll: their days turn dirty again
            ingest_call_documents(
                tenant=tenant, documents=[{**document, "call_id": f"late-{document['call_id']}"}]
            )

        for url, params in requests:
            rolled = client.get(url, params)
            with raw_only():
                raw = client.get(url, params)
            assert rolled.status_code == raw.status_code == 200, (url, params, raw.content)
            assert_same(rolled.json(), raw.json(), f"{url} {params}")
        transaction.set_rollback(True)


def test_rolled_days_are_read_from_rollups_not_raw_rows(db: Any) -> None:
    """The property above would pass vacuously if rollups were never read: here every day is
    rolled and the raw row source must not be asked for any of them."""
    from unittest import mock

    from analytics.facts import raw as raw_facts

    tenant = Tenant.objects.create(name="R", slug="r", timezone="Europe/Berlin")
    _, key = create_api_key(tenant=tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    ingest_call_documents(
        tenant=tenant,
        documents=[
            {
                "call_id": f"c{i}",
                "status": "completed",
                "start_time": _iso(i % DAYS, 600 + i),
                "duration": 60 + i,
                "model_id": "agent-a",
                "latencies": [
                    {"provider_type": "llm", "provider_name": "a", "latency_ms": 100 + i}
                ],
            }
            for i in range(20)
        ],
    )
    for offset in range(-1, DAYS + 1):
        rollups.roll_day(tenant_id=tenant.pk, day=FIRST_DAY + timedelta(days=offset))
    params = {
        "startDate": FIRST_DAY.isoformat(),
        "endDate": (FIRST_DAY + timedelta(days=DAYS - 1)).isoformat(),
    }

    with mock.patch.object(raw_facts, "call_rows", wraps=raw_facts.call_rows) as raw_calls:
        rolled = client.get("/api/v1/analytics/overview", params).json()
    with raw_only():
        raw = client.get("/api/v1/analytics/overview", params).json()

    assert raw_calls.call_count == 0
    assert _find(rolled, "totalConversations") == 20
    assert_same(rolled, raw)

    with mock.patch.object(raw_facts, "event_facts", wraps=raw_facts.event_facts) as raw_events:
        rolled = client.get("/api/v1/analytics/activity", params).json()
    with raw_only():
        raw = client.get("/api/v1/analytics/activity", params).json()

    assert raw_events.call_count == 0
    assert rolled["pagination"]["total"] == 20  # one conversation.started per call
    assert_same(rolled, raw)


def _find(body: Any, key: str) -> Any:
    if isinstance(body, dict):
        if key in body:
            return body[key]
        for value in body.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_stored_call_grouping_holds_the_sums_of_the_raw_calls(
    db: Any, data: st.DataObject
) -> None:
    """Each call grouping's rows, summed from the cube of a roll, are exactly the raw calls'
    totals grouped by the grouping's columns (every measure, every combination present)."""
    zone = data.draw(st.sampled_from(ZONES), label="tenant zone")
    documents = data.draw(st.lists(call_documents, max_size=25, unique_by=lambda d: d["call_id"]))

    with transaction.atomic():
        tenant = Tenant.objects.create(name="G", slug="g", timezone=zone)
        if documents:
            ingest_call_documents(tenant=tenant, documents=documents)
        rollups.roll_days(
            tenant_id=tenant.pk,
            first=FIRST_DAY - timedelta(days=2),
            last=FIRST_DAY + timedelta(days=DAYS + 1),
        )
        calls = Call.objects.filter(tenant=tenant).annotate(
            day=TruncDate("start_time", tzinfo=tenant.zone), lead_source=F("lead__source")
        )
        for grouping, columns in CALL_GROUPINGS.items():
            keys = ("day", *columns)
            expected = {
                tuple(row[k] for k in keys): tuple(row[m] or 0 for m in CALL_MEASURES)
                for row in calls.values(*keys).annotate(**call_aggregates()).order_by()
            }
            stored = {
                row[: len(keys)]: row[len(keys) :]
                for row in CallDayRollup.objects.filter(tenant=tenant, grouping=grouping)
                .order_by()
                .values_list(*keys, *CALL_MEASURES)
            }
            assert stored.keys() == expected.keys(), grouping
            for key, sums in expected.items():
                assert_same(list(map(float, stored[key])), list(map(float, sums)), grouping)
        transaction.set_rollback(True)

"""Properties: every analytics endpoint and every fact answers the same from rollups as from raw
rows, and every stored call grouping holds exactly the sums of the raw calls.

Random datasets (calls with children, errors and leads, in random tenant zones, around a DST
change), random subsets of days and of UTC hours rolled up, late writes after the rolls (their
days and hours turn dirty), random windows (whole days, or ending at any minute like a window
ending now), filters and request zones. Counts, sums and rates must be equal (floats to
rounding); percentiles within 1%.
"""

from __future__ import annotations

import math
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import TruncDate
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from analytics import rollups
from analytics.definitions import PERCENTILES
from analytics.facts import (
    CALL_MEASURES,
    CallFilters,
    CallQuestion,
    FactScope,
    action_facts,
    call_answers,
    call_hour_facts,
    error_count,
    event_facts,
    latency_facts,
    latency_series,
    latency_summary,
    lead_facts,
    one_answer,
    raw_only,
)
from analytics.facts.raw import call_aggregates
from analytics.facts.vocabulary import CALL_GROUPINGS
from analytics.models import CallDayRollup
from analytics.sketch import RELATIVE_ACCURACY
from analytics.windows import Window, resolve_zone
from calls.keys import create_api_key
from calls.models import Call, Tenant
from calls.services import ingest_call_documents

# America/St_Johns is 3h30 behind UTC (2h30 in summer), Asia/Kolkata 5h30 ahead: their local
# days do not start on UTC hours.
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "America/St_Johns"]
FIRST_DAY = date(2026, 3, 26)  # Berlin and the EU switch to summer time on the 29th
# The weeks the datasets span: around the switch to summer time and back (2026-10-25).
BASES = [FIRST_DAY, date(2026, 10, 22)]
DAYS = 7
# Hours are kept from far enough back that every hour of the datasets is rolled and read.
HOUR_HORIZON_DAYS = max(35, (datetime.now(UTC).date() - FIRST_DAY).days + 30)
STATUSES = ["completed", "completed", "failed", "no-answer", "busy", "in-progress"]
REASONS = ["agent_goodbye", "human_goodbye", "voicemail", "max_duration", ""]
PERCENTILE_KEYS = {"p50_latency_ms", "p95_latency_ms", "p99_latency_ms"}


def _iso(day_offset: int, minute: int, base: date = FIRST_DAY) -> str:
    start = datetime.combine(base, time(), tzinfo=UTC)
    return (start + timedelta(days=day_offset, minutes=minute)).strftime("%Y-%m-%dT%H:%M:00Z")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _on(base: date, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (dated from ``FIRST_DAY``) moved to the same days from ``base``."""
    start = _instant(document["start_time"]) + (base - FIRST_DAY)
    return {**document, "start_time": start.isoformat().replace("+00:00", "Z")}


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
    errors: list[tuple[str, str]],
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
        # Stamped at the call's start (an error stamp is not among the instants a write marks).
        "errors": [
            {"service": service, "level": level, "message": "x"} for service, level in errors
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
    errors=st.lists(
        st.tuples(st.sampled_from(["stt", "llm", "tool"]), st.sampled_from(["error", "warning"])),
        max_size=2,
    ),
)


def _window(draw: Any, base: date = FIRST_DAY) -> tuple[str, str]:
    """Whole or partial days, or a window ending at any minute (like "the last hour / day /
    week", asked now)."""
    if draw(st.booleans()):
        end = draw(st.integers(60, (DAYS + 1) * 24 * 60))
        length = draw(st.sampled_from([60, 24 * 60, 7 * 24 * 60, draw(st.integers(1, 3 * 1440))]))
        return _iso(0, end - length, base), _iso(0, end, base)
    start = draw(st.integers(-1, DAYS - 1))
    length = draw(st.integers(1, DAYS + 1 - start))
    aligned = draw(st.booleans())
    minute = 0 if aligned else draw(st.integers(0, 23 * 60))
    return _iso(start, minute, base), _iso(start + length, minute, base)


def _request(draw: Any, tenant_zone: str, base: date = FIRST_DAY) -> tuple[str, dict[str, str]]:
    zone = draw(st.sampled_from([tenant_zone, tenant_zone, "UTC", "Asia/Kolkata"]))
    endpoint = draw(
        st.sampled_from(
            [
                "v2",
                "summary",
                "call-volume",
                "workflow-stats",
                "provider-latency",
                "errors",
                "overview",
                "funnel",
                "activity",
            ]
        )
    )
    after, before = _window(draw, base)
    if endpoint == "v2":
        params = {"from_date": after, "to_date": before, "timezone": zone}
        if draw(st.booleans()):
            params["model_id"] = draw(st.sampled_from(["agent-a", "agent-b"]))
        if draw(st.booleans()):
            params["type_of_call"] = draw(st.sampled_from(["inbound", "outbound"]))
        return "/v2/analytics/", params
    if endpoint == "activity":
        first = base + timedelta(days=draw(st.integers(-1, DAYS - 1)))
        last = first + timedelta(days=draw(st.integers(0, 4)))
        params = {"startDate": first.isoformat(), "endDate": last.isoformat(), "timezone": zone}
        if draw(st.booleans()):
            params["type"] = draw(
                st.sampled_from(["conversation.started", "lead.created,conversation.handoff"])
            )
        return "/api/v1/analytics/activity", params
    if endpoint in {"overview", "funnel"}:
        first = base + timedelta(days=draw(st.integers(-1, DAYS - 1)))
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
    if endpoint == "errors":
        if draw(st.booleans()):
            params["service"] = draw(st.sampled_from(["stt", "tool"]))
        if draw(st.booleans()):
            params["level"] = draw(st.sampled_from(["error", "warning"]))
    return f"/api/v1/analytics/{endpoint}", params


def _dataset(data: st.DataObject, tenant: Tenant, base: date) -> None:
    """Ingests random calls around ``base``, rolls random days and runs of UTC hours, then
    ingests late calls (their days and hours turn dirty)."""
    documents = data.draw(st.lists(call_documents, max_size=25, unique_by=lambda d: d["call_id"]))
    rolled_days = data.draw(st.sets(st.integers(-2, DAYS + 1)), label="rolled day offsets")
    every_hour = data.draw(st.booleans(), label="every hour rolled")
    hour_runs = data.draw(
        st.lists(st.tuples(st.integers(-24, (DAYS + 1) * 24), st.integers(1, 72)), max_size=3),
        label="rolled hour runs (first hour offset, hours)",
    )
    late = data.draw(st.lists(call_documents, max_size=4), label="late documents")
    if documents:
        ingest_call_documents(tenant=tenant, documents=[_on(base, d) for d in documents])
    for offset in sorted(rolled_days):
        rollups.roll_day(tenant_id=tenant.pk, day=base + timedelta(days=offset))
    midnight = datetime.combine(base, time(), tzinfo=UTC)
    if every_hour:
        hour_runs = [(-24, (DAYS + 3) * 24)]
    for offset, hours in hour_runs:
        first = midnight + timedelta(hours=offset)
        rollups.roll_hours(
            tenant_id=tenant.pk, first=first, last=first + timedelta(hours=hours - 1)
        )
    for document in late:  # written after the rolls: their days and hours turn dirty again
        ingest_call_documents(
            tenant=tenant,
            documents=[_on(base, {**document, "call_id": f"late-{document['call_id']}"})],
        )


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
    base = data.draw(st.sampled_from(BASES), label="first day")

    with override_settings(ROLLUP_HOUR_HORIZON_DAYS=HOUR_HORIZON_DAYS), transaction.atomic():
        tenant = Tenant.objects.create(name="P", slug="p", timezone=zone)
        _, key = create_api_key(tenant=tenant)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        _dataset(data, tenant, base)
        requests = [_request(data.draw, zone, base) for _ in range(3)]

        for url, params in requests:
            rolled = client.get(url, params)
            with raw_only():
                raw = client.get(url, params)
            assert rolled.status_code == raw.status_code == 200, (url, params, raw.content)
            assert_same(rolled.json(), raw.json(), f"{url} {params}")
        transaction.set_rollback(True)


def assert_same_facts(rolled: Any, raw: Any, path: str = "") -> None:
    """Facts equal: keys and counts exactly, sums to rounding; the percentiles of a ``(totals,
    percentiles)`` pair within 1% (rolled days and hours give them from histograms)."""
    if isinstance(raw, dict):
        assert isinstance(rolled, dict) and rolled.keys() == raw.keys(), (
            f"{path}: {sorted(map(str, rolled))} vs {sorted(map(str, raw))}"
        )
        for key in raw:
            assert_same_facts(rolled[key], raw[key], f"{path}[{key}]")
    elif isinstance(raw, tuple) and len(raw) == 2 and is_dataclass(raw[0]):
        assert_same(asdict(rolled[0]), asdict(raw[0]), f"{path} totals")
        for i, (a, b) in enumerate(zip(rolled[1], raw[1], strict=True)):
            assert a is not None and b is not None, f"{path} p[{i}]"
            assert math.isclose(a, b, rel_tol=RELATIVE_ACCURACY + 1e-9, abs_tol=1e-9), (
                f"{path} p[{i}]: {a} vs {b}"
            )
    elif is_dataclass(raw):
        assert_same(asdict(rolled), asdict(raw), path)
    elif isinstance(raw, list):
        assert isinstance(rolled, list) and len(rolled) == len(raw), path
        for i, (a, b) in enumerate(zip(rolled, raw, strict=True)):
            assert_same_facts(a, b, f"{path}[{i}]")
    else:
        assert_same(rolled, raw, path)


call_filters = st.builds(
    CallFilters,
    agent_model_id=st.sampled_from([None, None, "agent-a"]),
    type_of_call=st.sampled_from([None, None, "inbound"]),
    channel=st.sampled_from([None, None, "phone"]),
    lead_source=st.sampled_from([None, None, None, "chat"]),
    status=st.sampled_from([None, None, "completed"]),
)
call_questions = st.builds(
    CallQuestion,
    by=st.lists(
        st.sampled_from(
            ["status", "end_call_reason", "agent", "workflow", "type_of_call", "channel"]
        ),
        max_size=2,
        unique=True,
    ).map(tuple),
    per_day=st.booleans(),
    measures=st.sampled_from([CALL_MEASURES, ("calls",), ("calls", "completed", "turns")]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_fact_is_the_same_from_rolled_days_and_hours_as_from_raw_rows(
    db: Any, data: st.DataObject
) -> None:
    """Each fact family, asked directly (calls per question and grouping, calls per local hour,
    actions, events, errors, leads, latency totals, summary and series), over windows whose
    rolled days and hours are mixed with dirty ones and partial edges."""
    zone = data.draw(st.sampled_from(ZONES), label="tenant zone")
    base = data.draw(st.sampled_from(BASES), label="first day")

    with override_settings(ROLLUP_HOUR_HORIZON_DAYS=HOUR_HORIZON_DAYS), transaction.atomic():
        tenant = Tenant.objects.create(name="F", slug="f", timezone=zone)
        _dataset(data, tenant, base)
        after, before = _window(data.draw, base)
        request_zone = data.draw(
            st.sampled_from([zone, zone, "UTC", "Asia/Kolkata", "America/St_Johns"])
        )
        scope = FactScope(
            tenant=tenant,
            window=Window(_instant(after), _instant(before)),
            zone=resolve_zone(request_zone),
        )
        filters = data.draw(call_filters, label="filters")
        questions = data.draw(st.lists(call_questions, min_size=1, max_size=3), label="questions")
        per_day = data.draw(st.booleans(), label="per day")
        weekly = data.draw(st.booleans(), label="weekly")
        fractions = data.draw(st.sampled_from([PERCENTILES, (0.5, 0.9)]), label="fractions")
        service = data.draw(st.sampled_from([None, "stt"]), label="service")
        level = data.draw(st.sampled_from([None, "warning"]), label="level")
        types = data.draw(
            st.sampled_from([(), ("conversation.started",), ("lead.created", "conversation.ended")])
        )

        def facts() -> dict[str, Any]:
            with one_answer():
                return {
                    "calls": call_answers(scope=scope, filters=filters, questions=questions),
                    "call hours": call_hour_facts(scope=scope, filters=filters),
                    "actions": action_facts(scope=scope, filters=filters, per_day=per_day),
                    "events": event_facts(scope=scope, types=types),
                    "errors": error_count(scope=scope, service=service, level=level),
                    "leads": lead_facts(scope=scope, per_day=per_day),
                    "latency": latency_facts(scope=scope, per_day=per_day),
                    "latency summary": latency_summary(scope=scope, fractions=fractions),
                    "latency series": latency_series(
                        scope=scope, fractions=fractions, weekly=weekly
                    ),
                }

        rolled = facts()
        with raw_only():
            raw = facts()
        assert_same_facts(rolled, raw, f"{scope.window} in {request_zone}")
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

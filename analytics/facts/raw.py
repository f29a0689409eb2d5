"""Facts computed from raw rows: calls, executed actions, leads, activity events, error logs
and latency samples of a scope's tenant in some windows (the raw pieces of the scope's window),
counted and summed per local day of the scope's zone (plus the requested dimensions).

This module is the only place analytics reads those rows in bulk; ``analytics.rollups`` rolls
them up with the same aggregates (``call_aggregates``, ``CALLS_WITH_SAMPLES``), so a rolled day
or hour holds exactly what is computed here.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncHour

from analytics.definitions import (
    COMPLETED,
    FAILED,
    HANDOFF,
    POSITIVE,
    SUCCESSFUL,
    percentile_cont,
)
from analytics.facts.db import fetch_rows
from analytics.facts.vocabulary import (
    CALL_MEASURES,
    LEAD_STAGE_COLUMNS,
    LEAD_STAGES,
    NO_CALL_FILTERS,
    NO_LEAD_FILTERS,
    PROVIDER_KEYS,
    CallFilters,
    CallTotals,
    FactScope,
    LatencyTotals,
    LeadFilters,
    LeadStage,
    LeadTotals,
)
from analytics.windows import Window, hour_floor, hours_are_utc_aligned
from calls.enums import ProviderType
from calls.models import (
    ActivityEvent,
    Call,
    ErrorLog,
    ExecutedAction,
    LatencySample,
    Lead,
    Tenant,
)
from config.statements import (
    Statement,
    aggregate_statement,
    compiled,
    day_of,
    queryset_statement,
    run_rows,
)

# --- Calls ------------------------------------------------------------------------------------


def call_aggregates(measures: Sequence[str] = CALL_MEASURES) -> dict[str, Aggregate]:
    """The aggregate of each of ``measures`` (fields of ``CallTotals``) over call rows."""
    aggregates: dict[str, Aggregate] = {
        "calls": Count("pk"),
        "completed": Count("pk", filter=COMPLETED),
        "failed": Count("pk", filter=FAILED),
        "successful": Count("pk", filter=SUCCESSFUL),
        "positive": Count("pk", filter=POSITIVE),
        "handoffs": Count("pk", filter=HANDOFF),
        "duration_sum": Sum("duration"),
        "duration_count": Count("duration"),
        "tokens_sum": Sum("total_tokens"),
        "response_time_sum": Sum("response_time_ms"),
        "response_time_count": Count("response_time_ms"),
        "turns": Sum("turn_count"),
    }
    return {name: aggregates[name] for name in measures}


# CallTotals field -> its Python type: SQL leaves a sum of no values NULL, and PostgreSQL sums
# bigint columns as numeric.
_MEASURE_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(CallTotals)}


def totals_from_row(row: dict[str, Any], measures: Sequence[str] = CALL_MEASURES) -> CallTotals:
    """CallTotals from a row aggregated with ``call_aggregates(measures)`` (the other fields
    stay 0)."""
    return CallTotals(**{name: _MEASURE_TYPES[name](row[name] or 0) for name in measures})


def within(column: str, windows: Sequence[Window]) -> Q:
    """``column`` inside any of ``windows`` (half-open, non-overlapping): the raw pieces of a
    window are read in one query, whatever their number."""
    if not windows:
        raise ValueError("no window to read")
    q = Q()
    for window in windows:
        q |= Q(**{f"{column}__gte": window.start, f"{column}__lt": window.end})
    return q


def _calls_in(tenant: Tenant, windows: Sequence[Window], filters: CallFilters) -> QuerySet[Call]:
    return (
        Call.objects.filter(within("start_time", windows), tenant=tenant)
        .filter(filters.q())
        .order_by()
    )


def call_rows(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    filters: CallFilters,
    keys: tuple[str, ...],
    measures: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Raw calls started in ``windows``, grouped by ``keys`` (``day`` in the scope's zone and
    Call columns) with ``call_aggregates(measures)``: one row per group."""
    given = filters.given()
    zone = scope.zone.key

    def build(values: Sequence[Any]) -> Statement:
        tenant_id, pieces, filtered = _unpack(values, len(windows), given)
        calls = Call.objects.filter(within("start_time", pieces), tenant_id=tenant_id)
        if not keys:  # one total (values() without names would group by every column)
            return aggregate_statement(
                calls.filter(filtered.q()).order_by(), call_aggregates(measures)
            )
        grouped = _grouped_calls(keys, zone, measures)
        return queryset_statement(
            grouped.filter(within("start_time", pieces), tenant_id=tenant_id).filter(filtered.q())
        )

    shape = ("raw.call_rows", keys, zone, measures, len(windows), given)
    rows = _with_days(run_rows(compiled(shape, build, _pack(scope.tenant.pk, windows, filters))))
    return rows if keys or rows[0]["calls"] else []


def _pack(tenant_id: int, windows: Sequence[Window], filters: CallFilters) -> list[Any]:
    """The values of a raw read of calls: its tenant, its windows' bounds, its filters'
    values (``compiled``)."""
    bounds = [bound for window in windows for bound in (window.start, window.end)]
    return [tenant_id, *bounds, *filters.values()]


def _with_days(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of a compiled read with their ``day``, if any, as a date (SQLite returns text)."""
    for row in rows:
        if "day" in row:
            row["day"] = day_of(row["day"])
    return rows


def _unpack(
    values: Sequence[Any], windows: int, given: tuple[str, ...]
) -> tuple[int, list[Window], CallFilters]:
    """``_pack``'s values back as the tenant id, the windows and the filters ``given``."""
    bounds = values[1 : 1 + 2 * windows]
    pieces = [Window(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    filters = CallFilters(**dict(zip(given, values[1 + 2 * windows :], strict=True)))
    return values[0], pieces, filters


@lru_cache(maxsize=256)
def _grouped_calls(keys: tuple[str, ...], zone: str, measures: tuple[str, ...]) -> QuerySet[Call]:
    """Calls grouped by ``keys`` (``day`` in ``zone``, Call columns) with
    ``call_aggregates(measures)``, not yet restricted to any rows: built once per shape, since
    resolving the aggregates costs about as much as running the query on a partial day. Each
    reader adds its tenant, windows and filters (plain and to-one columns, so they restrict rows
    before grouping)."""
    return (
        Call.objects.annotate(day=TruncDate("start_time", tzinfo=zoneinfo.ZoneInfo(zone)))
        .values(*keys)
        .annotate(**call_aggregates(measures))
        .order_by()
    )


def call_hour_facts(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    filters: CallFilters = NO_CALL_FILTERS,
    measures: tuple[str, ...] = CALL_MEASURES,
) -> dict[datetime, CallTotals]:
    """Call totals (``measures`` of them) keyed by the UTC start of each local hour of the
    scope's zone.

    Rows are grouped by UTC hour; in a zone whose hours do not start on UTC hours (India,
    Nepal, …) by UTC quarter-hour, since every zone's offset is a multiple of 15 minutes; the
    groups are then folded into local hours on the UTC timeline, so a repeated DST hour stays two
    buckets.
    """
    zone = scope.zone
    aligned = all(hours_are_utc_aligned(window, zone) for window in windows)
    queryset = _calls_in(scope.tenant, windows, filters).annotate(
        hour=TruncHour("start_time", tzinfo=UTC)
    )
    group = ["hour"]
    if not aligned:
        queryset = queryset.annotate(
            quarter=Case(
                When(start_time__minute__lt=15, then=Value(0)),
                When(start_time__minute__lt=30, then=Value(1)),
                When(start_time__minute__lt=45, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        group.append("quarter")
    facts: dict[datetime, CallTotals] = defaultdict(CallTotals)
    for row in queryset.values(*group).annotate(**call_aggregates(measures)):
        slot = row["hour"].astimezone(UTC) + timedelta(minutes=15 * row.get("quarter", 0))
        facts[hour_floor(slot, zone)].add(totals_from_row(row, measures))
    return dict(facts)


# --- Executed actions -------------------------------------------------------------------------


def actions_in(tenant: Tenant, windows: Sequence[Window]) -> QuerySet[ExecutedAction]:
    """Executed actions of the calls started in ``windows`` (index range scans: actions carry
    their call's tenant and start)."""
    return ExecutedAction.objects.filter(within("start_time", windows), tenant=tenant).order_by()


def action_facts(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    filters: CallFilters = NO_CALL_FILTERS,
    per_day: bool = True,
) -> dict[tuple[date | None, str], int]:
    """Executed actions of the calls started in ``windows``, counted by ``(local day, name)``
    (``(None, name)`` without ``per_day``)."""
    zone, given = scope.zone, filters.given()

    def build(values: Sequence[Any]) -> Statement:
        tenant_id, pieces, filtered = _unpack(values, len(windows), given)
        # Actions carry their call's agent and type; other filters go through the call.
        own = CallFilters(
            agent_model_id=filtered.agent_model_id, type_of_call=filtered.type_of_call
        )
        through_call = replace(filtered, agent_model_id=None, type_of_call=None)
        actions = ExecutedAction.objects.filter(
            within("start_time", pieces), tenant_id=tenant_id
        ).filter(own.q(), through_call.q("call__"))
        if per_day:
            actions = actions.annotate(day=TruncDate("start_time", tzinfo=zone))
        keys = ("day", "name") if per_day else ("name",)
        return queryset_statement(actions.order_by().values(*keys).annotate(n=Count("pk")))

    shape = ("raw.action_facts", zone.key, per_day, len(windows), given)
    rows = _with_days(run_rows(compiled(shape, build, _pack(scope.tenant.pk, windows, filters))))
    return {(row.get("day"), row["name"]): row["n"] for row in rows}


# --- Leads ------------------------------------------------------------------------------------


def lead_facts(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    filters: LeadFilters = NO_LEAD_FILTERS,
    stages: Sequence[LeadStage] = LEAD_STAGES,
    per_day: bool = True,
) -> dict[date | None, LeadTotals]:
    """Per local day (one total keyed ``None`` without ``per_day``): leads created in
    ``windows`` (with their score sum), and leads whose qualified / demo-booked / converted stamp
    falls in them (one query per stage asked for)."""
    facts: dict[date | None, LeadTotals] = defaultdict(LeadTotals)
    for stage in stages:
        column = LEAD_STAGE_COLUMNS[stage]
        aggregates: dict[str, Aggregate] = {"n": Count("pk")}
        if stage == "created":
            aggregates.update(score_sum=Sum("score"), score_count=Count("score"))
        elif stage == "qualified":
            aggregates.update(pipeline=Sum("estimated_value"))
        leads = (
            Lead.objects.filter(within(column, windows), tenant=scope.tenant)
            .filter(filters.q())
            .order_by()
        )
        rows: list[dict[str, Any]]
        if per_day:
            rows = fetch_rows(
                leads.annotate(day=TruncDate(column, tzinfo=scope.zone))
                .values("day")
                .annotate(**aggregates)
            )
        else:
            rows = [{"day": None, **leads.aggregate(**aggregates)}]
        for row in rows:
            if not row["n"]:
                continue
            facts[row["day"]].add_stage(stage, row)
    return dict(facts)


# --- Activity events ----------------------------------------------------------------------------


def events_in(
    tenant: Tenant, windows: Sequence[Window], types: Sequence[str] = ()
) -> QuerySet[ActivityEvent]:
    """Activity events that occurred in ``windows`` (of the given ``types``, if any)."""
    events = ActivityEvent.objects.filter(within("occurred_at", windows), tenant=tenant)
    return events.filter(type__in=types) if types else events


def event_facts(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    types: Sequence[str] = (),
) -> dict[tuple[date, str], int]:
    """Activity events that occurred in ``windows``, counted by ``(local day, type)``."""
    rows = fetch_rows(
        events_in(scope.tenant, windows, types)
        .order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=scope.zone))
        .values("day", "type")
        .annotate(n=Count("pk"))
    )
    return {(row["day"], row["type"]): row["n"] for row in rows}


# --- Error logs -------------------------------------------------------------------------------


def error_count(
    *, scope: FactScope, windows: Sequence[Window], service: str | None, level: str | None
) -> int:
    """Error logs stamped in ``windows`` (of ``service`` and ``level``, if given)."""
    logs = ErrorLog.objects.filter(within("timestamp", windows), tenant=scope.tenant)
    if service is not None:
        logs = logs.filter(service=service)
    if level is not None:
        logs = logs.filter(level=level)
    return logs.count()


# --- Provider latency -------------------------------------------------------------------------


# Every provider type, named in each raw read of samples (see ``samples_in``).
PROVIDER_TYPES = tuple(ProviderType.values)


def samples_in(tenant: Tenant, windows: Sequence[Window]) -> QuerySet[LatencySample]:
    """Latency samples of the calls started in ``windows``."""
    # Naming every provider type (ingestion accepts no other) lets PostgreSQL range-scan the
    # (tenant, provider_type, start_time) index once per type instead of reading the table.
    return LatencySample.objects.filter(
        within("start_time", windows), tenant=tenant, provider_type__in=PROVIDER_TYPES
    ).order_by()


# Distinct calls among samples: each call has exactly one first sample per provider.
CALLS_WITH_SAMPLES = Count("pk", filter=Q(first_of_provider=True))


def latency_facts(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    with_calls: bool = True,
    per_day: bool = True,
) -> dict[tuple[Any, ...], LatencyTotals]:
    """Latency samples of calls started in ``windows``, by ``(local day, provider type, name)``
    (by provider alone with ``per_day=False``).

    Without ``with_calls`` the call counts are left at 0 (averages do not need them).
    """
    keys = (*(("day",) if per_day else ()), *PROVIDER_KEYS)
    aggregates: dict[str, Aggregate] = {
        "samples": Count("pk"),
        "latency_sum": Sum("latency_ms"),
    }
    if with_calls:
        aggregates["calls"] = CALLS_WITH_SAMPLES
    zone = scope.zone

    def build(values: Sequence[Any]) -> Statement:
        tenant_id, pieces, _ = _unpack(values, len(windows), ())
        samples = LatencySample.objects.filter(
            within("start_time", pieces), tenant_id=tenant_id, provider_type__in=PROVIDER_TYPES
        ).order_by()
        return queryset_statement(
            samples.annotate(day=TruncDate("start_time", tzinfo=zone))
            .values(*keys)
            .annotate(**aggregates)
        )

    shape = ("raw.latency_facts", zone.key, keys, with_calls, len(windows))
    values = _pack(scope.tenant.pk, windows, NO_CALL_FILTERS)
    rows = _with_days(run_rows(compiled(shape, build, values)))
    return {
        tuple(row[k] for k in keys): LatencyTotals(
            samples=row["samples"],
            latency_sum=float(row["latency_sum"]),
            calls=row.get("calls", 0),
        )
        for row in rows
    }


class PercentilesCont(Aggregate):
    """PostgreSQL ``percentile_cont(ARRAY[...]) WITHIN GROUP (ORDER BY x)``: one sort, several
    fractions. The fractions are floats chosen by Callscope, inlined as literals."""

    function = "PERCENTILE_CONT"
    template = (
        "%(function)s(ARRAY[%(fractions)s]::float8[]) WITHIN GROUP (ORDER BY %(expressions)s)"
    )

    def __init__(self, expression: str, fractions: Sequence[float]) -> None:
        literal = ", ".join(repr(float(f)) for f in fractions)
        super().__init__(F(expression), fractions=literal, output_field=FloatField())

    def convert_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # The array arrives as a Python list; FloatField's converter must not touch it.
        return value


def latency_exact(
    *,
    scope: FactScope,
    windows: Sequence[Window],
    fractions: Sequence[float],
    per_day: bool = False,
) -> dict[tuple[Any, ...], tuple[LatencyTotals, tuple[float, ...]]]:
    """Totals (as ``latency_facts``) and exact percentiles (``percentile_cont``) of the latency
    samples of calls started in ``windows``, per ``(provider type, provider name)``, or per
    ``(local day, provider type, provider name)`` with ``per_day`` (days of the scope's zone),
    in one pass over the samples.

    On PostgreSQL computed in SQL; elsewhere the samples are fetched and the same definitions are
    applied in Python (``analytics.definitions.percentile_cont``).
    """
    keys = (*(("day",) if per_day else ()), *PROVIDER_KEYS)
    samples = samples_in(scope.tenant, windows).annotate(
        day=TruncDate("start_time", tzinfo=scope.zone if per_day else UTC)
    )
    if connection.vendor == "postgresql":
        rows = samples.values(*keys).annotate(
            samples=Count("pk"),
            latency_sum=Sum("latency_ms"),
            calls=CALLS_WITH_SAMPLES,
            p=PercentilesCont("latency_ms", fractions),
        )
        return {tuple(r[k] for k in keys): (LatencyTotals.of(r), tuple(r["p"])) for r in rows}
    grouped: dict[tuple[Any, ...], list[tuple[float, bool]]] = defaultdict(list)
    for *key, latency, first in samples.values_list(*keys, "latency_ms", "first_of_provider"):
        grouped[tuple(key)].append((latency, first))
    result = {}
    for key, pairs in grouped.items():
        values = sorted(latency for latency, _ in pairs)
        totals = LatencyTotals(
            samples=len(values),
            latency_sum=float(sum(values)),
            calls=sum(1 for _, first in pairs if first),
        )
        result[key] = (totals, tuple(percentile_cont(values, f) or 0.0 for f in fractions))
    return result

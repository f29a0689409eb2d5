"""Facts: additive aggregates per tenant-local day (or hour), computed here from raw rows.

This module is the only place analytics reads call, lead and latency rows in bulk (and, through
``analytics.rollup_reads``, rollup rows). Each function
takes a tenant, a half-open window, the zone whose calendar defines the days, and filters, and
returns counts and sums keyed by local day (plus the requested dimensions). Everything in a fact is
additive: facts of two windows, or of raw days and precomputed days, merge by addition. The query
layer (``analytics.queries``) only ever combines facts, so a second source of the same facts
(rollups for clean whole days) can stand in for raw rows day by day without changing an answer.

Percentiles are the exception (an order statistic does not add up): ``latency_summary``
computes them over the whole window.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from django.db import connection, transaction
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

from analytics import rollup_reads
from analytics.definitions import (
    COMPLETED,
    FAILED,
    HANDOFF,
    PERCENTILES,
    POSITIVE,
    SUCCESSFUL,
    percentile_cont,
)
from analytics.rollup_reads import CALL_MEASURES, fetch_rows
from analytics.sketch import Sketch, bucket_rows, dense_quantiles, sum_dense
from analytics.windows import Window, hour_floor, hours_are_utc_aligned, week_start
from calls.enums import ProviderType
from calls.models import ActivityEvent, Call, ExecutedAction, LatencySample, Lead, Tenant

CallDimension = Literal["status", "end_call_reason", "agent", "workflow", "type_of_call", "channel"]

# Dimension name -> Call column.
_CALL_DIMENSIONS: dict[str, str] = {
    "status": "status",
    "end_call_reason": "end_call_reason",
    "agent": "agent_id",
    "workflow": "workflow_id",
    "type_of_call": "type_of_call",
    "channel": "channel",
}

LeadStage = Literal["created", "qualified", "demo_booked", "converted"]
LEAD_STAGES: tuple[LeadStage, ...] = ("created", "qualified", "demo_booked", "converted")
_STAGE_COLUMN: dict[str, str] = {
    "created": "created_at",
    "qualified": "qualified_at",
    "demo_booked": "demo_booked_at",
    "converted": "converted_at",
}


@dataclass(frozen=True)
class CallFilters:
    """Which calls count. ``None`` means no restriction."""

    agent_model_id: str | None = None
    type_of_call: str | None = None
    channel: str | None = None
    # Calls whose lead came from this source.
    lead_source: str | None = None
    status: str | None = None

    def q(self, prefix: str = "") -> Q:
        conditions: dict[str, Any] = {}
        if self.status is not None:
            conditions[f"{prefix}status"] = self.status
        if self.agent_model_id is not None:
            conditions[f"{prefix}agent__model_id"] = self.agent_model_id
        if self.type_of_call is not None:
            conditions[f"{prefix}type_of_call"] = self.type_of_call
        if self.channel is not None:
            conditions[f"{prefix}channel"] = self.channel
        if self.lead_source is not None:
            conditions[f"{prefix}lead__source"] = self.lead_source
        return Q(**conditions)


NO_CALL_FILTERS = CallFilters()


@dataclass(frozen=True)
class LeadFilters:
    channel: str | None = None
    source: str | None = None

    def q(self) -> Q:
        conditions: dict[str, Any] = {}
        if self.channel is not None:
            conditions["channel"] = self.channel
        if self.source is not None:
            conditions["source"] = self.source
        return Q(**conditions)


NO_LEAD_FILTERS = LeadFilters()


@dataclass(slots=True)
class CallTotals:
    """Counts and sums over a set of calls (see ``analytics.definitions``)."""

    calls: int = 0
    completed: int = 0
    failed: int = 0
    successful: int = 0
    positive: int = 0
    handoffs: int = 0
    duration_sum: int = 0
    duration_count: int = 0
    tokens_sum: int = 0
    response_time_sum: float = 0.0
    response_time_count: int = 0
    # Transcript turns (``Call.turn_count`` summed).
    turns: int = 0

    def add(self, other: CallTotals) -> None:
        # Spelled out: this runs once per fact row, tens of thousands of times per answer.
        self.calls += other.calls
        self.completed += other.completed
        self.failed += other.failed
        self.successful += other.successful
        self.positive += other.positive
        self.handoffs += other.handoffs
        self.duration_sum += other.duration_sum
        self.duration_count += other.duration_count
        self.tokens_sum += other.tokens_sum
        self.response_time_sum += other.response_time_sum
        self.response_time_count += other.response_time_count
        self.turns += other.turns


@dataclass(slots=True)
class LeadTotals:
    """Leads created in a window, and leads whose stage stamp falls in it."""

    created: int = 0
    score_sum: int = 0
    score_count: int = 0
    qualified: int = 0
    # Σ estimated_value of the leads counted in ``qualified``.
    pipeline: Decimal = field(default_factory=Decimal)
    demo_booked: int = 0
    converted: int = 0

    def add(self, other: LeadTotals) -> None:
        self.created += other.created
        self.score_sum += other.score_sum
        self.score_count += other.score_count
        self.qualified += other.qualified
        self.pipeline += other.pipeline
        self.demo_booked += other.demo_booked
        self.converted += other.converted


@dataclass(slots=True)
class LatencyTotals:
    samples: int = 0
    latency_sum: float = 0.0
    # Distinct calls with samples. Additive across days: a call's samples all carry its start.
    calls: int = 0

    @classmethod
    def of(cls, row: Mapping[str, Any], samples: str = "samples") -> LatencyTotals:
        """The totals of a rollup row, summed rollup rows, or a ``bucket_rows`` row (whose
        sample count is ``n``)."""
        return cls(samples=row[samples], latency_sum=float(row["latency_sum"]), calls=row["calls"])

    def add(self, other: LatencyTotals) -> None:
        self.samples += other.samples
        self.latency_sum += other.latency_sum
        self.calls += other.calls


def sum_totals(totals: Iterable[Any], into: Any) -> Any:
    """Adds every item of ``totals`` into ``into`` and returns it."""
    for item in totals:
        into.add(item)
    return into


@contextmanager
def one_answer() -> Iterator[None]:
    """Wraps the reads of one answer (an API response, a dashboard).

    Each window's clean rollup days are looked up once (``rollup_reads.one_view_of_rollups``).
    On PostgreSQL the block runs in one transaction with JIT compilation off: the queries that
    read raw rows at a window's partial edge days are estimated at many times the rows they read
    (statistics lag the newest data), which crosses ``jit_above_cost``, and compiling then takes
    30-150 ms for a query that runs in 10-20 ms. ``SET LOCAL`` ends with the transaction.
    """
    with rollup_reads.one_view_of_rollups():
        if connection.vendor != "postgresql":
            yield
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            yield


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


def _raw_call_rows(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters,
    keys: tuple[str, ...],
    measures: tuple[str, ...],
) -> list[dict[str, Any]]:
    """Raw calls started in ``windows``, grouped by ``keys`` (``day`` in ``zone`` and Call
    columns) with ``call_aggregates(measures)``: one row per group."""
    if not keys:  # one total (values() without names would group by every column)
        row = _calls_in(tenant, windows, filters).aggregate(**call_aggregates(measures))
        return [row] if row["calls"] else []
    return fetch_rows(
        _grouped_calls(keys, zone.key, measures)
        .filter(within("start_time", windows), tenant=tenant)
        .filter(filters.q())
    )


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


def _raw_call_hour_facts(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
) -> dict[datetime, CallTotals]:
    """Call totals keyed by the UTC start of each local hour of ``zone``.

    Rows are grouped by UTC hour; in a zone whose hours do not start on UTC hours (India,
    Nepal, …) by UTC quarter-hour, since every zone's offset is a multiple of 15 minutes; the
    groups are then folded into local hours on the UTC timeline, so a repeated DST hour stays two
    buckets.
    """
    aligned = all(hours_are_utc_aligned(window, zone) for window in windows)
    queryset = _calls_in(tenant, windows, filters).annotate(
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
    for row in queryset.values(*group).annotate(**call_aggregates()):
        slot = row["hour"].astimezone(UTC) + timedelta(minutes=15 * row.get("quarter", 0))
        facts[hour_floor(slot, zone)].add(totals_from_row(row))
    return dict(facts)


def actions_in(tenant: Tenant, windows: Sequence[Window]) -> QuerySet[ExecutedAction]:
    """Executed actions of the calls started in ``windows`` (index range scans: actions carry
    their call's tenant and start)."""
    return ExecutedAction.objects.filter(within("start_time", windows), tenant=tenant).order_by()


def _raw_action_facts(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
    per_day: bool = True,
) -> dict[tuple[date | None, str], int]:
    """Executed actions of the calls started in ``windows``, counted by ``(local day, name)``
    (``(None, name)`` without ``per_day``)."""
    # Actions carry their call's agent and type; other filters go through the call.
    own = CallFilters(agent_model_id=filters.agent_model_id, type_of_call=filters.type_of_call)
    through_call = replace(filters, agent_model_id=None, type_of_call=None)
    actions = actions_in(tenant, windows).filter(own.q(), through_call.q("call__"))
    if per_day:
        actions = actions.annotate(day=TruncDate("start_time", tzinfo=zone))
    rows = fetch_rows(
        actions.values(*(("day",) if per_day else ()), "name").annotate(n=Count("pk"))
    )
    return {(row.get("day"), row["name"]): row["n"] for row in rows}


# --- Leads ------------------------------------------------------------------------------------


def _raw_lead_facts(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
    filters: LeadFilters = NO_LEAD_FILTERS,
    stages: Sequence[LeadStage] = LEAD_STAGES,
    per_day: bool = True,
) -> dict[date | None, LeadTotals]:
    """Per local day (one total keyed ``None`` without ``per_day``): leads created in
    ``windows`` (with their score sum), and leads whose qualified / demo-booked / converted stamp
    falls in them (one query per stage asked for)."""
    facts: dict[date | None, LeadTotals] = defaultdict(LeadTotals)
    for stage in stages:
        column = _STAGE_COLUMN[stage]
        aggregates: dict[str, Aggregate] = {"n": Count("pk")}
        if stage == "created":
            aggregates.update(score_sum=Sum("score"), score_count=Count("score"))
        elif stage == "qualified":
            aggregates.update(pipeline=Sum("estimated_value"))
        leads = (
            Lead.objects.filter(within(column, windows), tenant=tenant)
            .filter(filters.q())
            .order_by()
        )
        rows: list[dict[str, Any]]
        if per_day:
            rows = fetch_rows(
                leads.annotate(day=TruncDate(column, tzinfo=zone))
                .values("day")
                .annotate(**aggregates)
            )
        else:
            rows = [{"day": None, **leads.aggregate(**aggregates)}]
        for row in rows:
            if not row["n"]:
                continue
            totals = facts[row["day"]]
            _add_stage_row(totals, stage, row)
    return dict(facts)


def _add_stage_row(totals: LeadTotals, stage: str, row: dict[str, Any]) -> None:
    """Adds one stage's aggregate row (raw or summed rollup rows) into ``totals``."""
    if stage == "created":
        totals.created += row["n"]
        totals.score_sum += int(row["score_sum"] or 0)
        totals.score_count += row["score_count"] or 0
    elif stage == "qualified":
        totals.qualified += row["n"]
        totals.pipeline += Decimal(row["pipeline"] or 0)
    elif stage == "demo_booked":
        totals.demo_booked += row["n"]
    else:
        totals.converted += row["n"]


PROVIDER_KEYS = ("provider_type", "provider_name")


# --- Activity events ----------------------------------------------------------------------------


def events_in(
    tenant: Tenant, windows: Sequence[Window], types: Sequence[str] = ()
) -> QuerySet[ActivityEvent]:
    """Activity events that occurred in ``windows`` (of the given ``types``, if any)."""
    events = ActivityEvent.objects.filter(within("occurred_at", windows), tenant=tenant)
    return events.filter(type__in=types) if types else events


def _raw_event_facts(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
    types: Sequence[str] = (),
) -> dict[tuple[date, str], int]:
    """Activity events that occurred in ``windows``, counted by ``(local day, type)``."""
    rows = fetch_rows(
        events_in(tenant, windows, types)
        .order_by()
        .annotate(day=TruncDate("occurred_at", tzinfo=zone))
        .values("day", "type")
        .annotate(n=Count("pk"))
    )
    return {(row["day"], row["type"]): row["n"] for row in rows}


# --- Provider latency -------------------------------------------------------------------------


def samples_in(tenant: Tenant, windows: Sequence[Window]) -> QuerySet[LatencySample]:
    """Latency samples of the calls started in ``windows``."""
    # Naming every provider type (ingestion accepts no other) lets PostgreSQL range-scan the
    # (tenant, provider_type, start_time) index once per type instead of reading the table.
    return LatencySample.objects.filter(
        within("start_time", windows), tenant=tenant, provider_type__in=ProviderType.values
    ).order_by()


# Distinct calls among samples: each call has exactly one first sample per provider.
CALLS_WITH_SAMPLES = Count("pk", filter=Q(first_of_provider=True))


def _raw_latency_facts(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    zone: zoneinfo.ZoneInfo,
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
    rows = fetch_rows(
        samples_in(tenant, windows)
        .annotate(day=TruncDate("start_time", tzinfo=zone))
        .values(*keys)
        .annotate(**aggregates)
    )
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


def _raw_latency_exact(
    *,
    tenant: Tenant,
    windows: Sequence[Window],
    fractions: Sequence[float],
    per_day_in: zoneinfo.ZoneInfo | None = None,
) -> dict[tuple[Any, ...], tuple[LatencyTotals, tuple[float, ...]]]:
    """Totals (as ``latency_facts``) and exact percentiles (``percentile_cont``) of the latency
    samples of calls started in ``window``, per ``(provider type, provider name)``, or per
    ``(local day, provider type, provider name)`` with ``per_day_in`` (the zone of the days), in
    one pass over the samples.

    On PostgreSQL computed in SQL; elsewhere the samples are fetched and the same definitions are
    applied in Python (``analytics.definitions.percentile_cont``).
    """
    keys = (*(("day",) if per_day_in else ()), *PROVIDER_KEYS)
    samples = samples_in(tenant, windows).annotate(
        day=TruncDate("start_time", tzinfo=per_day_in or UTC)
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


# --- Row sources: rollups for clean whole days, raw rows for the rest -------------------------
#
# Each public facts function cuts its window with ``split_window``: whole tenant-local days that
# are rolled up and clean come from rollup rows, every other piece (dirty or never-rolled days,
# partial days at the edges, any window in a zone other than the tenant's) from the raw
# functions above, all raw pieces in one query. Facts are keyed by day (or hour), so the two
# sources never overlap and their facts add up.


@dataclass(frozen=True)
class CallQuestion:
    """One grouping of call totals asked of a window (see ``call_facts``)."""

    by: tuple[CallDimension, ...] = ()
    per_day: bool = True
    measures: tuple[str, ...] = CALL_MEASURES

    def __post_init__(self) -> None:
        if "calls" not in self.measures:
            raise ValueError("measures must include calls")

    @property
    def keys(self) -> tuple[str, ...]:
        return (*(("day",) if self.per_day else ()), *(_CALL_DIMENSIONS[d] for d in self.by))


def call_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
    by: Sequence[CallDimension] = (),
    per_day: bool = True,
    measures: tuple[str, ...] = CALL_MEASURES,
) -> dict[tuple[Any, ...], CallTotals]:
    """Call totals of the calls started in ``window``, keyed by ``(local day, *by values)``, or
    with ``per_day=False`` by ``by`` values alone (totals over the whole window, summed by the
    database).

    ``by`` names dimensions (``status``, ``end_call_reason``, ``agent`` (id), ``workflow`` (id),
    ``type_of_call``, ``channel``). ``measures`` names the fields of ``CallTotals`` to compute
    (``calls`` among them); the others stay 0, and a fine question over a long window reads
    that much less.
    """
    question = CallQuestion(by=tuple(by), per_day=per_day, measures=measures)
    return call_answers(
        tenant=tenant, window=window, zone=zone, filters=filters, questions=[question]
    )[0]


def call_answers(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
    questions: Sequence[CallQuestion],
) -> list[dict[tuple[Any, ...], CallTotals]]:
    """``call_facts`` of each of ``questions`` about the same window and calls.

    The window's raw pieces are read once, grouped by every key any question asks for, and
    folded into each answer; the rolled days are read per question, each from the smallest
    grouping that holds it.
    """
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone)
    answers: list[dict[tuple[Any, ...], CallTotals]] = [{} for _ in questions]
    if split.raw:
        rows = _raw_call_rows(
            tenant=tenant,
            windows=split.raw,
            zone=zone,
            filters=filters,
            keys=tuple(dict.fromkeys(key for q in questions for key in q.keys)),
            measures=tuple(m for m in CALL_MEASURES if any(m in q.measures for q in questions)),
        )
        for question, facts in zip(questions, answers, strict=True):
            for raw in rows:
                _add_to(
                    facts,
                    tuple(raw[k] for k in question.keys),
                    totals_from_row(raw, question.measures),
                )
    if split.days:
        for question, facts in zip(questions, answers, strict=True):
            width = len(question.keys)
            # Rows are (*key, *measures). Measures that lead CallTotals' fields in order (all
            # of them, or ``calls`` alone) are passed positionally: a year of a fine grouping
            # is thousands of rows.
            positional = CALL_MEASURES[: len(question.measures)] == question.measures
            for row in rollup_reads.call_rows(
                tenant=tenant,
                split=split,
                filters=filters,
                keys=question.keys,
                measures=question.measures,
            ):
                _add_to(
                    facts,
                    row[:width],
                    CallTotals(*row[width:])
                    if positional
                    else CallTotals(**dict(zip(question.measures, row[width:], strict=True))),
                )
    return answers


def _add_to(
    facts: dict[tuple[Any, ...], CallTotals], key: tuple[Any, ...], totals: CallTotals
) -> None:
    if key in facts:
        facts[key].add(totals)
    else:
        facts[key] = totals


def call_hour_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
) -> dict[datetime, CallTotals]:
    """Call totals keyed by the UTC start of each local hour of ``zone`` (see
    ``_raw_call_hour_facts``). Hour rollups exist per UTC hour, so they serve zones whose hours
    start on UTC hours and unfiltered requests."""
    usable = filters == NO_CALL_FILTERS and hours_are_utc_aligned(window, zone)
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone, usable=usable)
    facts: dict[datetime, CallTotals] = {}
    if split.raw:
        facts = _raw_call_hour_facts(tenant=tenant, windows=split.raw, zone=zone, filters=filters)
    if split.days:
        for hour, *measures in rollup_reads.hour_rows(tenant=tenant, split=split):
            key = hour_floor(hour.astimezone(UTC), zone)
            facts.setdefault(key, CallTotals()).add(CallTotals(*measures))
    return facts


def action_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    filters: CallFilters = NO_CALL_FILTERS,
    per_day: bool = True,
) -> dict[tuple[date | None, str], int]:
    """Executed actions of the calls started in ``window``, counted by ``(local day, name)``,
    or with ``per_day=False`` by ``(None, name)`` (totals over the window, summed by the
    database)."""
    usable = filters.channel is None and filters.lead_source is None
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone, usable=usable)
    facts: dict[tuple[date | None, str], int] = defaultdict(int)
    if split.raw:
        facts.update(
            _raw_action_facts(
                tenant=tenant, windows=split.raw, zone=zone, filters=filters, per_day=per_day
            )
        )
    if split.days:
        for row in rollup_reads.action_rows(
            tenant=tenant, split=split, filters=filters, per_day=per_day
        ):
            facts[(row.get("day"), row["name"])] += row["n"]
    return dict(facts)


def lead_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    filters: LeadFilters = NO_LEAD_FILTERS,
    stages: Sequence[LeadStage] = LEAD_STAGES,
    per_day: bool = True,
) -> dict[date | None, LeadTotals]:
    """Per local day (one total keyed ``None`` without ``per_day``): leads created in
    ``window`` (with their score sum), and leads whose qualified / demo-booked / converted stamp
    falls in it."""
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone)
    facts: dict[date | None, LeadTotals] = {}
    if split.raw:
        facts = _raw_lead_facts(
            tenant=tenant,
            windows=split.raw,
            zone=zone,
            filters=filters,
            stages=stages,
            per_day=per_day,
        )
    if split.days:
        for row in rollup_reads.lead_rows(
            tenant=tenant, split=split, filters=filters, stages=stages, per_day=per_day
        ):
            totals = facts.setdefault(row.get("day"), LeadTotals())
            _add_stage_row(totals, row["stage"], row)
    return facts


def event_facts(
    *, tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo, types: Sequence[str] = ()
) -> dict[tuple[date, str], int]:
    """Activity events that occurred in ``window`` (of ``types``, if given), counted by
    ``(local day, type)``."""
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone)
    facts: dict[tuple[date, str], int] = defaultdict(int)
    if split.raw:
        facts.update(_raw_event_facts(tenant=tenant, windows=split.raw, zone=zone, types=types))
    if split.days:
        for row in rollup_reads.event_rows(tenant=tenant, split=split, types=types):
            facts[(row["day"], row["type"])] += row["n"]
    return dict(facts)


def latency_facts(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    with_calls: bool = True,
    per_day: bool = True,
) -> dict[tuple[Any, ...], LatencyTotals]:
    """Latency samples of calls started in ``window``, by ``(local day, provider type, name)``,
    or by provider alone with ``per_day=False`` (call counts only ``with_calls``; see
    ``_raw_latency_facts``)."""
    keys = (*(("day",) if per_day else ()), *PROVIDER_KEYS)
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone)
    facts: dict[tuple[Any, ...], LatencyTotals] = {}
    if split.raw:
        facts = _raw_latency_facts(
            tenant=tenant, windows=split.raw, zone=zone, with_calls=with_calls, per_day=per_day
        )
    if split.days:
        for row in rollup_reads.latency_rows(tenant=tenant, split=split, keys=keys):
            key = tuple(row[k] for k in keys)
            facts.setdefault(key, LatencyTotals()).add(
                LatencyTotals(
                    samples=row["samples"],
                    latency_sum=row["latency_sum"],
                    calls=row["calls"] if with_calls else 0,
                )
            )
    return facts


def _add_bucket(
    totals: dict[Any, LatencyTotals], sketches: dict[Any, Sketch], key: Any, bucket: dict[str, Any]
) -> None:
    """Adds one ``bucket_rows`` row (with ``latency_sum`` and ``calls``) to the totals and the
    histogram of ``key``."""
    totals.setdefault(key, LatencyTotals()).add(LatencyTotals.of(bucket, samples="n"))
    sketches.setdefault(key, Sketch()).add_bucket(bucket["bucket"], bucket["n"])


def latency_summary(
    *, tenant: Tenant, window: Window, fractions: Sequence[float]
) -> dict[tuple[str, str], tuple[LatencyTotals, tuple[float, ...]]]:
    """Per ``(provider type, provider name)``: the totals (as ``latency_facts``) and percentiles
    of the latency samples of calls started in ``window``.

    Percentiles are exact (``percentile_cont``) from raw rows; within 1% relative error when
    rolled-up days take part (their log-bucket histograms, merged with the raw pieces'). The
    raw pieces are then read once: one grouped pass yields their totals and their histogram.
    """
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=tenant.zone)
    if not split.days:
        return _raw_latency_exact(tenant=tenant, windows=[window], fractions=fractions)
    merged = _merged_histograms(
        rolled=rollup_reads.latency_rows_covering(tenant=tenant, split=split),
        raw=samples_in(tenant, split.raw) if split.raw else None,
        raw_keys=PROVIDER_KEYS,
        key_of_row=_provider,
        key_of_bucket=_provider,
        fractions=fractions,
    )
    return {
        key: (total, tuple(q if q is not None else 0.0 for q in quantiles))
        for key, (total, quantiles) in merged.items()
    }


def _provider(row: Mapping[str, Any]) -> tuple[str, str]:
    return (row["provider_type"], row["provider_name"])


def _merged_histograms(
    *,
    rolled: Iterable[Mapping[str, Any]],
    raw: QuerySet[Any] | None,
    raw_keys: Sequence[str],
    key_of_row: Callable[[Mapping[str, Any]], Any],
    key_of_bucket: Callable[[Mapping[str, Any]], Any],
    fractions: Sequence[float],
) -> dict[Any, tuple[LatencyTotals, tuple[float | None, ...]]]:
    """Totals and percentiles (within 1%) per key, from rolled rows (totals and a stored
    histogram, keyed by ``key_of_row``) and raw samples (one grouped pass by ``raw_keys``, whose
    histogram buckets carry their totals, keyed by ``key_of_bucket``): the histograms of a key
    are summed, and its percentiles read from the sum."""
    totals: dict[Any, LatencyTotals] = {}
    stored: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rolled:
        key = key_of_row(row)
        totals.setdefault(key, LatencyTotals()).add(LatencyTotals.of(row))
        stored[key].append(row["histogram"])
    sketches: dict[Any, Sketch] = {}
    if raw is not None:
        for bucket in fetch_rows(
            bucket_rows(raw, raw_keys, latency_sum=Sum("latency_ms"), calls=CALLS_WITH_SAMPLES)
        ):
            _add_bucket(totals, sketches, key_of_bucket(bucket), bucket)
    result: dict[Any, tuple[LatencyTotals, tuple[float | None, ...]]] = {}
    for key, total in totals.items():
        if not total.samples:
            continue
        if key in sketches:
            sketch = sketches[key]
            sketch.merge_dense(stored.get(key, []))
            result[key] = (total, sketch.quantiles(fractions))
        else:
            result[key] = (total, dense_quantiles(sum_dense(stored[key]), fractions))
    return result


def latency_series(
    *,
    tenant: Tenant,
    window: Window,
    zone: zoneinfo.ZoneInfo,
    fractions: Sequence[float],
    weekly: bool = False,
) -> dict[tuple[date, str, str], tuple[LatencyTotals, tuple[float | None, ...]]]:
    """Totals and percentiles of the latency samples of the calls started in each local day of
    ``window`` (with ``weekly``, each local week, keyed by its Monday), keyed by ``(day or week,
    provider type, provider name)``.

    Percentiles come from log-bucket histograms (within 1%): the rolled days' stored ones (per
    week, one stored week row for a week whose days are all rolled) and, for the raw pieces,
    one grouped pass that also yields their totals. Per day, a day read from raw rows gets
    exact percentiles, as ``latency_summary`` gives for a window of raw rows.
    """
    split = rollup_reads.split_window(tenant=tenant, window=window, zone=zone)
    if weekly:
        # A week may hold rolled days and raw ones: the raw pieces' histograms join the stored.
        return _merged_histograms(
            rolled=rollup_reads.latency_period_rows(tenant=tenant, split=split)
            if split.days
            else [],
            raw=samples_in(tenant, split.raw).annotate(day=TruncDate("start_time", tzinfo=zone))
            if split.raw
            else None,
            raw_keys=("day", *PROVIDER_KEYS),
            key_of_row=lambda row: (row["week"], *_provider(row)),
            key_of_bucket=lambda bucket: (week_start(bucket["day"]), *_provider(bucket)),
            fractions=fractions,
        )
    # A day is either rolled or read whole from raw rows. Rolled days with their percentiles
    # stored (the product's fractions) need no histogram; raw days get exact percentiles, in one
    # pass over the raw pieces.
    result: dict[tuple[date, str, str], tuple[LatencyTotals, tuple[float | None, ...]]] = {}
    ready = tuple(fractions) == PERCENTILES
    rows = (
        rollup_reads.latency_day_rows(tenant=tenant, split=split, stored_quantiles=ready)
        if split.days
        else []
    )
    for row in rows:
        total = LatencyTotals.of(row)
        if total.samples:
            result[(row["day"], *_provider(row))] = (
                total,
                tuple(row["quantiles"]) if ready else dense_quantiles(row["histogram"], fractions),
            )
    if split.raw:
        for key, (total, exact) in _raw_latency_exact(
            tenant=tenant, windows=split.raw, fractions=fractions, per_day_in=zone
        ).items():
            if total.samples:
                result[key] = (total, exact)
    return result

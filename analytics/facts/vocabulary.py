"""What a fact is about and what it holds: the scope of a question, its filters, its groupings
and the totals it returns, plus the rollup schema derived from them (the call measures, the call
groupings stored per day, the lead stages and the Lead column stamping each).

Every other module of ``analytics.facts``, and ``analytics.rollups`` which writes the rollups,
reads these definitions; none is written twice.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from analytics.models import CallMeasures
from analytics.windows import Window, utc_hour
from calls.models import Tenant

# --- Scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactScope:
    """The calls, leads, events or latency samples of ``tenant`` in the half-open ``window``,
    with days (and hours) taken in ``zone``'s calendar: what every fact is asked about.

    Filters are not part of it: each kind of fact has its own (``CallFilters``, ``LeadFilters``,
    event types), and one answer often reads the same scope under several of them.
    """

    tenant: Tenant
    window: Window
    zone: zoneinfo.ZoneInfo

    def previous(self) -> FactScope:
        """The same scope over the window of equal length just before this one."""
        return replace(self, window=self.window.previous())


# --- Filters ----------------------------------------------------------------------------------


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

    def given(self) -> tuple[str, ...]:
        """The names of the filters that restrict (a statement's shape)."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def values(self) -> list[str]:
        """The values of ``given()``, in its order."""
        return [getattr(self, name) for name in self.given()]

    def columns(self) -> set[str]:
        """The call rollup columns these filters restrict."""
        return {
            column
            for column, value in (
                ("agent_id", self.agent_model_id),
                ("type_of_call", self.type_of_call),
                ("channel", self.channel),
                ("lead_source", self.lead_source),
                ("status", self.status),
            )
            if value is not None
        }


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


# --- Measures ---------------------------------------------------------------------------------

# The additive measures of every call fact and call rollup row, in order: the fields of the
# rollup model's ``CallMeasures``, which ``CallTotals`` mirrors field for field.
CALL_MEASURES: tuple[str, ...] = tuple(f.name for f in CallMeasures._meta.fields)
# What a call-volume bucket shows: calls, and of them completed and failed.
VOLUME_MEASURES: tuple[str, ...] = ("calls", "completed", "failed")


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

    def add_stage(self, stage: str, row: Mapping[str, Any]) -> None:
        """Adds one stage's aggregate row (raw leads or summed rollup rows: ``n``, and the
        stage's sums) into these totals."""
        if stage == "created":
            self.created += row["n"]
            self.score_sum += int(row["score_sum"] or 0)
            self.score_count += row["score_count"] or 0
        elif stage == "qualified":
            self.qualified += row["n"]
            self.pipeline += Decimal(row["pipeline"] or 0)
        elif stage == "demo_booked":
            self.demo_booked += row["n"]
        else:
            self.converted += row["n"]


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


# Latency facts are keyed by provider.
PROVIDER_KEYS = ("provider_type", "provider_name")


# --- Questions --------------------------------------------------------------------------------

CallDimension = Literal["status", "end_call_reason", "agent", "workflow", "type_of_call", "channel"]

# Dimension name -> Call column (and call rollup column).
CALL_DIMENSIONS: dict[str, str] = {
    "status": "status",
    "end_call_reason": "end_call_reason",
    "agent": "agent_id",
    "workflow": "workflow_id",
    "type_of_call": "type_of_call",
    "channel": "channel",
}


@dataclass(frozen=True)
class CallQuestion:
    """One grouping of call totals asked of a window (see ``analytics.facts.call_facts``)."""

    by: tuple[CallDimension, ...] = ()
    per_day: bool = True
    measures: tuple[str, ...] = CALL_MEASURES

    def __post_init__(self) -> None:
        if "calls" not in self.measures:
            raise ValueError("measures must include calls")

    @property
    def keys(self) -> tuple[str, ...]:
        return (*(("day",) if self.per_day else ()), *(CALL_DIMENSIONS[d] for d in self.by))


# CallDayRollup groupings stored per day: name -> the columns its rows are keyed by, smallest
# first (rows per day at a million calls a year: 1, about 10, 15, 20, 40 and 80). A question is
# answered from the first grouping holding every column it groups or filters by; each grouping
# here is the answer of some question the analytics APIs or the dashboard ask
# (tests/analytics/test_rollup_schema.py), and a question no grouping holds is read from raw
# rows.
CALL_GROUPINGS: dict[str, tuple[str, ...]] = {
    "day": (),  # ``TOTALS``
    "status": ("status",),
    "workflow": ("agent_id", "type_of_call", "workflow_id"),
    "outcome": ("status", "end_call_reason"),
    "sales": ("channel", "lead_source", "status"),
    "agent": ("agent_id", "type_of_call", "status", "end_call_reason"),
}

# The grouping keyed by the period alone: a tenant's call totals per day or hour. Its hour rows
# are kept past the hour horizon (see ``hour_horizon``).
TOTALS = "day"

# Every dimension column of some grouping: the columns of the per-day cube a roll sums each
# grouping from.
CALL_CUBE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(column for keyed in CALL_GROUPINGS.values() for column in keyed)
)


def grouping_for(columns: set[str]) -> str | None:
    """The smallest stored grouping keyed by every one of ``columns``; ``None`` if none is."""
    return next((name for name, keyed in CALL_GROUPINGS.items() if columns <= set(keyed)), None)


# --- Lead stages ------------------------------------------------------------------------------

LeadStage = Literal["created", "qualified", "demo_booked", "converted"]
# Each stage a lead reaches -> the Lead column stamping when it did, in funnel order.
LEAD_STAGE_COLUMNS: dict[LeadStage, str] = {
    "created": "created_at",
    "qualified": "qualified_at",
    "demo_booked": "demo_booked_at",
    "converted": "converted_at",
}
LEAD_STAGES: tuple[LeadStage, ...] = tuple(LEAD_STAGE_COLUMNS)


def hour_horizon(now: datetime | None = None) -> datetime:
    """The start of the oldest UTC hour whose every hour rollup row is kept
    (``ROLLUP_HOUR_HORIZON_DAYS``). Before it an hour keeps only its call totals (the ``TOTALS``
    grouping, a row per hour that has calls: what hourly call volume over a long window reads);
    its other rows are pruned."""
    current = utc_hour(now or timezone.now())
    return current - timedelta(days=settings.ROLLUP_HOUR_HORIZON_DAYS)

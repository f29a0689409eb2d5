"""Facts read from rollups: which days of a scope's window may come from rollups, and the
rollup rows of those days.

A whole tenant-local day inside the window is read from rollups when it has been rolled in the
tenant's current zone and no write has touched it since; every other part of the window (dirty
days, days never rolled, partial days at the edges, any window in another zone) is computed from
raw rows by ``analytics.facts.raw``. Facts of the two sources are keyed by day and add up
(``analytics.facts.answers`` merges them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.db.models import BigIntegerField, Q, QuerySet, Sum
from django.db.models.functions import Cast

from analytics.facts.db import fetch_rows, fetch_tuples
from analytics.facts.vocabulary import (
    CALL_GROUPINGS,
    CALL_MEASURES,
    CallFilters,
    FactScope,
    LeadFilters,
    grouping_for,
)
from analytics.models import (
    ActionDayRollup,
    CallDayRollup,
    CallHourRollup,
    CallMeasures,
    EventDayRollup,
    LatencyDayRollup,
    LatencyMonthRollup,
    LatencyWeekRollup,
    LeadDayRollup,
    RollupDay,
)
from analytics.windows import Window, date_range, day_start, local_date, week_start
from calls.models import Tenant

_rollups_enabled: ContextVar[bool] = ContextVar("rollups_enabled", default=True)


@contextmanager
def raw_only() -> Iterator[None]:
    """Computes every fact from raw rows inside the block (the reference the rollup path is
    tested against, and a switch for operators)."""
    token = _rollups_enabled.set(False)
    try:
        yield
    finally:
        _rollups_enabled.reset(token)


# Clean days already looked up in this context, by (tenant, zone, first, last); None: no memo.
_clean_days_seen: ContextVar[dict[tuple[Any, ...], frozenset[date]] | None] = ContextVar(
    "clean_days_seen", default=None
)


@contextmanager
def one_view_of_rollups() -> Iterator[None]:
    """Inside the block, each window's clean days are looked up once: an answer that reads the
    same window for several facts (calls, actions, latencies…) reads them all from the same
    days, with one query instead of one per fact."""
    token = _clean_days_seen.set({})
    try:
        yield
    finally:
        _clean_days_seen.reset(token)


def _clean_days(tenant: Tenant, first: date, last: date) -> frozenset[date]:
    seen = _clean_days_seen.get()
    key = (tenant.pk, tenant.timezone, first, last)
    if seen is not None and key in seen:
        return seen[key]
    rows = fetch_tuples(
        RollupDay.objects.filter(
            tenant=tenant,
            day__gte=first,
            day__lte=last,
            rolled_at__isnull=False,
            dirty_since__isnull=True,
            timezone=tenant.timezone,
        )
        .order_by()
        .values("day"),
        ("day",),
    )
    clean = frozenset(day for (day,) in rows)
    if seen is not None:
        seen[key] = clean
    return clean


@dataclass(frozen=True)
class Split:
    """A window cut into rolled-up days and the raw pieces around them."""

    days: tuple[date, ...]
    raw: tuple[Window, ...]

    @cached_property
    def runs(self) -> tuple[tuple[date, date], ...]:
        """The rolled days as ``(first, last)`` runs of consecutive days."""
        return tuple(_runs(self.days))

    def day_q(self, prefix: str = "") -> Q:
        """``day`` within the rolled days, as few ranges as possible."""
        q = Q()
        for first, last in self.runs:
            q |= Q(**{f"{prefix}day__gte": first, f"{prefix}day__lte": last})
        return q


def _runs(days: Sequence[date]) -> Iterator[tuple[date, date]]:
    if not days:
        return
    first = last = days[0]
    for day in days[1:]:
        if day == last + timedelta(days=1):
            last = day
        else:
            yield first, last
            first = last = day
    yield first, last


def split_window(*, scope: FactScope, usable: bool = True) -> Split:
    """Which whole days of the scope's window come from rollups (none unless ``usable``), and
    the raw windows for the rest."""
    tenant, window, zone = scope.tenant, scope.window, scope.zone
    enabled = settings.ANALYTICS_USE_ROLLUPS and _rollups_enabled.get()
    if not usable or not enabled or zone.key != tenant.timezone:
        return Split((), (window,))
    if window.end <= window.start:
        return Split((), ())
    first = local_date(window.start, zone)
    if day_start(first, zone) < window.start:
        first += timedelta(days=1)
    last = local_date(window.end, zone) - timedelta(days=1)
    if last < first:
        return Split((), (window,))
    clean = _clean_days(tenant, first, last)
    days = tuple(d for d in date_range(first, last) if d in clean)
    raw: list[Window] = []
    cursor = window.start
    for run_first, run_last in _runs(days):
        run_start = day_start(run_first, zone)
        if cursor < run_start:
            raw.append(Window(cursor, run_start))
        cursor = day_start(run_last + timedelta(days=1), zone)
    if cursor < window.end:
        raw.append(Window(cursor, window.end))
    return Split(days, tuple(raw))


def _measure_sums(measures: Sequence[str]) -> dict[str, Any]:
    """A sum per call measure, of the measure's own type (PostgreSQL sums ``bigint`` columns as
    ``numeric``, which would arrive as ``Decimal``)."""
    sums: dict[str, Any] = {}
    for name in measures:
        field = CallMeasures._meta.get_field(name)
        sums[name] = (
            Cast(Sum(name), BigIntegerField()) if isinstance(field, BigIntegerField) else Sum(name)
        )
    return sums


@lru_cache(maxsize=64)
def _summed_call_rows(
    keys: tuple[str, ...], measures: tuple[str, ...]
) -> QuerySet[CallDayRollup, Any]:
    """Call rollup rows summed per ``keys``, not yet restricted to any rows: built once per
    shape (resolving twelve sums costs about as much as summing a year of a small grouping).
    Readers add the tenant, days, grouping and filters."""
    return CallDayRollup.objects.values(*keys).annotate(**_measure_sums(measures)).order_by()


def call_grouping(filters: CallFilters, keys: Sequence[str]) -> str | None:
    """The stored call grouping that answers a question grouped by ``keys`` (``day`` and Call
    columns) under ``filters``; ``None`` when no stored grouping holds all those columns."""
    return grouping_for((set(keys) - {"day"}) | filters.columns())


def call_rows(
    *,
    scope: FactScope,
    split: Split,
    grouping: str,
    filters: CallFilters,
    keys: Sequence[str],
    measures: tuple[str, ...] = CALL_MEASURES,
) -> list[tuple[Any, ...]]:
    """Summed call measures of the rolled days, per ``keys`` (``day`` and Call columns, which
    CallDayRollup shares), from the rows of ``grouping`` (``call_grouping``): tuples of the key
    values, then ``measures`` (fields of ``CallTotals``, by default all of them, in order)."""
    names = (*keys, *measures)
    queryset: QuerySet[CallDayRollup, Any]
    if "day" in keys and set(keys) == {"day", *CALL_GROUPINGS[grouping]}:
        # Keyed exactly like the grouping's rows: each row is already one answer row.
        queryset = CallDayRollup.objects.values(*names).order_by()
    elif keys:
        queryset = _summed_call_rows(tuple(keys), measures)
    else:
        queryset = CallDayRollup.objects.order_by()
    queryset = queryset.filter(split.day_q(), tenant=scope.tenant, grouping=grouping)
    if filters.agent_model_id is not None:
        queryset = queryset.filter(agent__model_id=filters.agent_model_id)
    if filters.type_of_call is not None:
        queryset = queryset.filter(type_of_call=filters.type_of_call)
    if filters.channel is not None:
        queryset = queryset.filter(channel=filters.channel)
    if filters.lead_source is not None:
        queryset = queryset.filter(lead_source=filters.lead_source)
    if filters.status is not None:
        queryset = queryset.filter(status=filters.status)
    if not keys:  # one total (values() without names would group by every column)
        row = queryset.aggregate(**_measure_sums(measures))
        return [tuple(row[m] for m in measures)] if row["calls"] is not None else []
    return fetch_tuples(queryset, names)


def hour_rows(*, scope: FactScope, split: Split) -> list[tuple[Any, ...]]:
    """Call measures per UTC hour of the rolled days: tuples of the hour, then
    ``CALL_MEASURES``."""
    names = ("hour", *CALL_MEASURES)
    return fetch_tuples(
        CallHourRollup.objects.filter(split.day_q(), tenant=scope.tenant).order_by().values(*names),
        names,
    )


def action_rows(
    *, scope: FactScope, split: Split, filters: CallFilters, per_day: bool = True
) -> list[Any]:
    unfiltered = filters.agent_model_id is None and filters.type_of_call is None
    queryset = ActionDayRollup.objects.filter(
        split.day_q(), tenant=scope.tenant, grouping="name" if unfiltered else "full"
    ).order_by()
    if filters.agent_model_id is not None:
        queryset = queryset.filter(agent__model_id=filters.agent_model_id)
    if filters.type_of_call is not None:
        queryset = queryset.filter(type_of_call=filters.type_of_call)
    return fetch_rows(
        queryset.values(*(("day",) if per_day else ()), "name").annotate(n=Sum("count"))
    )


def lead_rows(
    *,
    scope: FactScope,
    split: Split,
    filters: LeadFilters,
    stages: Sequence[str],
    per_day: bool = True,
) -> list[Any]:
    grouping = "stage" if filters.channel is None and filters.source is None else "full"
    queryset = LeadDayRollup.objects.filter(
        split.day_q(), tenant=scope.tenant, grouping=grouping, stage__in=stages
    )
    if filters.channel is not None:
        queryset = queryset.filter(channel=filters.channel)
    if filters.source is not None:
        queryset = queryset.filter(source=filters.source)
    return fetch_rows(
        queryset.order_by()
        .values(*(["day"] if per_day else []), "stage")
        .annotate(
            n=Sum("count"),
            score_sum=Sum("score_sum"),
            score_count=Sum("score_count"),
            pipeline=Sum("pipeline"),
        )
    )


def event_rows(*, scope: FactScope, split: Split, types: Sequence[str]) -> list[Any]:
    queryset = EventDayRollup.objects.filter(split.day_q(), tenant=scope.tenant).order_by()
    if types:
        queryset = queryset.filter(type__in=types)
    return fetch_rows(queryset.values("day", "type").annotate(n=Sum("count")))


def latency_rows(*, scope: FactScope, split: Split, keys: Sequence[str]) -> list[Any]:
    """Sample counts and sums of the rolled days per ``keys`` (``day`` and provider columns)."""
    return fetch_rows(
        LatencyDayRollup.objects.filter(split.day_q(), tenant=scope.tenant)
        .order_by()
        .values(*keys)
        .annotate(samples=Sum("samples"), latency_sum=Sum("latency_sum"), calls=Sum("calls"))
    )


# The columns of a latency rollup row (day, week or month) per provider: totals, then histogram.
LATENCY_TOTALS = ("provider_type", "provider_name", "samples", "latency_sum", "calls")
LATENCY_COLUMNS = (*LATENCY_TOTALS, "histogram")


def latency_day_rows(
    *, scope: FactScope, split: Split, stored_quantiles: bool = False
) -> list[Any]:
    """Every rolled day's latency row per provider: totals and the stored histogram, or with
    ``stored_quantiles`` its stored percentiles (``quantiles``) instead of the histogram."""
    columns = (*LATENCY_TOTALS, "quantiles") if stored_quantiles else LATENCY_COLUMNS
    return list(
        LatencyDayRollup.objects.filter(split.day_q(), tenant=scope.tenant)
        .order_by()
        .values("day", *columns)
    )


def latency_period_rows(*, scope: FactScope, split: Split) -> list[Any]:
    """The rolled days' latency rows per provider, keyed by ``week`` (its Monday): one week row
    for each week whose seven days are all rolled and clean, day rows for the other days."""
    weeks = _whole_weeks(split.days)
    rest = tuple(day for day in split.days if week_start(day) not in weeks)
    rows: list[Any] = []
    if weeks:
        rows += (
            LatencyWeekRollup.objects.filter(tenant=scope.tenant, week__in=sorted(weeks))
            .order_by()
            .values("week", *LATENCY_COLUMNS)
        )
    if rest:
        for row in latency_day_rows(scope=scope, split=Split(rest, ())):
            row["week"] = week_start(row.pop("day"))
            rows.append(row)
    return rows


def _whole_weeks(days: Sequence[date]) -> set[date]:
    """The Mondays of the weeks all seven days of which are among ``days``."""
    present: dict[date, int] = defaultdict(int)
    for day in set(days):
        present[week_start(day)] += 1
    return {week for week, count in present.items() if count == 7}


def _whole_months(days: Sequence[date]) -> tuple[list[date], list[date]]:
    """``days`` as the first days of the calendar months they cover entirely, and the rest."""
    present: dict[date, int] = defaultdict(int)
    for day in set(days):
        present[day.replace(day=1)] += 1
    whole = {
        month
        for month, count in present.items()
        if count == ((month + timedelta(days=32)).replace(day=1) - month).days
    }
    months = sorted(whole)
    rest = [day for day in days if day.replace(day=1) not in whole]
    return months, rest


def latency_rows_covering(*, scope: FactScope, split: Split) -> list[dict[str, Any]]:
    """The rolled days' latency rows per provider, fewest first: month rows for the calendar
    months the days cover entirely, then ``latency_period_rows`` for the others (week rows for
    whole weeks, day rows for the rest; a year reads about twenty rows per provider, not 365).
    Each row holds totals and a histogram; together they cover every rolled day once."""
    months, rest = _whole_months(split.days)
    rows: list[dict[str, Any]] = []
    if months:
        rows += LatencyMonthRollup.objects.filter(tenant=scope.tenant, month__in=months).values(
            *LATENCY_COLUMNS
        )
    if rest:
        rows += latency_period_rows(scope=scope, split=Split(tuple(rest), ()))
    return rows

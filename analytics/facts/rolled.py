"""Facts read from rollups: which days and hours of a scope's window may come from rollups, and
the rollup rows of those days and hours.

A whole tenant-local day inside the window is read from day rollups when it has been rolled in
the tenant's current zone and no write has touched it since. What the days leave of the window
is read, where it can be, from hour rollups: whole UTC hours that are rolled and clean, within
the hour horizon (``settings.ROLLUP_HOUR_HORIZON_DAYS``), and that fit the keys of the answer (an
hour keyed by a local day must lie within one). Every other part of the window (partial hours at
the edges, dirty or never-rolled hours, any hour outside the horizon) is computed from raw rows
by ``analytics.facts.raw``. Facts of the three sources are keyed alike and add up
(``analytics.facts.answers`` merges them).
"""

from __future__ import annotations

import zoneinfo
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any, Literal

from django.conf import settings
from django.db.models import BigIntegerField, FloatField, Model, Q, QuerySet, Sum
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from analytics.facts.db import fetch_rows, fetch_tuples, sum_rows
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
    ActionHourRollup,
    CallDayRollup,
    CallHourRollup,
    CallMeasures,
    ErrorDayRollup,
    ErrorHourRollup,
    EventDayRollup,
    EventHourRollup,
    LatencyDayRollup,
    LatencyHourRollup,
    LatencyMonthRollup,
    LatencyWeekRollup,
    LeadDayRollup,
    RollupDay,
    RollupHour,
)
from analytics.windows import Window, date_range, day_start, local_date, week_start
from calls.models import Tenant

HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)

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


# Clean days and hours already looked up in this context, by (tenant, zone or "hours", first,
# last); None: no memo.
_clean_seen: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("clean_seen", default=None)


@contextmanager
def one_view_of_rollups() -> Iterator[None]:
    """Inside the block, each window's clean days and clean hours are looked up once: an answer
    that reads the same window for several facts (calls, actions, latencies…) reads them all
    from the same days and hours, with one query for each instead of one per fact."""
    token = _clean_seen.set({})
    try:
        yield
    finally:
        _clean_seen.reset(token)


def _clean_days(tenant: Tenant, first: date, last: date) -> frozenset[date]:
    seen = _clean_seen.get()
    key = (tenant.pk, tenant.timezone, first, last)
    if seen is not None and key in seen:
        clean: frozenset[date] = seen[key]
        return clean
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


def _utc_hour(instant: datetime) -> datetime:
    """The start of the UTC hour holding ``instant``."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_after(instant: datetime) -> datetime:
    """The first UTC hour start at or after ``instant``."""
    return _utc_hour(instant - _TICK) + HOUR


def first_readable_hour(now: datetime | None = None) -> datetime:
    """The oldest UTC hour whose hour rollups are read.

    An hour inside the horizon the rolls keep (``settings.ROLLUP_HOUR_HORIZON_DAYS``, see
    ``analytics.rollups.hour_horizon``): an hour older than that is neither marked dirty by a
    write nor rolled, so its rows, until pruned, may no longer hold what raw rows do.
    """
    oldest = (now or timezone.now()) - timedelta(days=settings.ROLLUP_HOUR_HORIZON_DAYS)
    return _utc_hour(oldest) + 2 * HOUR


def _clean_hours(tenant: Tenant, first: datetime, last: datetime) -> tuple[datetime, ...]:
    """The clean hours ``first`` .. ``last`` (UTC hour starts) of ``tenant``, in order."""
    seen = _clean_seen.get()
    key = (tenant.pk, "hours", first, last)
    if seen is not None and key in seen:
        clean: tuple[datetime, ...] = seen[key]
        return clean
    rows = fetch_tuples(
        RollupHour.objects.filter(
            tenant=tenant,
            hour__gte=first,
            hour__lte=last,
            rolled_at__isnull=False,
            dirty_since__isnull=True,
        )
        .order_by()
        .values("hour"),
        ("hour",),
    )
    clean = tuple(sorted(hour.astimezone(UTC) for (hour,) in rows))
    if seen is not None:
        seen[key] = clean
    return clean


@dataclass(frozen=True)
class Split:
    """A window cut into rolled-up days, rolled-up hours and the raw pieces around them."""

    days: tuple[date, ...]
    raw: tuple[Window, ...]
    # UTC hour starts, in order; none of them inside a rolled day.
    hours: tuple[datetime, ...] = ()

    @property
    def rolled(self) -> bool:
        """Whether any of the window comes from rollups."""
        return bool(self.days or self.hours)

    @cached_property
    def runs(self) -> tuple[tuple[date, date], ...]:
        """The rolled days as ``(first, last)`` runs of consecutive days."""
        return tuple(_runs(self.days, timedelta(days=1)))

    def day_q(self, prefix: str = "") -> Q:
        """``day`` within the rolled days, as few ranges as possible."""
        q = Q()
        for first, last in self.runs:
            q |= Q(**{f"{prefix}day__gte": first, f"{prefix}day__lte": last})
        return q

    def hour_q(self) -> Q:
        """``hour`` within the rolled hours, as few ranges as possible."""
        q = Q()
        for first, last in _runs(self.hours, HOUR):
            q |= Q(hour__gte=first, hour__lte=last)
        return q


def _runs(items: Sequence[Any], step: timedelta) -> Iterator[tuple[Any, Any]]:
    """Sorted days or hours as ``(first, last)`` runs, each item ``step`` after the one before."""
    if not items:
        return
    first = last = items[0]
    for item in items[1:]:
        if item == last + step:
            last = item
        else:
            yield first, last
            first = last = item
    yield first, last


# What an answer keys facts by, which decides the hours it may read: ``day`` (local days of the
# scope's zone), ``window`` (totals over the window) or ``hour`` (local hours).
KeyedBy = Literal["day", "window", "hour"]


def _hour_fits(keyed_by: KeyedBy, zone: zoneinfo.ZoneInfo) -> Callable[[datetime], bool]:
    """Whether an hour row can be keyed as the answer keys its facts: by local day, when the
    hour lies within one (not so for the hour straddling midnight in a zone whose offset is not
    a whole number of hours); by local hour, when the UTC hour is one; always for totals."""

    def within_a_day(hour: datetime) -> bool:
        return local_date(hour, zone) == local_date(hour + HOUR - _TICK, zone)

    def a_local_hour(hour: datetime) -> bool:
        return hour.astimezone(zone).minute == 0 and (hour + HOUR).astimezone(zone).minute == 0

    if keyed_by == "day":
        return within_a_day
    if keyed_by == "hour":
        return a_local_hour
    return lambda hour: True


def split_window(
    *, scope: FactScope, usable: bool = True, keyed_by: KeyedBy = "day", hours: bool = True
) -> Split:
    """Which whole days and hours of the scope's window come from rollups (none unless
    ``usable``; hours only with ``hours``, and only those that fit ``keyed_by``), and the raw
    windows for the rest.

    Days are read from rollups for answers in the tenant's zone and not keyed by hour; hours
    wherever the days leave a gap, in any zone.
    """
    tenant, window, zone = scope.tenant, scope.window, scope.zone
    enabled = settings.ANALYTICS_USE_ROLLUPS and _rollups_enabled.get()
    if not usable or not enabled:
        return Split((), (window,))
    if window.end <= window.start:
        return Split((), ())
    days: tuple[date, ...] = ()
    if keyed_by != "hour" and zone.key == tenant.timezone:
        days = _clean_days_of(tenant, window, zone)
    gaps: list[Window] = []
    cursor = window.start
    for run_first, run_last in _runs(days, timedelta(days=1)):
        run_start = day_start(run_first, zone)
        if cursor < run_start:
            gaps.append(Window(cursor, run_start))
        cursor = day_start(run_last + timedelta(days=1), zone)
    if cursor < window.end:
        gaps.append(Window(cursor, window.end))
    if not hours:
        return Split(days, tuple(gaps))
    return _hours_in(scope, days, gaps, _hour_fits(keyed_by, zone))


def _clean_days_of(tenant: Tenant, window: Window, zone: zoneinfo.ZoneInfo) -> tuple[date, ...]:
    """The clean whole local days of ``window``, in order."""
    first = local_date(window.start, zone)
    if day_start(first, zone) < window.start:
        first += timedelta(days=1)
    last = local_date(window.end, zone) - timedelta(days=1)
    if last < first:
        return ()
    clean = _clean_days(tenant, first, last)
    return tuple(d for d in date_range(first, last) if d in clean)


def _hours_in(
    scope: FactScope,
    days: tuple[date, ...],
    gaps: list[Window],
    fits: Callable[[datetime], bool],
) -> Split:
    """The split of ``days`` and, inside the ``gaps`` they leave, the clean hours that ``fits``
    accepts, with raw windows for the rest of the gaps."""
    # The window's hours within the horizon, looked up whatever the gaps (the same lookup then
    # serves every fact of the window), unless no gap holds a whole one.
    first = max(_hour_after(scope.window.start), first_readable_hour())
    last = _utc_hour(scope.window.end) - HOUR
    if last < first or not any(
        max(_hour_after(gap.start), first) + HOUR <= min(gap.end, last + HOUR) for gap in gaps
    ):
        return Split(days, tuple(gaps))
    clean = _clean_hours(scope.tenant, first, last)
    used: list[datetime] = []
    raw: list[Window] = []
    for gap in gaps:
        cursor = gap.start
        for hour in clean[bisect_left(clean, gap.start) :]:
            if hour + HOUR > gap.end:
                break
            if not fits(hour):
                continue
            used.append(hour)
            if cursor < hour:
                raw.append(Window(cursor, hour))
            cursor = hour + HOUR
        if cursor < gap.end:
            raw.append(Window(cursor, gap.end))
    return Split(days, tuple(raw), tuple(used))


def _parts(
    day_model: type[Model],
    hour_model: type[Model],
    *,
    scope: FactScope,
    split: Split,
    per_day: bool,
    **conditions: Any,
) -> list[QuerySet[Any]]:
    """The rows (matching ``conditions``) of the rolled days in ``day_model`` and of the rolled
    hours in ``hour_model``, one queryset per table that has rows to read; with ``per_day``,
    hour rows carry ``day``, their local day in the scope's zone."""
    parts: list[QuerySet[Any]] = []
    if split.days:
        parts.append(
            day_model._default_manager.filter(split.day_q(), tenant=scope.tenant, **conditions)
        )
    if split.hours:
        hours = hour_model._default_manager.filter(
            split.hour_q(), tenant=scope.tenant, **conditions
        )
        if per_day:
            hours = hours.annotate(day=TruncDate("hour", tzinfo=scope.zone))
        parts.append(hours)
    return parts


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
    """Summed call measures of the rolled days and hours, per ``keys`` (``day`` and Call
    columns, which the call rollups share), from the rows of ``grouping`` (``call_grouping``):
    tuples of the key values, then ``measures`` (fields of ``CallTotals``, by default all of
    them, in order)."""
    if split.hours:
        parts = _parts(
            CallDayRollup,
            CallHourRollup,
            scope=scope,
            split=split,
            per_day="day" in keys,
            grouping=grouping,
        )
        return sum_rows(
            [_restricted(part, filters).values(*keys, *measures) for part in parts],
            keys,
            measures,
            floats=_FLOAT_MEASURES,
        )
    names = (*keys, *measures)
    queryset: QuerySet[CallDayRollup, Any]
    if "day" in keys and set(keys) == {"day", *CALL_GROUPINGS[grouping]}:
        # Keyed exactly like the grouping's rows: each row is already one answer row.
        queryset = CallDayRollup.objects.values(*names).order_by()
    elif keys:
        queryset = _summed_call_rows(tuple(keys), measures)
    else:
        queryset = CallDayRollup.objects.order_by()
    queryset = _restricted(
        queryset.filter(split.day_q(), tenant=scope.tenant, grouping=grouping), filters
    )
    if not keys:  # one total (values() without names would group by every column)
        row = queryset.aggregate(**_measure_sums(measures))
        return [tuple(row[m] for m in measures)] if row["calls"] is not None else []
    return fetch_tuples(queryset, names)


# Call measures that are not integers (every other one is summed as one).
_FLOAT_MEASURES = frozenset(
    name for name in CALL_MEASURES if isinstance(CallMeasures._meta.get_field(name), FloatField)
)


def _restricted(queryset: QuerySet[Any], filters: CallFilters) -> QuerySet[Any]:
    """Call rollup rows restricted to ``filters`` (on the columns rollups share with Call)."""
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
    return queryset


def call_hour_rows(
    *, scope: FactScope, split: Split, grouping: str, filters: CallFilters
) -> list[tuple[Any, ...]]:
    """Call measures per rolled UTC hour, from the rows of ``grouping`` restricted to
    ``filters``: tuples of the hour, then ``CALL_MEASURES``."""
    hours = CallHourRollup.objects.filter(
        split.hour_q(), tenant=scope.tenant, grouping=grouping
    ).order_by()
    return fetch_tuples(
        _restricted(hours, filters).values("hour").annotate(**_measure_sums(CALL_MEASURES)),
        ("hour", *CALL_MEASURES),
    )


def action_rows(
    *, scope: FactScope, split: Split, filters: CallFilters, per_day: bool = True
) -> list[tuple[Any, ...]]:
    """Executed actions of the rolled days and hours, counted per ``(day, name)`` (per name
    without ``per_day``): tuples of the keys, then the count."""
    unfiltered = filters.agent_model_id is None and filters.type_of_call is None
    keys = ("day", "name") if per_day else ("name",)
    parts = _parts(
        ActionDayRollup,
        ActionHourRollup,
        scope=scope,
        split=split,
        per_day=per_day,
        grouping="name" if unfiltered else "full",
    )
    restricted = [
        part.filter(
            CallFilters(
                agent_model_id=filters.agent_model_id, type_of_call=filters.type_of_call
            ).q()
        ).values(*keys, "count")
        for part in parts
    ]
    return sum_rows(restricted, keys, ("count",))


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


def event_rows(*, scope: FactScope, split: Split, types: Sequence[str]) -> list[tuple[Any, ...]]:
    """Activity events of the rolled days and hours (of ``types``, if any), counted per ``(day,
    type)``: tuples of the day, the type and the count."""
    conditions = {"type__in": types} if types else {}
    parts = _parts(
        EventDayRollup, EventHourRollup, scope=scope, split=split, per_day=True, **conditions
    )
    return sum_rows(
        [part.values("day", "type", "count") for part in parts], ("day", "type"), ("count",)
    )


def error_count(*, scope: FactScope, split: Split, service: str | None, level: str | None) -> int:
    """Error logs stamped in the rolled days and hours (of ``service`` and ``level``, if
    given)."""
    conditions = {
        name: value for name, value in (("service", service), ("level", level)) if value is not None
    }
    parts = _parts(
        ErrorDayRollup, ErrorHourRollup, scope=scope, split=split, per_day=False, **conditions
    )
    rows = sum_rows([part.values("count") for part in parts], (), ("count",))
    return int(rows[0][0]) if rows else 0


def latency_rows(*, scope: FactScope, split: Split, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Sample counts and sums of the rolled days and hours per ``keys`` (``day`` and provider
    columns): tuples of the keys, then samples, latency sum and calls."""
    parts = _parts(
        LatencyDayRollup, LatencyHourRollup, scope=scope, split=split, per_day="day" in keys
    )
    sums = ("samples", "latency_sum", "calls")
    return sum_rows(
        [part.values(*keys, *sums) for part in parts], keys, sums, floats=("latency_sum",)
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


def latency_hour_rows(*, scope: FactScope, split: Split) -> list[dict[str, Any]]:
    """Every rolled hour's latency row per provider (``hour``, totals and histogram)."""
    return list(
        LatencyHourRollup.objects.filter(split.hour_q(), tenant=scope.tenant)
        .order_by()
        .values("hour", *LATENCY_COLUMNS)
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

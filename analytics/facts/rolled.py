"""Facts read from rollups: the rollup rows of the days and hours that
``analytics.facts.plan.split_window`` planned for a window.

Facts of the three sources (day rows, hour rows, raw rows) are keyed alike and add up
(``analytics.facts.answers`` merges them); a fact's day and hour rows are summed together, in one
query.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db.models import BigIntegerField, FloatField, Model, QuerySet, Sum
from django.db.models.functions import Cast, TruncDate

from analytics.facts.db import fetch_rows, fetch_tuples, sum_statement, summed
from analytics.facts.plan import Split, in_runs
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
)
from analytics.windows import week_start
from config.statements import Statement, compiled, run


@dataclass(frozen=True)
class _Rolled:
    """What a compiled rollup read varies by: the tenant and the runs of rolled days and hours
    (``Split.runs``, ``Split.hour_runs``), the rest of its values after them."""

    tenant_id: int
    days: tuple[tuple[date, date], ...]
    hours: tuple[tuple[datetime, datetime], ...]
    rest: tuple[Any, ...]

    def parts(
        self,
        day_model: type[Model],
        hour_model: type[Model],
        *,
        zone: zoneinfo.ZoneInfo,
        per_day: bool,
        **conditions: Any,
    ) -> list[QuerySet[Any]]:
        """The rows (matching ``conditions``) of the rolled days in ``day_model`` and of the
        rolled hours in ``hour_model``, one queryset per table that has rows to read; with
        ``per_day``, hour rows carry ``day``, their local day in ``zone``."""
        parts: list[QuerySet[Any]] = []
        if self.days:
            parts.append(
                day_model._default_manager.filter(
                    in_runs("day", self.days), tenant_id=self.tenant_id, **conditions
                )
            )
        if self.hours:
            hours = hour_model._default_manager.filter(
                in_runs("hour", self.hours), tenant_id=self.tenant_id, **conditions
            )
            if per_day:
                hours = hours.annotate(day=TruncDate("hour", tzinfo=zone))
            parts.append(hours)
        return parts


def _summed(
    shape: tuple[Any, ...],
    *,
    scope: FactScope,
    split: Split,
    keys: Sequence[str],
    build: Callable[[_Rolled], Statement],
    rest: Sequence[Any] = (),
) -> list[tuple[Any, ...]]:
    """The rows of ``build``'s ``sum_statement`` (keyed by ``keys``) for the scope's tenant and
    the split's rolled days and hours, with ``rest`` (text or numbers ``build`` passes through
    as parameters), compiled once per ``shape`` and number of runs
    (``config.statements.compiled``); none when the split has no rolled day or hour."""
    if not split.rolled:
        return []
    days, hours = split.runs, split.hour_runs
    values = [
        scope.tenant.pk,
        *(bound for run in days for bound in run),
        *(bound for run in hours for bound in run),
        *rest,
    ]

    def unpacked(values: Sequence[Any]) -> Statement:
        day_bounds = values[1 : 1 + 2 * len(days)]
        hour_bounds = values[1 + 2 * len(days) : 1 + 2 * (len(days) + len(hours))]
        return build(
            _Rolled(
                tenant_id=values[0],
                days=tuple(zip(day_bounds[::2], day_bounds[1::2], strict=True)),
                hours=tuple(zip(hour_bounds[::2], hour_bounds[1::2], strict=True)),
                rest=tuple(values[1 + 2 * (len(days) + len(hours)) :]),
            )
        )

    shape = (*shape, scope.zone.key, len(days), len(hours))
    return summed(run(compiled(shape, unpacked, values)), keys)


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
        given = filters.given()

        def build(rolled: _Rolled) -> Statement:
            parts = rolled.parts(
                CallDayRollup,
                CallHourRollup,
                zone=scope.zone,
                per_day="day" in keys,
                grouping=grouping,
            )
            restrict = CallFilters(**dict(zip(given, rolled.rest, strict=True)))
            return sum_statement(
                [_restricted(part, restrict).values(*keys, *measures) for part in parts],
                keys,
                measures,
                floats=_FLOAT_MEASURES,
            )

        shape = ("rolled.call_rows", grouping, tuple(keys), measures, given)
        return _summed(
            shape, scope=scope, split=split, keys=keys, build=build, rest=filters.values()
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
    *,
    scope: FactScope,
    split: Split,
    grouping: str,
    filters: CallFilters,
    measures: tuple[str, ...] = CALL_MEASURES,
) -> list[tuple[Any, ...]]:
    """Call measures per rolled UTC hour, from the rows of ``grouping`` restricted to
    ``filters``: tuples of the hour, then ``measures``."""
    hours = CallHourRollup.objects.filter(
        split.hour_q(), tenant=scope.tenant, grouping=grouping
    ).order_by()
    return fetch_tuples(
        _restricted(hours, filters).values("hour").annotate(**_measure_sums(measures)),
        ("hour", *measures),
    )


def action_rows(
    *, scope: FactScope, split: Split, filters: CallFilters, per_day: bool = True
) -> list[tuple[Any, ...]]:
    """Executed actions of the rolled days and hours, counted per ``(day, name)`` (per name
    without ``per_day``): tuples of the keys, then the count."""
    # Action rollups hold the calls' agent and type, no other call column.
    held = CallFilters(agent_model_id=filters.agent_model_id, type_of_call=filters.type_of_call)
    given = held.given()
    keys = ("day", "name") if per_day else ("name",)

    def build(rolled: _Rolled) -> Statement:
        parts = rolled.parts(
            ActionDayRollup,
            ActionHourRollup,
            zone=scope.zone,
            per_day=per_day,
            grouping="full" if given else "name",
        )
        restrict = CallFilters(**dict(zip(given, rolled.rest, strict=True)))
        return sum_statement(
            [part.filter(restrict.q()).values(*keys, "count") for part in parts], keys, ("count",)
        )

    shape = ("rolled.action_rows", keys, given)
    return _summed(shape, scope=scope, split=split, keys=keys, build=build, rest=held.values())


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
    keys = ("day", "type")

    def build(rolled: _Rolled) -> Statement:
        conditions = {"type__in": list(rolled.rest)} if rolled.rest else {}
        parts = rolled.parts(
            EventDayRollup, EventHourRollup, zone=scope.zone, per_day=True, **conditions
        )
        return sum_statement([part.values(*keys, "count") for part in parts], keys, ("count",))

    shape = ("rolled.event_rows", len(types))
    return _summed(shape, scope=scope, split=split, keys=keys, build=build, rest=types)


def error_count(*, scope: FactScope, split: Split, service: str | None, level: str | None) -> int:
    """Error logs stamped in the rolled days and hours (of ``service`` and ``level``, if
    given)."""
    conditions = {
        name: value for name, value in (("service", service), ("level", level)) if value is not None
    }
    given = tuple(conditions)

    def build(rolled: _Rolled) -> Statement:
        parts = rolled.parts(
            ErrorDayRollup,
            ErrorHourRollup,
            zone=scope.zone,
            per_day=False,
            **dict(zip(given, rolled.rest, strict=True)),
        )
        return sum_statement([part.values("count") for part in parts], (), ("count",))

    shape = ("rolled.error_count", given)
    rest = list(conditions.values())
    rows = _summed(shape, scope=scope, split=split, keys=(), build=build, rest=rest)
    return int(rows[0][0]) if rows else 0


def latency_rows(*, scope: FactScope, split: Split, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """Sample counts and sums of the rolled days and hours per ``keys`` (``day`` and provider
    columns): tuples of the keys, then samples, latency sum and calls."""
    sums = ("samples", "latency_sum", "calls")

    def build(rolled: _Rolled) -> Statement:
        parts = rolled.parts(
            LatencyDayRollup, LatencyHourRollup, zone=scope.zone, per_day="day" in keys
        )
        return sum_statement(
            [part.values(*keys, *sums) for part in parts], keys, sums, floats=("latency_sum",)
        )

    shape = ("rolled.latency_rows", tuple(keys))
    return _summed(shape, scope=scope, split=split, keys=keys, build=build)


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

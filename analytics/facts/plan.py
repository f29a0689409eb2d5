"""Which days and hours of a scope's window come from rollups, and which from raw rows.

A whole tenant-local day inside the window is read from day rollups when it has been rolled in
the tenant's current zone and no write has touched it since. What the days leave of the window
is read, where it can be, from hour rollups: whole UTC hours that are rolled and clean, within
the hour horizon (``settings.ROLLUP_HOUR_HORIZON_DAYS``) unless the answer needs only call totals
(which hours keep for good), and that fit the keys of the answer (an hour keyed by a local day
must lie within one). Every other part of the window (partial hours at
the edges, dirty or never-rolled hours, any hour outside the horizon) is computed from raw rows
by ``analytics.facts.raw``; ``analytics.facts.rolled`` reads the rollup rows of the planned days
and hours.
"""

from __future__ import annotations

import zoneinfo
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from django.conf import settings
from django.db.models import Q

from analytics.facts.vocabulary import FactScope, hour_horizon
from analytics.models import RollupDay, RollupHour
from analytics.windows import HOUR, Window, date_range, day_start, local_date, utc_hour
from calls.models import Tenant
from config.statements import (
    Statement,
    compiled,
    day_of,
    instant_of,
    queryset_statement,
    run,
)

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

    def build(values: Sequence[Any]) -> Statement:
        tenant_id, first, last, zone = values
        return queryset_statement(
            RollupDay.objects.filter(
                tenant_id=tenant_id,
                day__gte=first,
                day__lte=last,
                rolled_at__isnull=False,
                dirty_since__isnull=True,
                timezone=zone,
            )
            .order_by()
            .values("day")
        )

    rows = run(compiled("plan.clean_days", build, [tenant.pk, first, last, tenant.timezone]))
    clean = frozenset(day_of(day) for (day,) in rows)
    if seen is not None:
        seen[key] = clean
    return clean


def _hour_after(instant: datetime) -> datetime:
    """The first UTC hour start at or after ``instant``."""
    return utc_hour(instant - _TICK) + HOUR


def first_readable_hour(now: datetime | None = None) -> datetime:
    """The oldest UTC hour whose hour rollups, but call totals, are read: two hours inside the
    horizon that the rolls keep in full (``hour_horizon``). An hour older than that is rolled for
    its call totals only, so its other rows, until pruned, may no longer hold what raw rows do;
    the margin keeps an hour that leaves the horizon while an answer is read out of it."""
    return hour_horizon(now) + 2 * HOUR


def _clean_hours(
    tenant: Tenant, spans: tuple[tuple[datetime, datetime], ...]
) -> tuple[datetime, ...]:
    """The clean hours of ``tenant`` within ``spans`` (``(first, last)`` UTC hour starts, both
    included), in order."""
    seen = _clean_seen.get()
    key = (tenant.pk, "hours", spans)
    if seen is not None and key in seen:
        clean: tuple[datetime, ...] = seen[key]
        return clean

    def build(values: Sequence[Any]) -> Statement:
        runs = tuple(zip(values[1::2], values[2::2], strict=True))
        return queryset_statement(
            RollupHour.objects.filter(
                in_runs("hour", runs),
                tenant_id=values[0],
                rolled_at__isnull=False,
                dirty_since__isnull=True,
            )
            .order_by()
            .values("hour")
        )

    bounds = [bound for span in spans for bound in span]
    rows = run(compiled(("plan.clean_hours", len(spans)), build, [tenant.pk, *bounds]))
    clean = tuple(sorted(instant_of(hour) for (hour,) in rows))
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

    @cached_property
    def hour_runs(self) -> tuple[tuple[datetime, datetime], ...]:
        """The rolled hours as ``(first, last)`` runs of consecutive hours."""
        return tuple(_runs(self.hours, HOUR))

    def day_q(self, prefix: str = "") -> Q:
        """``day`` within the rolled days, as few ranges as possible."""
        return in_runs(f"{prefix}day", self.runs)

    def hour_q(self) -> Q:
        """``hour`` within the rolled hours, as few ranges as possible."""
        return in_runs("hour", self.hour_runs)


def in_runs(column: str, runs: Sequence[tuple[Any, Any]]) -> Q:
    """``column`` within any of ``runs`` (``(first, last)``, both included)."""
    q = Q()
    for first, last in runs:
        q |= Q(**{f"{column}__gte": first, f"{column}__lte": last})
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
    *,
    scope: FactScope,
    usable: bool = True,
    keyed_by: KeyedBy = "day",
    hours: bool = True,
    totals_only: bool = False,
) -> Split:
    """Which whole days and hours of the scope's window come from rollups (none unless
    ``usable``; hours only with ``hours``, and only those that fit ``keyed_by``), and the raw
    windows for the rest. An answer read from call totals alone (``totals_only``: the
    ``TOTALS`` grouping) takes rolled hours of any age; others only hours within the horizon.

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
    oldest = None if totals_only else first_readable_hour()
    return _hours_in(scope, days, gaps, _hour_fits(keyed_by, zone), oldest)


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
    oldest: datetime | None,
) -> Split:
    """The split of ``days`` and, inside the ``gaps`` they leave, the clean hours from ``oldest``
    on (if given) that ``fits`` accepts, with raw windows for the rest of the gaps."""
    # Only the whole hours inside the gaps are looked up (a long window's rolled days would
    # otherwise fetch hundreds of hours it cannot use); facts of one answer that leave the same
    # gaps share the lookup.
    spans = []
    for gap in gaps:
        first, last = _hour_after(gap.start), utc_hour(gap.end) - HOUR
        if oldest is not None:
            first = max(first, oldest)
        if first <= last:
            spans.append((first, last))
    if not spans:
        return Split(days, tuple(gaps))
    clean = _clean_hours(scope.tenant, tuple(spans))
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

"""Until when an analytics answer holds while nothing is written.

An answer is a function of the tenant's rows, the request and the clock. Writes (and rolls)
move the tenant's write generation, which the answer's ``ETag`` carries; this module bounds the
clock's part: the first instant after ``now`` at which the same request could be answered
differently with the same rows. The bound is conservative (an answer may well be unchanged
past it, which only costs a recomputation) and never late:

- a bound that moves with the clock (``Drift``) lets a row in or out when it passes the row's
  timestamp: the nearest timestamp ahead of the bound in its direction, one indexed ``MIN`` or
  ``MAX`` per source and moving bound;
- it changes the buckets (local hours, days, weeks of the answer's zone) and which UTC hours and
  local days are read from rollups when it crosses a UTC or local hour boundary;
- a live call stops being active ``stale_after()`` after its start (``Call.objects.active``);
- a default of "today" is replaced at the next local midnight (``Drift.jumps_at``);
- the hour-rollup horizon (``hour_horizon``) moves at every UTC hour, which can move an old
  hour from hour rollups to raw rows (the same counts; a percentile within its accuracy), so no
  answer is vouched for past the next UTC hour.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db.models import Max, Min, Model, Q, QuerySet

from analytics.windows import HOUR, Drift, Window, hour_floor, utc_hour
from calls.enums import ACTIVE_STATUSES
from calls.models import ActivityEvent, Call, ErrorLog, Tenant, stale_after

# The rows whose timestamps decide what a window holds, by the name views use for them. Every
# row a call carries (actions, latency samples) is placed by its call's start.
Source = Literal["calls", "errors", "events"]
SOURCES: dict[str, tuple[type[Model], str]] = {
    "calls": (Call, "start_time"),
    "errors": (ErrorLog, "timestamp"),
    "events": (ActivityEvent, "occurred_at"),
}


def holds_until(
    *,
    tenant: Tenant,
    zone: zoneinfo.ZoneInfo,
    now: datetime,
    windows: Iterable[tuple[Window, Drift]],
    sources: Iterable[Source],
    counts_active: bool = False,
) -> datetime:
    """The first instant after ``now`` at which an answer over ``windows`` (each with how it
    moves with the clock) could change without a write: see the module docstring.
    ``sources`` name the rows the answer places by time; ``counts_active`` says it counts calls
    active at ``now``."""
    waits: list[timedelta | None] = [utc_hour(now) + HOUR - now]
    tables = [SOURCES[name] for name in sorted(set(sources))]
    bounds: set[tuple[datetime, int]] = set()
    for window, drift in windows:
        if drift.jumps_at is not None:
            waits.append(drift.jumps_at - now)
        bounds.update(
            (bound, speed)
            for bound, speed in ((window.start, drift.start), (window.end, drift.end))
            if speed
        )
    for bound, speed in sorted(bounds):
        waits.append(_to_boundary(bound, speed, zone))
        for model, field in tables:
            waits.append(_to_row(model._default_manager.filter(tenant=tenant), field, bound, speed))
    if counts_active:
        # A live call started at ``t`` is active while ``t > now - stale_after()``.
        live = Call.objects.filter(tenant=tenant, status__in=ACTIVE_STATUSES)
        waits.append(_to_row(live, "start_time", now - stale_after(), 1))
    return now + max(min(w for w in waits if w is not None), timedelta(0))


def _to_row(rows: QuerySet[Any], field: str, bound: datetime, speed: int) -> timedelta | None:
    """How long until ``bound``, moving at ``speed``, reaches the nearest timestamp of ``rows``
    in its direction (``None``: there is none). A row exactly at the bound counts as reached:
    whether it is in or out of a half-open window, the next instant changes that."""
    if speed > 0:
        nearest = rows.filter(Q(**{f"{field}__gte": bound})).aggregate(t=Min(field))["t"]
        return None if nearest is None else (nearest - bound) / speed
    nearest = rows.filter(Q(**{f"{field}__lte": bound})).aggregate(t=Max(field))["t"]
    return None if nearest is None else (bound - nearest) / -speed


def _to_boundary(bound: datetime, speed: int, zone: zoneinfo.ZoneInfo) -> timedelta:
    """How long until ``bound``, moving at ``speed``, reaches a UTC or local hour boundary
    (local days and weeks start on local hours). Zero when it lies on one."""
    local = hour_floor(bound, zone)
    utc = utc_hour(bound)
    if speed < 0:
        return (bound - max(local, utc)) / -speed
    ahead = [
        utc if utc == bound else utc + HOUR,
        # The next local hour start; re-floored for offsets that change around a transition.
        local if local == bound else hour_floor(local + HOUR, zone),
    ]
    return (min(ahead) - bound) / speed

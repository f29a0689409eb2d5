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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import connection
from django.db.models import Model

from analytics.windows import HOUR, Drift, Window, hour_floor, utc_hour
from calls.enums import ACTIVE_STATUSES
from calls.models import ActivityEvent, Call, ErrorLog, Tenant, stale_after
from config.statements import instant_of

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
    # Each moving bound against each source's nearest row: one index probe each, all of them
    # in one statement (a round trip or an ORM query per probe cost more than a small answer).
    probes: list[_Probe] = []
    for bound, speed in sorted(bounds):
        waits.append(_to_boundary(bound, speed, zone))
        probes.extend(_Probe(model, field, bound, speed) for model, field in tables)
    if counts_active:
        # A live call started at ``t`` is active while ``t > now - stale_after()``.
        probes.append(_Probe(Call, "start_time", now - stale_after(), 1, live_only=True))
    waits.extend(_to_rows(tenant, probes))
    return now + max(min(w for w in waits if w is not None), timedelta(0))


@dataclass(frozen=True)
class _Probe:
    """The nearest timestamp ``field`` of the tenant's ``model`` rows from ``bound`` in the
    direction of ``speed``; ``live_only``: of calls in a live status only."""

    model: type[Model]
    field: str
    bound: datetime
    speed: int
    live_only: bool = False


def _to_rows(tenant: Tenant, probes: list[_Probe]) -> list[timedelta | None]:
    """For each probe: how long until its bound, moving at its speed, reaches the nearest row
    (``None``: there is none). A row exactly at the bound counts as reached: whether it is in or
    out of a half-open window, the next instant changes that. One statement for all of them,
    each a ``LIMIT 1`` probe of the ``(tenant, timestamp)`` index."""
    if not probes:
        return []
    quote = connection.ops.quote_name
    selects: list[str] = []
    params: list[Any] = []
    for probe in probes:
        meta = probe.model._meta
        column = quote(getattr(meta.get_field(probe.field), "column", None) or probe.field)
        ahead, order = (">=", "ASC") if probe.speed > 0 else ("<=", "DESC")
        where = f"{quote('tenant_id')} = %s AND {column} {ahead} %s"
        params.extend([tenant.pk, probe.bound])
        if probe.live_only:
            where += f" AND {quote('status')} IN ({', '.join(['%s'] * len(ACTIVE_STATUSES))})"
            params.extend(str(status) for status in ACTIVE_STATUSES)
        selects.append(
            f"(SELECT {column} FROM {quote(meta.db_table)} WHERE {where} "
            f"ORDER BY {column} {order} LIMIT 1)"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        found = cursor.fetchone()
    return [
        None if value is None else (instant_of(value) - probe.bound) / probe.speed
        for value, probe in zip(found, probes, strict=True)
    ]


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

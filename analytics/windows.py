"""Time windows, tenant-local calendar days and buckets.

Every analytics answer is computed over a half-open window ``[start, end)`` of aware UTC instants
and reported in one IANA time zone (the tenant's unless the request names another). Calendar
buckets (hours, days, weeks, months) are those of that zone, DST included: a local day is 23, 24
or 25 hours long, and its bounds are computed here and nowhere else.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal

from config.api.params import QueryValueError


class WindowError(QueryValueError):
    """A parameter that cannot describe a window (bad zone, bad datetime, reversed bounds)."""


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def resolve_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone called ``name``; raises ``WindowError`` for anything else."""
    if name not in _known_zones() and name != "UTC":
        raise WindowError(f"{name!r} is not an IANA time zone name.")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed above
        raise WindowError(f"{name!r} is not an IANA time zone name.") from None


@dataclass(frozen=True)
class Window:
    """A half-open window ``[start, end)`` of aware UTC instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be aware datetimes")
        if self.end < self.start:
            raise WindowError("the window ends before it starts.")

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The window of equal length that ends where this one starts."""
        return Window(self.start - self.span, self.start)


@dataclass(frozen=True)
class Drift:
    """How a window resolved against the clock moves as the clock does.

    ``start`` and ``end`` are each bound's speed: 1 when it follows ``now`` (a window ending
    now), 0 when the request fixed it. ``jumps_at`` is the instant the window is replaced
    outright, when it is (a default of "today" becoming tomorrow). A window the request fixed
    entirely is ``Drift()``.
    """

    start: int = 0
    end: int = 0
    jumps_at: datetime | None = None

    @property
    def moves(self) -> bool:
        return bool(self.start or self.end or self.jumps_at)

    def previous(self) -> Drift:
        """The drift of ``Window.previous()``: it ends at this start and starts one span
        earlier (``2 * start - end``)."""
        return Drift(start=2 * self.start - self.end, end=self.start, jumps_at=self.jumps_at)


def day_start(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``zone``.

    When local midnight does not exist (a DST jump at 00:00), fold=0 maps it to the instant of the
    jump, which is when the day starts.
    """
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class DateSpan:
    """Tenant-local whole days ``first`` .. ``last``, both included."""

    first: date
    last: date

    def window(self, zone: zoneinfo.ZoneInfo) -> Window:
        return date_window(self.first, self.last, zone)


def local_date(instant: datetime, zone: zoneinfo.ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def date_window(first: date, last: date, zone: zoneinfo.ZoneInfo) -> Window:
    """Whole local days ``first`` .. ``last`` (inclusive) in ``zone``."""
    return Window(day_start(first, zone), day_start(last + timedelta(days=1), zone))


def local_days(window: Window, zone: zoneinfo.ZoneInfo) -> list[date]:
    """Every local date the window touches, in order (an empty window touches none)."""
    if window.end <= window.start:
        return []
    first = local_date(window.start, zone)
    last = local_date(window.end - timedelta(microseconds=1), zone)
    return list(date_range(first, last))


def date_range(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


HOUR = timedelta(hours=1)


def utc_hour(instant: datetime) -> datetime:
    """The start of the UTC hour of ``instant``."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_range(first: datetime, last: datetime) -> Iterator[datetime]:
    """The hour starts ``first`` .. ``last``, both included."""
    hour = first
    while hour <= last:
        yield hour
        hour += HOUR


def hour_floor(instant: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant at which the local hour containing ``instant`` started.

    Computed on the UTC timeline, so the repeated hour of a DST fall-back is two hours, not one.
    """
    local = instant.astimezone(zone)
    floored = instant - timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return floored.astimezone(UTC)


def hour_starts(window: Window, zone: zoneinfo.ZoneInfo) -> list[datetime]:
    """The starts (UTC) of every local hour the window touches."""
    if window.end <= window.start:
        return []
    starts = []
    current = hour_floor(window.start, zone)
    while current < window.end:
        starts.append(current)
        # The next local hour boundary: one hour on, re-floored for zones whose offset is not a
        # whole number of hours around a transition.
        current = hour_floor(current + timedelta(minutes=60), zone)
    return starts


def hours_are_utc_aligned(window: Window, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether every local hour of ``window`` starts on a UTC hour (not so in India, Nepal…)."""
    return all(start.minute == 0 for start in hour_starts(window, zone))


def iso_utc(instant: datetime) -> str:
    """An instant as ISO 8601 UTC with a ``Z`` (``2026-01-17T10:30:00Z``)."""
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def iso_utc_ms(instant: datetime) -> str:
    """An instant as ISO 8601 UTC with milliseconds (``2026-04-05T11:42:00.000Z``)."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_local(instant: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """An instant in ``zone`` with its offset (``Z`` when the offset is zero)."""
    text = instant.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- Buckets and comparison periods of the analytics endpoints ---------------------------------

Interval = Literal["hour", "day", "week"]
Granularity = Literal["day", "week", "month"]
Comparison = Literal["previous_period", "previous_year"]


def volume_buckets(window: Window, zone: zoneinfo.ZoneInfo, interval: Interval) -> int:
    """How many buckets ``call_volume`` would return (cheap; for parameter limits)."""
    hours = math.ceil(window.span / timedelta(hours=1)) + 1
    return {"hour": hours, "day": hours // 24 + 2, "week": hours // (24 * 7) + 2}[interval]


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def comparison_span(span: DateSpan, compare_with: Comparison) -> DateSpan:
    """The period ``compareWith`` names.

    ``previous_period`` ends the day before ``startDate`` and spans ``endDate - startDate`` days
    (at least one), so 2026-03-01..31 compares with 2026-01-30..02-28; ``previous_year`` is the
    same dates a year earlier.
    """
    if compare_with == "previous_year":
        return DateSpan(_year_earlier(span.first), _year_earlier(span.last))
    length = max((span.last - span.first).days, 1)
    return DateSpan(span.first - timedelta(days=length), span.first - timedelta(days=1))


def sales_buckets(span: DateSpan, granularity: Granularity) -> list[tuple[str, date, date]]:
    """``(label, first, last)`` of each ``timeSeries`` bucket.

    Days are labelled ``YYYY-MM-DD``; weeks are 7-day runs from ``startDate`` (a shorter trailing
    run joins the previous week) and months are calendar months clipped to the span, both
    labelled ``first/last``.
    """
    if granularity == "day":
        return [(d.isoformat(), d, d) for d in date_range(span.first, span.last)]
    runs: list[tuple[date, date]] = []
    if granularity == "week":
        start = span.first
        while start <= span.last:
            end = min(start + timedelta(days=6), span.last)
            if (end - start).days < 6 and runs:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
            start = end + timedelta(days=1)
    else:
        start = span.first
        while start <= span.last:
            next_month = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
            end = min(next_month - timedelta(days=1), span.last)
            runs.append((start, end))
            start = end + timedelta(days=1)
    return [(f"{a.isoformat()}/{b.isoformat()}", a, b) for a, b in runs]

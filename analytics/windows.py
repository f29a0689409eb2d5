"""Time windows, tenant-local calendar days and buckets.

Every analytics answer is computed over a half-open window ``[start, end)`` of aware UTC instants
and reported in one IANA time zone (the tenant's unless the request names another). Calendar
buckets (hours, days, weeks, months) are those of that zone, DST included: a local day is 23, 24
or 25 hours long, and its bounds are computed here and nowhere else.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

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


def day_start(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``zone``.

    When local midnight does not exist (a DST jump at 00:00), fold=0 maps it to the instant of the
    jump, which is when the day starts.
    """
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


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

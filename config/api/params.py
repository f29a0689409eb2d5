"""What a query string of any API may name: instants, the years they lie in, and time zones.

The call filters (``calls.api.filters``) and the analytics windows and parameters
(``analytics.windows``, ``analytics.api.params``) read these, so every API takes the same
instants and zones and documents them alike.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache

# Instants a query may name (analytics windows, call filters) lie in these years: window
# arithmetic (previous periods, local conversions) must never overflow Python's or the
# database's datetime range, whose edges otherwise fail only for some offsets.
MIN_YEAR = 1900
MAX_YEAR = 2200

# The OpenAPI pattern of the years a query-string instant may lie in (``MIN_YEAR``…``MAX_YEAR``),
# at the start of an ISO 8601 date or datetime.
YEAR_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-"


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names a ``timezone`` parameter takes, sorted (the schema lists them): the
    system's zone database, not whatever file name ``ZoneInfo`` would also open."""
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def not_one_of(value: object, choices: Iterable[str]) -> str:
    """The message for a value outside an enumerated parameter's choices: it lists them, so
    the client learns the valid values from the error (every API family and filter says it so)."""
    return f"{str(value)[:40]!r} is not one of: {', '.join(choices)}"


def unknown_parameters(
    unknown: Iterable[str], accepted: Iterable[str], *, patterns: Iterable[str] = ()
) -> str:
    """The message for query parameters an endpoint does not take: it names them (the first ten,
    each cut to 60 characters) and lists the ones it does take, so a misspelt ``order`` leads
    to ``ordering`` (every API family and stream says it so). ``patterns`` describes names
    matched by prefix (``var.<name>``)."""
    names = ", ".join(repr(name[:60]) for name in list(unknown)[:10])
    valid = ", ".join([*sorted(accepted), *patterns])
    return f"Unknown parameter(s): {names}. Accepted: {valid}."


class QueryValueError(ValueError):
    """A query-string value that names no instant or zone; its text is the message to show."""


def check_range(value: datetime) -> datetime:
    """``value``, unless its year lies outside ``MIN_YEAR``…``MAX_YEAR``."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise QueryValueError(f"dates must lie between the years {MIN_YEAR} and {MAX_YEAR}.")
    return value


def parse_instant(raw: str, zone: tzinfo) -> datetime:
    """An ISO 8601 datetime from a query string, as an aware UTC datetime.

    A naive datetime is UTC; a date without a time is the start of that day in ``zone`` (where
    local midnight does not exist, fold=0 maps it to the instant of the jump).
    """
    text = raw.strip()
    if not text:
        raise QueryValueError("must be an ISO 8601 datetime.")
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise QueryValueError(f"{raw!r} is not an ISO 8601 datetime.") from None
        check_range(datetime.combine(day, time()))
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise QueryValueError(f"{raw!r} is not an ISO 8601 datetime.") from None
    check_range(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

"""What a query string of any API may name: the years of an instant and the time zones.

The call filters (``calls.api.filters``) and the analytics windows and parameters
(``analytics.windows``, ``analytics.api.params``) read these, so every API takes the same
instants and zones and documents them alike.
"""

from __future__ import annotations

import zoneinfo
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

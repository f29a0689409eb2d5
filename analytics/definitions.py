"""Metric definitions: each one written once, here.

Row sources (raw rows in ``analytics.facts``; rollups later) count with the predicates below; the
query layer (``analytics.queries``) combines the counts with the formulas below. Nothing else in
Callscope decides what "successful", "active" or "percentage change" means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from calls.enums import ACTIVE_STATUSES, CallStatus, Sentiment
from calls.queries import success_of, successful_q

# --- Predicates over calls --------------------------------------------------------------------

# A completed call; for the sales family also "a conversation" (connected, Engaged).
COMPLETED = Q(status=CallStatus.COMPLETED)
FAILED = Q(status=CallStatus.FAILED)
POSITIVE = Q(sentiment=Sentiment.POSITIVE)
HANDOFF = Q(handoff=True)
# Successful: as the document said, else derived from a completed call's end reason. The call
# list filters by it too, and ``calls`` cannot import ``analytics``, so it is defined there.
SUCCESSFUL = successful_q()


def is_successful(*, success: bool | None, status: str, end_call_reason: str) -> bool:
    """``SUCCESSFUL`` for one call held in memory."""
    return success_of(success, status, end_call_reason)


def stale_after() -> timedelta:
    """How long after its start a call in a live status stops counting as active."""
    return timedelta(seconds=settings.ACTIVE_CALL_STALE_AFTER_SECONDS)


def active(now: datetime) -> Q:
    """Calls active at ``now``: in a live status and started less than ``stale_after()`` ago."""
    return Q(status__in=ACTIVE_STATUSES, start_time__gt=now - stale_after())


# --- Formulas ---------------------------------------------------------------------------------


def mean(total: float, count: int) -> float | None:
    """``total / count``; ``None`` when there is nothing to average."""
    return total / count if count else None


def ratio(numerator: float, denominator: float) -> float | None:
    """A share as a decimal (0.25); ``None`` when the denominator is 0."""
    return numerator / denominator if denominator else None


def percent(numerator: float, denominator: float) -> float | None:
    """A share in percent (25.0); ``None`` when the denominator is 0."""
    return numerator / denominator * 100 if denominator else None


def percent_change(current: float, previous: float) -> float:
    """Change against the previous window in percent (Synthflow family).

    ``(current - previous) / previous * 100``; 100 when previous is 0 and current is not; 0 when
    both are 0.
    """
    if previous:
        return (current - previous) / previous * 100
    return 100.0 if current else 0.0


def decimal_change(current: float | None, previous: float | None) -> float | None:
    """Change against the comparison period as a decimal (sales family: 0.24 = +24%).

    ``None`` when the previous value is 0 or undefined.
    """
    if current is None or not previous:
        return None
    return (current - previous) / previous


def percentile_cont(ordered: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the order statistics of
    ``ordered`` (sorted ascending) at position ``fraction * (n - 1)``."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    first, second = float(ordered[low]), float(ordered[high])
    return first + (second - first) * (position - low)


PERCENTILES: tuple[float, ...] = (0.5, 0.95, 0.99)

"""Metric definitions: each one written once, here.

Row sources (raw rows in ``analytics.facts``; rollups later) count with the predicates below; the
query layer (``analytics.queries``) combines the counts with the formulas below. Nothing else in
Callscope decides what a metric or "percentage change" means. What a call counts as
("successful", "active") is the call model's (``calls.models``): the call list and the admin
filter by the same predicates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.db.models import Q

from calls.enums import CallStatus, Sentiment
from calls.models import successful_q

# --- Predicates over calls --------------------------------------------------------------------

# A completed call; for the sales family also "a conversation" (connected, Engaged).
COMPLETED = Q(status=CallStatus.COMPLETED)
FAILED = Q(status=CallStatus.FAILED)
POSITIVE = Q(sentiment=Sentiment.POSITIVE)
HANDOFF = Q(handoff=True)
# Successful: as the document said, else derived from a completed call's end reason.
SUCCESSFUL = successful_q()


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


def point_change(current: float | None, previous: float | None) -> float | None:
    """Change of a rate (a share in percent) in percentage points: ``current - previous``
    (63.1% against 68.1% is -5.0). ``None`` when either rate is undefined (no calls).

    A rate's change relative to its previous value (-7.3% here) reads like a change of the rate
    itself; the admin dashboard shows rates' changes in points.
    """
    if current is None or previous is None:
        return None
    return current - previous


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

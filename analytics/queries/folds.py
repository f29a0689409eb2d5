"""Folding facts keyed by several dimensions into totals per one of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from analytics.facts import CallTotals


def by(facts: dict[tuple[Any, ...], CallTotals], position: int = 1) -> dict[Any, CallTotals]:
    """Folds day-keyed facts into totals per the dimension at ``position`` of the key."""
    folded: dict[Any, CallTotals] = defaultdict(CallTotals)
    for key, totals in facts.items():
        folded[key[position]].add(totals)
    return folded


def per_day(facts: dict[tuple[Any, ...], CallTotals]) -> dict[date, CallTotals]:
    return by(facts, 0)


def top(counts: Iterable[tuple[Any, int]], limit: int) -> list[tuple[Any, int]]:
    """The ``limit`` ``(key, count)`` pairs with the largest counts (ties by key), zeros left
    out: the order every ranked list of the dashboard shows."""
    return sorted(((k, n) for k, n in counts if n), key=lambda kv: (-kv[1], str(kv[0])))[:limit]

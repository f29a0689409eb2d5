"""A mergeable log-bucket histogram (DDSketch-style) with 1% relative accuracy.

Bucket ``i`` holds the values in ``(gamma^(i-1), gamma^i]`` with
``gamma = (1 + alpha) / (1 - alpha)``; a bucket is represented by ``2 gamma^i / (gamma + 1)``,
which is within ``alpha`` (relative) of every value in it. Percentiles follow ``percentile_cont``
(linear interpolation between the order statistics around ``q * (n - 1)``), with each order
statistic replaced by its bucket's representative: each is within ``alpha``, so the interpolation
is too. Zero (and negative) values are counted apart and represented by 0.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Case, Count, IntegerField, QuerySet, Value, When
from django.db.models.functions import Ceil, Ln

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)


def bucket_of(value: float) -> int:
    return math.ceil(math.log(value) / LOG_GAMMA)


def representative(bucket: int) -> float:
    return 2 * GAMMA**bucket / (GAMMA + 1)


@dataclass
class Sketch:
    zero: int = 0
    counts: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.zero + sum(self.counts.values())

    def add(self, value: float, n: int = 1) -> None:
        if value <= 0:
            self.zero += n
        else:
            b = bucket_of(value)
            self.counts[b] = self.counts.get(b, 0) + n

    def add_bucket(self, bucket: int | float | None, n: int) -> None:
        """Counts ``n`` values of bucket ``bucket`` (None: the zero bucket)."""
        if bucket is None:
            self.zero += n
        else:
            b = int(bucket)
            self.counts[b] = self.counts.get(b, 0) + n

    def add_buckets(self, buckets: Iterable[int | float | None], counts: Iterable[int]) -> None:
        """Counts ``counts[i]`` values of ``buckets[i]`` (a ``histogram_rows`` row's lists)."""
        for bucket, n in zip(buckets, counts, strict=True):
            self.add_bucket(bucket, n)

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: Sketch) -> None:
        self.zero += other.zero
        counts = self.counts
        for b, n in other.counts.items():
            counts[b] = counts.get(b, 0) + n

    def merge_dense(self, histograms: Iterable[dict[str, Any]]) -> None:
        """Merges histograms stored by ``to_dense``."""
        summed = sum_dense(histograms)
        self.zero += summed["zero"]
        merged = self.counts
        low = summed["offset"]
        for i, n in enumerate(summed["counts"]):
            if n:
                merged[low + i] = merged.get(low + i, 0) + n

    def to_dense(self) -> dict[str, Any]:
        if not self.counts:
            return {"zero": self.zero, "offset": 0, "counts": []}
        low, high = min(self.counts), max(self.counts)
        return {
            "zero": self.zero,
            "offset": low,
            "counts": [self.counts.get(b, 0) for b in range(low, high + 1)],
        }

    def quantiles(self, fractions: Iterable[float]) -> tuple[float | None, ...]:
        """``percentile_cont`` at each fraction, from bucket representatives."""
        buckets = sorted(self.counts)
        return _quantiles(self.zero, buckets, [self.counts[b] for b in buckets], fractions)


def sum_dense(histograms: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sum of histograms stored by ``to_dense``, in the same form (summed as aligned dense
    lists, column by column: a year of daily histograms sums in milliseconds)."""
    stored = [h for h in histograms if h]
    zero = sum(h.get("zero", 0) for h in stored)
    stored = [h for h in stored if h.get("counts")]
    if not stored:
        return {"zero": zero, "offset": 0, "counts": []}
    if len(stored) == 1:  # a day's own histogram, as stored
        return {"zero": zero, "offset": stored[0]["offset"], "counts": stored[0]["counts"]}
    low = min(h["offset"] for h in stored)
    high = max(h["offset"] + len(h["counts"]) for h in stored)
    aligned = [
        [0] * (h["offset"] - low) + h["counts"] + [0] * (high - h["offset"] - len(h["counts"]))
        for h in stored
    ]
    return {"zero": zero, "offset": low, "counts": list(map(sum, zip(*aligned, strict=True)))}


def dense_quantiles(
    histogram: dict[str, Any], fractions: Iterable[float]
) -> tuple[float | None, ...]:
    """``Sketch.quantiles`` of one histogram stored by ``Sketch.to_dense``, without building the
    sketch (a year of daily per-provider percentiles reads thousands of them)."""
    counts = histogram.get("counts") or []
    offset = histogram.get("offset", 0)
    # Empty buckets may stay: no rank ever falls in one.
    buckets = range(offset, offset + len(counts))
    return _quantiles(histogram.get("zero", 0), buckets, counts, fractions)


def _quantiles(
    zero: int, buckets: Sequence[int], counts: Sequence[int], fractions: Iterable[float]
) -> tuple[float | None, ...]:
    """``percentile_cont`` over ``zero`` zeros and ``counts[i]`` values in ``buckets[i]``
    (ascending; a bucket may count 0), each value replaced by its bucket's representative."""
    wanted = list(fractions)
    n = zero + sum(counts)
    if n == 0:
        return tuple(None for _ in wanted)
    # ends[i]: how many values lie in the zero bucket and buckets[0..i].
    ends = list(accumulate(counts, initial=zero))[1:]

    def value_at(rank: int) -> float:
        if rank < zero or not buckets:
            return 0.0
        return representative(buckets[min(bisect_right(ends, rank), len(buckets) - 1)])

    result = []
    for fraction in wanted:
        position = fraction * (n - 1)
        low, high = math.floor(position), math.ceil(position)
        first, second = value_at(low), value_at(high)
        result.append(first + (second - first) * (position - low))
    return tuple(result)


def bucket_rows(
    samples: QuerySet[Any], keys: Sequence[str], **aggregates: Aggregate
) -> QuerySet[Any]:
    """Latency samples grouped by ``keys`` and histogram bucket, counted (``n``) in SQL, with any
    other ``aggregates`` per bucket; ``bucket`` is None for values <= 0 (the zero bucket)."""
    return (
        samples.annotate(
            bucket=Case(
                When(latency_ms__lte=0, then=Value(None)),
                default=Ceil(Ln("latency_ms") / Value(LOG_GAMMA)),
                output_field=IntegerField(),
            )
        )
        .values(*keys, "bucket")
        .annotate(n=Count("pk"), **aggregates)
        .order_by()
    )


def histogram_rows(
    samples: QuerySet[Any], keys: Sequence[str], **aggregates: Aggregate
) -> list[dict[str, Any]]:
    """``bucket_rows`` folded per ``keys``: one row per key with ``n`` (samples), each of
    ``aggregates`` summed, and ``buckets`` / ``counts``, the key's histogram as two parallel lists
    (``None``: the zero bucket).

    On PostgreSQL the database folds the buckets into arrays, so a busy day's tens of thousands
    of bucket rows reach Python as a few hundred rows; elsewhere they are folded here.
    """
    rows = bucket_rows(samples, keys, **aggregates)
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        sql, params = rows.query.sql_with_params()
        names = [*keys, "n", *aggregates]
        select = [
            *(f"b.{quote(k)}" for k in keys),
            *(f"SUM(b.{quote(k)}) AS {quote(k)}" for k in ("n", *aggregates)),
            "ARRAY_AGG(b.bucket) AS buckets",
            "ARRAY_AGG(b.n) AS counts",
        ]
        group = ", ".join(f"b.{quote(k)}" for k in keys)
        statement = f"SELECT {', '.join(select)} FROM ({sql}) b GROUP BY {group}"
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [
                dict(zip([*names, "buckets", "counts"], row, strict=True))
                for row in cursor.fetchall()
            ]
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        entry = folded.get(key)
        if entry is None:
            entry = folded[key] = {
                **{k: row[k] for k in keys},
                **{k: 0 for k in ("n", *aggregates)},
                "buckets": [],
                "counts": [],
            }
        for name in ("n", *aggregates):
            entry[name] += row[name] or 0
        entry["buckets"].append(row["bucket"])
        entry["counts"].append(row["n"])
    return list(folded.values())

"""Facts of latency samples over a scope: totals per provider (additive, like every fact) and
percentiles, which do not add up: rolled days contribute their stored log-bucket histograms
(``analytics.sketch``), raw pieces exact percentiles or histograms of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate

from analytics.definitions import PERCENTILES
from analytics.facts import plan, raw, rolled
from analytics.facts.db import fetch_rows
from analytics.facts.vocabulary import PROVIDER_KEYS, FactScope, LatencyTotals
from analytics.sketch import Sketch, bucket_rows, dense_quantiles, sum_dense
from analytics.windows import local_date, week_start


def latency_facts(
    *, scope: FactScope, with_calls: bool = True, per_day: bool = True
) -> dict[tuple[Any, ...], LatencyTotals]:
    """Latency samples of calls started in the scope's window, by ``(local day, provider type,
    name)``, or by provider alone with ``per_day=False`` (call counts only ``with_calls``; see
    ``raw.latency_facts``)."""
    keys = (*(("day",) if per_day else ()), *PROVIDER_KEYS)
    split = plan.split_window(scope=scope, keyed_by="day" if per_day else "window")
    facts: dict[tuple[Any, ...], LatencyTotals] = {}
    if split.raw:
        facts = raw.latency_facts(
            scope=scope, windows=split.raw, with_calls=with_calls, per_day=per_day
        )
    if split.rolled:
        width = len(keys)
        for row in rolled.latency_rows(scope=scope, split=split, keys=keys):
            samples, latency_sum, calls = row[width:]
            facts.setdefault(row[:width], LatencyTotals()).add(
                LatencyTotals(
                    samples=samples, latency_sum=latency_sum, calls=calls if with_calls else 0
                )
            )
    return facts


def _add_bucket(
    totals: dict[Any, LatencyTotals], sketches: dict[Any, Sketch], key: Any, bucket: dict[str, Any]
) -> None:
    """Adds one ``bucket_rows`` row (with ``latency_sum`` and ``calls``) to the totals and the
    histogram of ``key``."""
    totals.setdefault(key, LatencyTotals()).add(LatencyTotals.of(bucket, samples="n"))
    sketches.setdefault(key, Sketch()).add_bucket(bucket["bucket"], bucket["n"])


def latency_summary(
    *, scope: FactScope, fractions: Sequence[float]
) -> dict[tuple[str, str], tuple[LatencyTotals, tuple[float, ...]]]:
    """Per ``(provider type, provider name)``: the totals (as ``latency_facts``) and percentiles
    of the latency samples of calls started in the scope's window.

    Percentiles are exact (``percentile_cont``) from raw rows; within 1% relative error when
    rolled-up days or hours take part (their log-bucket histograms, merged with the raw
    pieces'). The raw pieces are then read once: one grouped pass yields their totals and their
    histogram. Nothing here is keyed by day, so the scope's zone plays no part: the rolled days
    are those of the tenant's own zone, whatever zone the request names.
    """
    scope = replace(scope, zone=scope.tenant.zone)
    split = plan.split_window(scope=scope, keyed_by="window")
    if not split.rolled:
        return raw.latency_exact(scope=scope, windows=[scope.window], fractions=fractions)
    rolled_rows = rolled.latency_rows_covering(scope=scope, split=split) if split.days else []
    if split.hours:
        rolled_rows += rolled.latency_hour_rows(scope=scope, split=split)
    merged = _merged_histograms(
        rolled_rows=rolled_rows,
        raw_samples=raw.samples_in(scope.tenant, split.raw) if split.raw else None,
        raw_keys=PROVIDER_KEYS,
        key_of_row=_provider,
        key_of_bucket=_provider,
        fractions=fractions,
    )
    return {
        key: (total, tuple(q if q is not None else 0.0 for q in quantiles))
        for key, (total, quantiles) in merged.items()
    }


def _provider(row: Mapping[str, Any]) -> tuple[str, str]:
    return (row["provider_type"], row["provider_name"])


def _merged_histograms(
    *,
    rolled_rows: Iterable[Mapping[str, Any]],
    raw_samples: QuerySet[Any] | None,
    raw_keys: Sequence[str],
    key_of_row: Callable[[Mapping[str, Any]], Any],
    key_of_bucket: Callable[[Mapping[str, Any]], Any],
    fractions: Sequence[float],
) -> dict[Any, tuple[LatencyTotals, tuple[float | None, ...]]]:
    """Totals and percentiles (within 1%) per key, from rolled rows (totals and a stored
    histogram, keyed by ``key_of_row``) and raw samples (one grouped pass by ``raw_keys``, whose
    histogram buckets carry their totals, keyed by ``key_of_bucket``): the histograms of a key
    are summed, and its percentiles read from the sum."""
    totals: dict[Any, LatencyTotals] = {}
    stored: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rolled_rows:
        key = key_of_row(row)
        totals.setdefault(key, LatencyTotals()).add(LatencyTotals.of(row))
        stored[key].append(row["histogram"])
    sketches: dict[Any, Sketch] = {}
    if raw_samples is not None:
        for bucket in fetch_rows(
            bucket_rows(
                raw_samples, raw_keys, latency_sum=Sum("latency_ms"), calls=raw.CALLS_WITH_SAMPLES
            )
        ):
            _add_bucket(totals, sketches, key_of_bucket(bucket), bucket)
    result: dict[Any, tuple[LatencyTotals, tuple[float | None, ...]]] = {}
    for key, total in totals.items():
        if not total.samples:
            continue
        if key in sketches:
            sketch = sketches[key]
            sketch.merge_dense(stored.get(key, []))
            result[key] = (total, sketch.quantiles(fractions))
        else:
            result[key] = (total, dense_quantiles(sum_dense(stored[key]), fractions))
    return result


def latency_series(
    *, scope: FactScope, fractions: Sequence[float], weekly: bool = False
) -> dict[tuple[date, str, str], tuple[LatencyTotals, tuple[float | None, ...]]]:
    """Totals and percentiles of the latency samples of the calls started in each local day of
    the scope's window (with ``weekly``, each local week, keyed by its Monday), keyed by ``(day
    or week, provider type, provider name)``.

    Percentiles come from log-bucket histograms (within 1%): the rolled days' and hours' stored
    ones (per week, one stored week row for a week whose days are all rolled) and, for the raw
    pieces, one grouped pass that also yields their totals. Per day, a rolled day is read from
    its stored percentiles, and when no hour is rolled a day read from raw rows gets exact
    percentiles, as ``latency_summary`` gives for a window of raw rows.
    """
    split = plan.split_window(scope=scope)
    zone = scope.zone
    hour_rows = rolled.latency_hour_rows(scope=scope, split=split) if split.hours else []
    if weekly:
        # A week may hold rolled days, rolled hours and raw pieces: their histograms are merged.
        rolled_rows = rolled.latency_period_rows(scope=scope, split=split) if split.days else []
        for row in hour_rows:
            row["week"] = week_start(local_date(row.pop("hour"), zone))
        return _merged_histograms(
            rolled_rows=[*rolled_rows, *hour_rows],
            raw_samples=_raw_samples_per_day(scope, split),
            raw_keys=("day", *PROVIDER_KEYS),
            key_of_row=lambda row: (row["week"], *_provider(row)),
            key_of_bucket=lambda bucket: (week_start(bucket["day"]), *_provider(bucket)),
            fractions=fractions,
        )
    # A rolled day is read whole from its day row: with its percentiles stored (the product's
    # fractions) it needs no histogram.
    result: dict[tuple[date, str, str], tuple[LatencyTotals, tuple[float | None, ...]]] = {}
    ready = tuple(fractions) == PERCENTILES
    rows = (
        rolled.latency_day_rows(scope=scope, split=split, stored_quantiles=ready)
        if split.days
        else []
    )
    for row in rows:
        total = LatencyTotals.of(row)
        if total.samples:
            result[(row["day"], *_provider(row))] = (
                total,
                tuple(row["quantiles"]) if ready else dense_quantiles(row["histogram"], fractions),
            )
    if hour_rows:
        # Days of rolled hours and raw pieces: their histograms merged per day, the raw pieces
        # read in one grouped pass.
        for row in hour_rows:
            row["day"] = local_date(row.pop("hour"), zone)
        result.update(
            _merged_histograms(
                rolled_rows=hour_rows,
                raw_samples=_raw_samples_per_day(scope, split),
                raw_keys=("day", *PROVIDER_KEYS),
                key_of_row=lambda row: (row["day"], *_provider(row)),
                key_of_bucket=lambda bucket: (bucket["day"], *_provider(bucket)),
                fractions=fractions,
            )
        )
    elif split.raw:
        # Days read whole from raw rows: exact percentiles, in one pass over the raw pieces.
        for key, (total, exact) in raw.latency_exact(
            scope=scope, windows=split.raw, fractions=fractions, per_day=True
        ).items():
            if total.samples:
                result[key] = (total, exact)
    return result


def _raw_samples_per_day(scope: FactScope, split: plan.Split) -> QuerySet[Any] | None:
    """The latency samples of the split's raw pieces, with their local ``day``."""
    if not split.raw:
        return None
    return raw.samples_in(scope.tenant, split.raw).annotate(
        day=TruncDate("start_time", tzinfo=scope.zone)
    )

"""The log-bucket histogram: percentiles within 1% of percentile_cont, merges that add up."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from analytics.definitions import PERCENTILES, percentile_cont
from analytics.sketch import RELATIVE_ACCURACY, Sketch, dense_quantiles

latencies = st.lists(
    st.one_of(st.just(0.0), st.floats(0.01, 120_000, allow_nan=False)), min_size=1, max_size=200
)
FRACTIONS = (0.0, *PERCENTILES, 1.0)


@given(latencies)
def test_quantiles_are_within_one_percent_of_percentile_cont(values: list[float]) -> None:
    sketch = Sketch()
    sketch.extend(values)
    ordered = sorted(values)

    for fraction, estimate in zip(FRACTIONS, sketch.quantiles(FRACTIONS), strict=True):
        exact = percentile_cont(ordered, fraction)
        assert estimate is not None and exact is not None
        assert math.isclose(estimate, exact, rel_tol=RELATIVE_ACCURACY + 1e-9, abs_tol=1e-9)


@given(latencies, latencies)
def test_merging_stored_histograms_equals_one_histogram_of_everything(
    first: list[float], second: list[float]
) -> None:
    a, b, both = Sketch(), Sketch(), Sketch()
    a.extend(first)
    b.extend(second)
    both.extend(first + second)

    merged = Sketch()
    merged.merge_dense([a.to_dense(), b.to_dense()])

    assert merged == both
    assert dense_quantiles(both.to_dense(), FRACTIONS) == both.quantiles(FRACTIONS)


def test_empty_sketch_has_no_percentiles() -> None:
    assert Sketch().quantiles(PERCENTILES) == (None, None, None)

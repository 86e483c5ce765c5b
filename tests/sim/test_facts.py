"""The fact accumulators against plain numpy references (property tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.facts import BINS, Histogram, RunTracker


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=1, max_size=400),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_histogram_quantile_within_one_bin(values, q):
    h = Histogram(1.0)
    arr = np.array(values, dtype=np.float32)
    h.add(arr[: len(arr) // 2])
    h.add(arr[len(arr) // 2:])
    exact = float(np.quantile(arr.astype(np.float64), q, method="inverted_cdf"))
    assert exact - 1e-9 <= h.quantile(q) <= exact + 1.0 / BINS + 1e-9
    assert h.max == float(arr.max())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=300), st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_run_tracker_matches_whole_series(active, cuts):
    series = np.array(active, dtype=bool)
    tracker = RunTracker()
    i = 0
    for c in cuts + [len(series)]:  # feed the series in chunks, as days arrive
        tracker.add(series[i:i + c])
        i += c
        if i >= len(series):
            break
    tracker.finish()
    starts = int(series[0]) + int(np.sum(series[1:] & ~series[:-1]))
    idle = np.diff(np.flatnonzero(np.concatenate([[True], series, [True]]))) - 1
    assert tracker.bursts == starts
    assert tracker.max_idle_run == int(idle.max())
    assert tracker.active == int(series.sum()) and tracker.samples == len(series)

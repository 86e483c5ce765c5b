"""Mergeable state: merge(state(A), state(B)) == state(A ∪ B); partition order is irrelevant."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.config import ProfileConfig
from optimizer.profiles.api import ProfileSet
from optimizer.profiles.state import ProfileState
from optimizer.profiles.stream import Settings, partition_state
from tests.profiles.datagen import gpu_row, table


def _rows(seed: int, n_pods: int, n_ts: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_pods):
        gpus = int(rng.integers(1, 3))
        has_sm = bool(rng.random() < 0.5)
        interval = float(rng.choice([1.0, 10.0, 9.5]))
        times = np.sort(rng.choice(np.arange(1, 3 * n_ts), n_ts, replace=False)) * interval
        for t in times:
            for g in range(gpus):
                u = float(rng.choice([0.0, 0.02, rng.random()]))
                rows.append(gpu_row(float(t), f"n{p % 2}", f"gpu-{p}-{g}", pod=f"pod-{p}", util=u,
                                    sm=u * 0.8 if has_sm else None, mem=int(rng.integers(0, 2**36)),
                                    interval=interval))
    return rows


def _frame(state: ProfileState) -> pd.DataFrame:
    f = ProfileSet(state).to_frame()
    return f.sort_values(list(f.columns[:3])).reset_index(drop=True)


SETTINGS = Settings("pod", ProfileConfig(), {})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_pods=st.integers(1, 4), n_ts=st.integers(1, 40),
       cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3), order_seed=st.integers(0, 1000))
def test_merge_of_parts_equals_state_of_union_in_any_order(seed, n_pods, n_ts, cuts, order_seed):
    rows = _rows(seed, n_pods, n_ts)
    whole = partition_state("gpu", table("gpu", rows), SETTINGS)
    # Split by time (rows of one pod-instant stay together, as in a real date partition).
    ts = np.array([r["ts"].timestamp() for r in rows])
    edges = np.quantile(ts, sorted(cuts))
    part_of = np.searchsorted(edges, ts, side="right")
    parts = [partition_state("gpu", table("gpu", [r for r, p in zip(rows, part_of, strict=True) if p == i]),
                             SETTINGS) for i in np.unique(part_of)]
    order = np.random.default_rng(order_seed).permutation(len(parts))
    merged = ProfileState("pod")
    for i in order:
        merged.merge(parts[i])
    a, b = _frame(merged), _frame(whole)
    pd.testing.assert_frame_equal(a.drop(columns=["mean"]), b.drop(columns=["mean"]))
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-12)
    for key in whole.entities.keys:
        i, j = merged.entities.get(key), whole.entities.get(key)
        for name, m in whole.metrics.items():
            assert np.array_equal(merged.metrics[name].hist[i], m.hist[j])
            assert np.array_equal(merged.metrics[name].hour_w[i], m.hour_w[j])


def test_state_round_trips_through_bytes():
    state = partition_state("gpu", table("gpu", _rows(7, 3, 30)), SETTINGS)
    again = ProfileState.from_bytes(state.to_bytes())
    pd.testing.assert_frame_equal(_frame(again), _frame(state))
    assert again.entities.keys == state.entities.keys and again.first_ms == state.first_ms

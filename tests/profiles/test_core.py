"""Histogram core against an exact numpy reference (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.profiles import core, kernels
from optimizer.profiles.bins import schemes
from tests.profiles.reference import weighted_percentile, within_one_bin

SCHEMES = schemes()
QS = core.QUANTILES


def _values(kind, n, rng):
    if kind == "utilization":
        v = rng.random(n).astype(np.float32).astype(np.float64)
        v[rng.random(n) < 0.2] = 0.0  # idle samples are common
        return v
    if kind == "bytes":
        return np.floor(2.0 ** rng.uniform(18, 40, n))
    return 2.0 ** rng.uniform(-9, 9, n)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 600), n_keys=st.integers(1, 12),
       kind=st.sampled_from(["utilization", "bytes", "cores"]), threads=st.integers(1, 2))
def test_percentiles_within_one_bin_and_exact_mean(seed, n, n_keys, kind, threads):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n).astype(np.int32)
    values = _values(kind, n, rng)
    weights = rng.uniform(0.5, 60.0, n).astype(np.float32)
    scheme = getattr(SCHEMES, kind)
    st_ = core.build(keys, n_keys, weights, {"m": core.MetricInput(values, scheme, 0.05)}, nthreads=threads)["m"]
    p = core.percentiles(st_, n_keys, nthreads=threads)
    for k in range(n_keys):
        sel = keys == k
        if not sel.any():
            assert st_.sums[k, kernels.COUNT] == 0 and np.isnan(p[k]).all()
            continue
        v, w = values[sel], weights[sel].astype(np.float64)
        for j, q in enumerate(QS):
            exact = weighted_percentile(v, w, q)
            assert within_one_bin(p[k, j], exact, scheme), (q, p[k, j], exact)
        sums = st_.sums[k]
        assert sums[kernels.SUM_W] == w.sum()
        np.testing.assert_allclose(sums[kernels.SUM_VW] / sums[kernels.SUM_W], np.average(v, weights=w), rtol=1e-6)
        assert sums[kernels.MAX] == v.max()
        assert sums[kernels.COUNT] == sel.sum()
        np.testing.assert_allclose(sums[kernels.IDLE_W], w[v < 0.05].sum(), rtol=1e-12)
        assert st_.hist[k].sum() == w.sum()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 400), cut=st.floats(0.05, 0.95))
def test_histogram_of_union_is_sum_of_histograms(seed, n, cut):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 5, n).astype(np.int32)
    values = _values("bytes", n, rng)
    weights = rng.choice(np.array([1.0, 10.0, 9.75, 60.0], np.float32), n)
    inp = lambda sl: {"m": core.MetricInput(values[sl], SCHEMES.bytes, None)}  # noqa: E731
    m = int(n * cut)
    a = core.build(keys[:m], 5, weights[:m], inp(slice(0, m)))["m"]
    b = core.build(keys[m:], 5, weights[m:], inp(slice(m, n)))["m"]
    whole = core.build(keys, 5, weights, inp(slice(0, n)))["m"]
    a.add_rows(np.arange(5), b, 5)
    assert np.array_equal(a.hist, whole.hist)
    assert np.array_equal(a.sums[:, [kernels.SUM_W, kernels.MAX, kernels.COUNT]],
                          whole.sums[:, [kernels.SUM_W, kernels.MAX, kernels.COUNT]])



@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 400), cut=st.floats(0.0, 1.0), threads=st.integers(1, 2),
       grow=st.integers(0, 3))
def test_batch_added_into_a_state_equals_the_state_of_the_union(seed, n, cut, threads, grow):
    """``build(B, into=state(A))`` is ``state(A ∪ B)``, also when B has entities A never saw (the state
    grows); a wrong scheme is refused."""
    rng = np.random.default_rng(seed)
    n_keys = 6 + grow
    keys = rng.integers(0, n_keys, n).astype(np.int32)
    m = int(n * cut)
    keys[:m] %= 6  # the first batch only knows entities 0..5
    weights = rng.choice(np.array([1.0, 10.0, 9.75, 60.0], np.float32), n)
    util = _values("utilization", n, rng).astype(np.float32)
    util[rng.random(n) < 0.2] = np.nan
    mem = _values("bytes", n, rng).astype(np.int64)

    def inp(sl):
        return {"util": core.MetricInput(util[sl], SCHEMES.utilization, 0.05),
                "mem": core.MetricInput(mem[sl], SCHEMES.bytes, None)}

    first = core.build(keys[:m], 6, weights[:m], inp(slice(0, m)), nthreads=threads)
    both = core.build(keys[m:], n_keys, weights[m:], inp(slice(m, n)), nthreads=threads, into=first)
    whole = core.build(keys, n_keys, weights, inp(slice(0, n)), nthreads=threads)
    for name in ("util", "mem"):
        a, b = both[name], whole[name]
        assert a is first[name]
        assert np.array_equal(a.hist[:n_keys], b.hist), name
        for col in (kernels.SUM_W, kernels.MAX, kernels.COUNT, kernels.MIN):
            assert np.array_equal(a.sums[:n_keys, col], b.sums[:, col]), (name, col)
        for col in (kernels.SUM_VW, kernels.IDLE_W):
            np.testing.assert_allclose(a.sums[:n_keys, col], b.sums[:, col], rtol=1e-12)
        assert (a.hist[n_keys:] == 0).all() and (a.sums[n_keys:, kernels.COUNT] == 0).all()
    wrong = {"util": core.MetricInput(util, SCHEMES.cores, 0.05)}
    with pytest.raises(ValueError, match="'util' has bin scheme 'utilization', the input 'cores'"):
        core.build(keys, n_keys, weights, wrong, into=first)
    with pytest.raises(ValueError, match="no state for metric 'cpu'"):
        core.build(keys, n_keys, weights, {"cpu": core.MetricInput(util, SCHEMES.cores, 0.05)}, into=first)

def test_bin_edges_and_widths():
    u, b, c = SCHEMES.utilization, SCHEMES.bytes, SCHEMES.cores
    assert u.width_at(0.3) <= 0.005 + 1e-12 and u.width_at(0.0) == 0.0
    for s, lo, hi in ((b, 2.0**20, 2.0**41), (c, 0.001, 1024.0)):
        x = np.geomspace(lo, hi * 0.999, 2000)
        idx = s.index(x)
        lower = s.upper_edges[idx - 1]
        assert (x >= lower).all() and (x < s.upper_edges[idx]).all()
        assert ((s.upper_edges[idx] - lower) / lower <= 0.02).all()
    assert np.all(np.diff(SCHEMES.bytes.upper_edges) > 0)


def test_null_samples_are_skipped_and_zero_is_exact():
    keys = np.zeros(4, np.int32)
    values = np.array([0.0, np.nan, 0.0, np.nan])
    m = core.build(keys, 1, np.full(4, 10.0), {"m": core.MetricInput(values, SCHEMES.utilization, 0.05)})["m"]
    assert m.sums[0, kernels.COUNT] == 2 and m.sums[0, kernels.SUM_W] == 20.0
    assert (core.percentiles(m, 1) == 0.0).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 500), n_keys=st.integers(1, 40), threads=st.integers(1, 2),
       null_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_metrics_built_together_equal_the_per_entity_path(seed, n, n_keys, threads, null_share):
    """Three metrics in one bulk call (a pair and a lone one, nulls in one of them) give, metric by metric,
    the state of the sorted per-entity kernels: histograms bit for bit, counts, maxima and minima exact."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n).astype(np.int32)
    weights = rng.choice(np.array([1.0, 10.0, 9.75, 60.0], np.float32), n)
    util = _values("utilization", n, rng).astype(np.float32)
    util[rng.random(n) < null_share] = np.nan
    metrics = {"util": core.MetricInput(util, SCHEMES.utilization, 0.05),
               "mem": core.MetricInput(_values("bytes", n, rng).astype(np.int64), SCHEMES.bytes, None),
               "cpu": core.MetricInput(_values("cores", n, rng), SCHEMES.cores, 0.01)}
    together = core.build(keys, n_keys, weights, metrics, nthreads=threads)
    alone = core.build_sorted(keys, n_keys, weights, metrics)
    for name in metrics:
        a, b = together[name], alone[name]
        assert np.array_equal(a.hist, b.hist), name
        for col in (kernels.SUM_W, kernels.MAX, kernels.COUNT, kernels.MIN):
            assert np.array_equal(a.sums[:, col], b.sums[:, col]), (name, col)
        np.testing.assert_allclose(a.sums[:, kernels.SUM_VW], b.sums[:, kernels.SUM_VW], rtol=1e-12)
        np.testing.assert_allclose(a.sums[:, kernels.IDLE_W], b.sums[:, kernels.IDLE_W], rtol=1e-12)

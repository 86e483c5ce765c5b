"""The histogram core on plain columns: entity codes, values, weights -> per-entity MetricState.

Two entry points: ``build`` for one large unsorted batch on several threads (the bulk API, and what
benchmarks/profiles_bench.py measures), and ``build_sorted`` for one partition on the calling thread
(the stream runs partitions on a thread pool instead).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numba
import numpy as np

from optimizer.profiles import kernels
from optimizer.profiles.bins import BinScheme
from optimizer.profiles.state import MetricState

QUANTILES = np.array([0.50, 0.90, 0.95, 0.99])


def resolve_threads(threads: int | None) -> int:
    """The thread count to use (None = the CPUs this process may run on), applied to numba's pool."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = available if threads is None else int(threads)
    n = max(1, min(n, numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


@dataclass(frozen=True)
class MetricInput:
    values: np.ndarray  # float (NaN = null) or int
    scheme: BinScheme
    idle_threshold: float | None


def build(keys: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
          nthreads: int = 1) -> dict[str, MetricState]:
    """Histogram every metric of a large unsorted batch by entity code, on ``nthreads`` threads.

    Three passes: bins and sums per row (parallel over row chunks; values are read once, never moved),
    a stable counting sort that moves only the 2-byte bins and the weight of each row into key order,
    and a histogram pass over key-contiguous rows (threads own entity ranges balanced by row count,
    not key count, because keys are Zipf-skewed). Returns fresh MetricStates with ``n_keys`` rows
    (no hour-of-week profile: the bulk path has no timestamps).
    """
    if keys.dtype not in (np.int32, np.int64):
        keys = keys.astype(np.int64)
    names = list(metrics)
    bins = np.empty((len(names), keys.shape[0]), np.int16)
    out = {}
    for j, name in enumerate(names):
        m = metrics[name]
        thr = -1.0 if m.idle_threshold is None else float(m.idle_threshold)
        part = kernels.bin_and_sum(keys, m.values, weights, *m.scheme.args, thr, n_keys, nthreads, bins[j])
        st = MetricState.empty(m.scheme, m.idle_threshold, n_keys)
        st.sums[:] = part.sum(axis=0)
        st.sums[:, kernels.MAX] = part[:, :, kernels.MAX].max(axis=0)
        st.sums[:, kernels.MIN] = part[:, :, kernels.MIN].min(axis=0)
        out[name] = st
    offsets, cursors = kernels.count_keys(keys, n_keys, nthreads)
    sorted_w = np.empty(keys.shape[0], weights.dtype)  # float32 intervals stay 4 bytes
    sorted_bins = np.empty_like(bins)
    kernels.scatter_bins(keys, cursors, weights, bins, sorted_w, sorted_bins, nthreads)
    del bins
    targets = offsets[-1] * np.arange(1, nthreads) / nthreads
    bounds = np.concatenate([[0], np.searchsorted(offsets, targets).clip(0, n_keys), [n_keys]]).astype(np.int64)
    bounds = np.maximum.accumulate(bounds)
    for j, name in enumerate(names):
        kernels.histogram_bins(offsets, bounds, sorted_bins[j], sorted_w, out[name].hist)
    return out


def build_sorted(entity: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
                 hours: np.ndarray | None = None) -> dict[str, MetricState]:
    """``build`` for one partition on the calling thread (no thread pool; the GIL is released).

    Grouping uses numpy's stable argsort, which is cheap at partition sizes and costs no JIT compile.
    """
    order = np.argsort(entity, kind="stable")
    offsets = np.searchsorted(entity[order], np.arange(n_keys + 1)).astype(np.int64)
    w = np.ascontiguousarray(weights[order], dtype=np.float64)
    h = np.ascontiguousarray(hours[order], dtype=np.float64) if hours is not None else np.zeros(0)
    out = {}
    for name, m in metrics.items():
        st = MetricState.empty(m.scheme, m.idle_threshold, n_keys)
        thr = -1.0 if m.idle_threshold is None else float(m.idle_threshold)
        kernels.histogram_segments_serial(offsets, np.ascontiguousarray(m.values[order], dtype=np.float64), w, h,
                                          *m.scheme.args, thr, st.hist, st.sums, st.hour_w, st.hour_vw)
        out[name] = st
    return out


def percentiles(state: MetricState, n: int, qs: np.ndarray = QUANTILES) -> np.ndarray:
    """[n, len(qs)] time-weighted percentiles (upper bin edges, capped at the exact maximum)."""
    sums = state.sums[:n]
    return kernels.quantiles(state.hist[:n], qs, state.scheme.upper_edges, np.ascontiguousarray(sums[:, kernels.MIN]),
                             np.ascontiguousarray(sums[:, kernels.MAX]), *state.scheme.args)

"""The histogram core on plain columns: entity codes, values, weights -> per-entity MetricState.

This is what the stream calls once per partition and what benchmarks/profiles_bench.py measures.
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
class Grouping:
    """A stable grouping of rows by entity code: row order of ``gather`` is key-contiguous."""

    keys: np.ndarray
    offsets: np.ndarray  # entity k's rows are offsets[k]:offsets[k+1] after gather
    cursors: np.ndarray
    bounds: np.ndarray  # thread t handles entities bounds[t]:bounds[t+1]
    nthreads: int

    def gather(self, column: np.ndarray, dtype=np.float64) -> np.ndarray:
        out = np.empty(self.keys.shape[0], dtype)
        kernels.scatter(self.keys, column, self.cursors, out, self.nthreads)
        return out


def group(keys: np.ndarray, n_keys: int, nthreads: int) -> Grouping:
    if keys.dtype not in (np.int32, np.int64):
        keys = keys.astype(np.int64)
    offsets, cursors = kernels.count_keys(keys, n_keys, nthreads)
    # Split entities between threads by row count, not by key count (Zipf-skewed keys).
    targets = offsets[-1] * np.arange(1, nthreads) / nthreads
    inner = np.searchsorted(offsets, targets, side="left").clip(0, n_keys)
    bounds = np.concatenate([[0], inner, [n_keys]]).astype(np.int64)
    return Grouping(keys, offsets, cursors, np.maximum.accumulate(bounds), nthreads)


@dataclass(frozen=True)
class MetricInput:
    values: np.ndarray  # float (NaN = null) or int
    scheme: BinScheme
    idle_threshold: float | None


def build(keys: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
          hours: np.ndarray | None = None, nthreads: int = 1,
          grouping: Grouping | None = None) -> dict[str, MetricState]:
    """Histogram every metric by entity; returns fresh MetricStates with ``n_keys`` rows."""
    g = grouping or group(keys, n_keys, nthreads)
    w = g.gather(weights)
    h = g.gather(hours) if hours is not None else np.zeros(0)
    out = {}
    for name, m in metrics.items():
        v = g.gather(m.values)
        st = MetricState.empty(m.scheme, m.idle_threshold, n_keys)
        thr = -1.0 if m.idle_threshold is None else float(m.idle_threshold)
        kernels.histogram_segments(g.offsets, g.bounds, v, w, h, *m.scheme.args, thr,
                                   st.hist, st.sums, st.hour_w, st.hour_vw)
        out[name] = st
    return out


def build_sorted(entity: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
                 hours: np.ndarray | None = None) -> dict[str, MetricState]:
    """``build`` for one small batch on the calling thread (no thread pool; the GIL is released).

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
    return kernels.quantiles(state.hist[:n], qs, state.scheme.upper_edges,
                             np.ascontiguousarray(state.sums[:n, kernels.MAX]))

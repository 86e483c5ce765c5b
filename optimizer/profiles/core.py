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


class Workspace:
    """Scratch buffers that ``build`` reuses across calls (grow-only; ``clear`` frees them).

    ``build`` moves every column once into bucket order; on a VM a page fault on fresh memory costs
    microseconds, so a caller that aggregates many large batches (a benchmark, a long-running service)
    passes one Workspace and pays for the pages once.
    """

    def __init__(self):
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def get(self, name: str, n: int, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        buf = self._buffers.get((name, dtype))
        if buf is None or buf.shape[0] < n:
            buf = self._buffers[(name, dtype)] = np.empty(n, dtype)
        return buf[:n]

    def clear(self) -> None:
        self._buffers.clear()


def build(keys: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
          nthreads: int = 1, workspace: Workspace | None = None) -> dict[str, MetricState]:
    """Histogram every metric of a large unsorted batch by entity code, on ``nthreads`` threads.

    Two passes over the data: a stable parallel partition of the rows into buckets of 64 consecutive
    entity codes (each column moved in its own dtype), then one pass per metric over bucket-contiguous
    rows that bins each value and adds it to its entity's histogram row and sums. A bucket's state is
    small enough to stay in L2 while its rows stream by; threads own bucket ranges balanced by row
    count, not key count, because keys are Zipf-skewed. Returns fresh MetricStates with ``n_keys`` rows
    (no hour-of-week profile: the bulk path has no timestamps).
    """
    if keys.dtype not in (np.int32, np.int64):
        keys = keys.astype(np.int64)
    n_buckets = (n_keys >> kernels.BUCKET_BITS) + 1
    offsets, cursors = kernels.count_buckets(keys, n_buckets, nthreads)

    ws = workspace or Workspace()
    n = keys.shape[0]

    def moved(column, dtype=None):
        out = ws.get("values", n, dtype or column.dtype)
        kernels.scatter(keys, cursors, column, out, nthreads)
        return out

    k_lo = ws.get("keys", n, np.uint8)
    w_sorted = ws.get("weights", n, weights.dtype)
    kernels.scatter_keys(keys, cursors, weights, k_lo, w_sorted, nthreads)
    targets = offsets[-1] * np.arange(1, nthreads) / nthreads
    bounds = np.concatenate([[0], np.searchsorted(offsets, targets).clip(0, n_buckets), [n_buckets]])
    bounds = np.maximum.accumulate(bounds.astype(np.int64))
    out = {}
    for name, m in metrics.items():
        st = MetricState.empty(m.scheme, m.idle_threshold, n_keys)
        thr = -1.0 if m.idle_threshold is None else float(m.idle_threshold)
        if m.scheme.kind == kernels.LOGLINEAR:  # float64 in key order, binned from its bits
            values = moved(m.values, np.float64)
            bits, shift = values.view(np.int64), 52 - int(np.log2(m.scheme.c))
        else:
            values, bits, shift = moved(m.values), np.zeros(0, np.int64), 0
        kernels.histogram_buckets(offsets, bounds, k_lo, values, bits, w_sorted, *m.scheme.args, shift, thr,
                                  st.hist, st.sums)
        out[name] = st
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

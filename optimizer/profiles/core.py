"""The histogram core on plain columns: entity codes, values, weights -> per-entity MetricState.

Two entry points: ``build`` for one large unsorted batch on several threads (the bulk API, and what
benchmarks/profiles_bench.py measures), and ``build_sorted`` for one partition on the calling thread
(the stream runs partitions on a thread pool instead).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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

    Two passes over the data: a stable partition of the rows into buckets of 16 consecutive entity
    codes (keys and weights in their dtypes, values as float64), each thread a chunk of rows, then one
    pass per metric over bucket-contiguous
    rows that bins each value and adds it to its entity's histogram row and sums. A bucket's state is
    small enough to stay in L2 while its rows stream by; threads own bucket ranges balanced by row
    count, not key count, because keys are Zipf-skewed. Returns fresh MetricStates with ``n_keys`` rows
    (no hour-of-week profile: the bulk path has no timestamps).
    """
    if keys.dtype not in (np.int32, np.int64):
        keys = keys.astype(np.int64)
    n = keys.shape[0]
    n_buckets = (n_keys >> kernels.BUCKET_BITS) + 1
    chunks = [(t * n // nthreads, (t + 1) * n // nthreads) for t in range(nthreads)]
    counts = np.zeros((nthreads, n_buckets), np.int64)
    _on_threads(kernels.count_buckets, [(keys, i0, i1, counts[t]) for t, (i0, i1) in enumerate(chunks)])
    # Stable order: chunk t's rows of a bucket follow those of chunks < t.
    flat = counts.T.ravel()
    starts = np.concatenate([[0], np.cumsum(flat)[:-1]]).reshape(n_buckets, nthreads).T
    offsets = np.concatenate([starts[0], [n]]).astype(np.int64)

    ws = workspace or Workspace()

    def moved(column, dtype):
        out = ws.get("values", n, dtype)
        _on_threads(kernels.scatter, [(i0, i1, keys, starts[t].copy(), column, out)
                                      for t, (i0, i1) in enumerate(chunks)])
        return out

    k_lo = ws.get("keys", n, np.uint8)
    w_sorted = ws.get("weights", n, weights.dtype)
    _on_threads(kernels.scatter_keys, [(i0, i1, keys, starts[t].copy(), weights, k_lo, w_sorted)
                                       for t, (i0, i1) in enumerate(chunks)])
    targets = offsets[-1] * np.arange(1, nthreads) / nthreads
    bounds = np.concatenate([[0], np.searchsorted(offsets, targets).clip(0, n_buckets), [n_buckets]])
    bounds = np.maximum.accumulate(bounds.astype(np.int64))
    out = {}
    for name, m in metrics.items():
        st = MetricState.empty(m.scheme, m.idle_threshold, n_keys)
        thr = -1.0 if m.idle_threshold is None else float(m.idle_threshold)
        # Values move as float64 whatever their input dtype, so the histogram kernel has one signature
        # (one JIT compile) for every metric; loglinear schemes bin from the float64 bits.
        values = moved(m.values, np.float64)
        if m.scheme.kind == kernels.LOGLINEAR:
            bits, shift = values.view(np.int64), 52 - int(np.log2(m.scheme.c))
        else:
            bits, shift = np.zeros(0, np.int64), 0
        _on_threads(kernels.histogram_buckets,
                    [(int(bounds[t]), int(bounds[t + 1]), offsets, k_lo, values, bits, w_sorted, *m.scheme.args,
                      shift, thr, st.hist, st.sums) for t in range(nthreads)])
        out[name] = st
    return out


def _on_threads(kernel, calls: list[tuple]) -> None:
    """Run ``kernel(*args)`` for each argument tuple, one per thread (the kernels release the GIL).

    A Python thread pool over serial ``nogil`` kernels instead of numba ``parallel=True``: the same
    parallelism for these few large chunks, and a parallel kernel takes several times longer to JIT
    compile (the cold first call was 3x slower with five parallel kernels).
    """
    if len(calls) == 1:
        kernel(*calls[0])
        return
    with ThreadPoolExecutor(len(calls)) as pool:
        for f in [pool.submit(kernel, *args) for args in calls]:
            f.result()


def build_sorted(entity: np.ndarray, n_keys: int, weights: np.ndarray, metrics: dict[str, MetricInput], *,
                 hours: np.ndarray | None = None) -> dict[str, MetricState]:
    """``build`` for one partition on the calling thread (no thread pool; the GIL is released).

    Grouping uses numpy's stable argsort, which is cheap at partition sizes and costs no JIT compile.
    """
    order = stable_argsort(entity)
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


def stable_argsort(codes: np.ndarray) -> np.ndarray:
    """``np.argsort(codes, kind="stable")`` for non-negative integer codes; codes that fit 16 bits are
    sorted as such, where numpy uses a radix sort (twice as fast as the merge sort of wider ints)."""
    if len(codes) and codes.max() < 32768:
        codes = codes.astype(np.int16)
    return np.argsort(codes, kind="stable")


def percentiles(state: MetricState, n: int, qs: np.ndarray = QUANTILES) -> np.ndarray:
    """[n, len(qs)] time-weighted percentiles (upper bin edges, capped at the exact maximum)."""
    sums = state.sums[:n]
    return kernels.quantiles(state.hist[:n], qs, state.scheme.upper_edges, np.ascontiguousarray(sums[:, kernels.MIN]),
                             np.ascontiguousarray(sums[:, kernels.MAX]), *state.scheme.args)

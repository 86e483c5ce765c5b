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

from optimizer.profiles import instant_kernels, kernels
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
          nthreads: int = 1, workspace: Workspace | None = None,
          into: dict[str, MetricState] | None = None) -> dict[str, MetricState]:
    """Histogram every metric of a large unsorted batch by entity code, on ``nthreads`` threads.

    Metrics go two at a time through three passes (see ``kernels``): count rows per entity
    while taking the exact-value sums, move each row as one 64-bit word of bin codes and weight to
    its bucket's place, then histogram bucket after bucket. Weights are held as float32, the dtype of
    ``interval_s`` in the dataset. Returns fresh MetricStates with ``n_keys`` rows (no hour-of-week
    profile: the bulk path has no timestamps).

    ``into`` (one state per metric, same bin scheme) adds the batch to existing states instead, as a
    merge would, and returns them: a caller that aggregates batch after batch keeps one state and
    skips both the merge and the fresh state's memory (a byte histogram of 20 k entities is 215 MB, and
    its first touch cost 0.15-0.45 s of page faults per call on the benchmark machine).
    """
    if keys.dtype not in (np.int32, np.int64):
        keys = keys.astype(np.int64)
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    n = keys.shape[0]
    n_buckets = (n_keys >> kernels.BUCKET_BITS) + 1
    chunks = [(t * n // nthreads, (t + 1) * n // nthreads) for t in range(nthreads)]
    ws = workspace or Workspace()
    words = ws.get("words", n, np.uint64)
    names = list(metrics)
    out = {}
    for first in range(0, len(names), 2):
        pair = [(name, metrics[name]) for name in names[first:first + 2]]
        states = [_target(name, m, n_keys, into) for name, m in pair]
        _build_pair(keys, n_keys, weights, [m for _, m in pair], states, chunks, n_buckets, words)
        out.update({name: st for (name, _), st in zip(pair, states, strict=True)})
    return out


def _target(name: str, m: MetricInput, n_keys: int, into: dict[str, MetricState] | None) -> MetricState:
    """The state metric ``name`` is added to: ``into[name]`` (grown to ``n_keys`` rows), else a fresh one."""
    if into is None:
        return MetricState.empty(m.scheme, m.idle_threshold, n_keys)
    st = into.get(name)
    if st is None:
        raise ValueError(f"into: no state for metric {name!r}")
    if st.scheme != m.scheme:
        raise ValueError(f"into: metric {name!r} has bin scheme {st.scheme.name!r}, the input {m.scheme.name!r}")
    st.grow(n_keys)
    return st


def _scheme_args(m: MetricInput) -> tuple:
    """(values, kind, a, b, c, nbins, code bits) of one metric for the bulk kernels."""
    sc = m.scheme
    # All ones is the null code, so the width holds nbins + 1 codes.
    return (m.values, *sc.args, int(sc.nbins).bit_length())


def _build_pair(keys, n_keys, weights, pair, states, chunks, n_buckets, words) -> None:
    """The three passes for one or two metrics, adding into ``states`` (fresh or kept, one per metric)."""
    nthreads = len(chunks)
    # A lone metric is its own pair (the kernels have one loop, for two); its second half is ignored.
    a1, a2 = _scheme_args(pair[0]), _scheme_args(pair[-1])
    if kernels.BUCKET_BITS + a1[-1] + a2[-1] > 32:
        raise ValueError(f"bin schemes too wide for one word: {a1[-1]} + {a2[-1]} code bits")
    thr = [-1.0 if m.idle_threshold is None else float(m.idle_threshold) for m in (pair[0], pair[-1])]

    # 1. rows per entity and the exact-value sums, each thread on its chunk of rows
    counts = np.zeros((nthreads, n_buckets << kernels.BUCKET_BITS), np.int64)
    acc = np.zeros((nthreads, n_keys, kernels.ACC_WIDTH))
    acc[:, :, [kernels.A_MAX, 4 + kernels.A_MAX]] = -np.inf
    acc[:, :, [kernels.A_MIN, 4 + kernels.A_MIN]] = np.inf
    _on_threads(kernels.count_and_accumulate, [(i0, i1, keys, weights, a1[0], thr[0], a2[0], thr[1], counts[t], acc[t])
                                               for t, (i0, i1) in enumerate(chunks)])
    # 2. the stable partition: chunk t's rows of a bucket follow those of chunks < t
    per_bucket = counts.reshape(nthreads, n_buckets, -1).sum(axis=2)
    starts = np.concatenate([[0], np.cumsum(per_bucket.T.ravel())[:-1]]).reshape(n_buckets, nthreads).T
    offsets = np.concatenate([starts[0], [keys.shape[0]]]).astype(np.int64)
    _on_threads(kernels.scatter_codes, [(i0, i1, keys, weights, starts[t].copy(), words, *a1[:-1], *a2[:-1], a1[-1], a2[-1])
                                        for t, (i0, i1) in enumerate(chunks)])
    # 3. histograms, each thread on a bucket range holding about 1/nthreads of the rows
    bounds = np.searchsorted(offsets, offsets[-1] * np.arange(1, nthreads) / nthreads).clip(0, n_buckets)
    bounds = np.maximum.accumulate(np.concatenate([[0], bounds, [n_buckets]]).astype(np.int64))
    # Added to what the states hold (zeros, and MIN = inf, in a fresh one), as a merge would. The new
    # extremes go first: their bins bound the range each histogram row's seconds are summed over.
    rows = counts.sum(axis=0)[:n_keys]
    for m, st in enumerate(states):
        part = acc[:, :, 4 * m:4 * m + 4]
        sums = st.sums[:n_keys]
        sums[:, kernels.SUM_VW] += part[:, :, kernels.A_VW].sum(axis=0)
        sums[:, kernels.MAX] = np.maximum(sums[:, kernels.MAX], part[:, :, kernels.A_MAX].max(axis=0))
        sums[:, kernels.IDLE_W] += part[:, :, kernels.A_IDLE_W].sum(axis=0)
        sums[:, kernels.MIN] = np.minimum(sums[:, kernels.MIN], part[:, :, kernels.A_MIN].min(axis=0))
    ranges = [_bin_range(st, n_keys) for st in states]
    lo2, hi2 = ranges[-1]
    hist2 = states[1].hist if len(states) > 1 else np.zeros_like(states[0].hist)  # a lone metric's copy
    seconds = np.zeros((2, n_keys))
    nulls = np.zeros((n_keys, 2), np.int64)
    _on_threads(kernels.histogram_codes, [(int(bounds[t]), int(bounds[t + 1]), offsets, words,
                                           a1[-1], states[0].hist, *ranges[0], seconds[0],
                                           a2[-1], hist2, lo2, hi2, seconds[1], nulls) for t in range(nthreads)])
    for m, st in enumerate(states):
        st.sums[:n_keys, kernels.COUNT] += rows - nulls[:, m]
        st.sums[:n_keys, kernels.SUM_W] = seconds[m]  # the whole row's: it holds what the state held before


def _bin_range(st: MetricState, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Per entity, the bins of its minimum and maximum (first > last where it has no sample)."""
    sc = st.scheme
    out = []
    for col in (kernels.MIN, kernels.MAX):
        codes = np.zeros(n_keys, np.uint64)
        kernels.or_bin_codes(codes, np.ascontiguousarray(st.sums[:n_keys, col]), *sc.args, 0, np.uint64(0))
        out.append(codes.view(np.int64))
    return out[0], out[1]


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
    """``np.argsort(codes, kind="stable")`` (int64 positions) for non-negative integer codes. Dense codes
    (a partition's series or entity numbers, at most a few per row) take a counting sort; wide ones
    numpy's sort, as int16 where they fit (a radix sort, twice as fast as the merge sort of wider ints)."""
    if not len(codes):
        return np.zeros(0, np.int64)
    top = int(codes.max()) + 1
    if top <= 2 * len(codes) + 4096:
        return instant_kernels.counting_argsort(codes, top)
    if top <= 32768:
        codes = codes.astype(np.int16)
    return np.argsort(codes, kind="stable").astype(np.int64, copy=False)


def percentiles(state: MetricState, n: int, qs: np.ndarray = QUANTILES, *, nthreads: int = 1) -> np.ndarray:
    """[n, len(qs)] time-weighted percentiles (upper bin edges, capped at the exact maximum), the rows
    split over ``nthreads`` threads."""
    sums = state.sums[:n]
    mins, maxes = np.ascontiguousarray(sums[:, kernels.MIN]), np.ascontiguousarray(sums[:, kernels.MAX])
    out = np.empty((n, len(qs)))
    bounds = [t * n // nthreads for t in range(nthreads + 1)]
    _on_threads(kernels.quantiles, [(state.hist[k0:k1], qs, state.scheme.upper_edges, mins[k0:k1], maxes[k0:k1],
                                     *state.scheme.args, out[k0:k1]) for k0, k1 in zip(bounds[:-1], bounds[1:], strict=True)])
    return out

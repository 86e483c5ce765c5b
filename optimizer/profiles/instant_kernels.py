"""numba kernel that combines a partition's rows of one series at one instant (``stream.group_instants``).

One pass over the rows in (series, ts) order instead of a dozen numpy calls (gathers, ``reduceat`` per
column, null counts): a node-day is ~20 k rows, where each numpy call's fixed cost is a good part of its
time, and the kernel runs without the GIL, beside the other partition's thread. Same conventions as the
other kernel files: ``@njit(cache=True, nogil=True)``, serial, calling only into this file (numba's cache
is keyed on the defining file's modification time).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SUM = 0
MEAN = 1
MAX = 2


@njit(cache=True, nogil=True)
def combine_sorted(order, series, ts, interval, values, how):
    """Rows taken in ``order`` (sorted by series, then ts); rows with equal (series, ts) become one.

    ``values`` is (columns, rows) float64 with NaN for null; ``how`` per column: SUM, MEAN or MAX over
    the non-null values, NaN when there is none. The interval of a combined row is the largest one.
    Sums run left to right in row order, as ``np.add.reduceat`` does for these short runs.
    Returns (series, ts, interval, values) of the combined rows, in order.
    """
    n = len(order)
    k = values.shape[0]
    out_s = np.empty(n, series.dtype)
    out_t = np.empty(n, np.int64)
    out_i = np.empty(n, np.float64)
    out_v = np.empty((k, n), np.float64)
    present = np.zeros(k, np.int64)
    g = -1
    for j in range(n):
        r = order[j]
        s = series[r]
        t = ts[r]
        if g < 0 or s != out_s[g] or t != out_t[g]:
            if g >= 0:
                _finish(out_v, present, how, g)
            g += 1
            out_s[g] = s
            out_t[g] = t
            out_i[g] = interval[r]
            for c in range(k):
                out_v[c, g] = 0.0
                present[c] = 0
        elif interval[r] > out_i[g]:
            out_i[g] = interval[r]
        for c in range(k):
            v = values[c, r]
            if v == v:
                if how[c] == MAX:
                    if present[c] == 0 or v > out_v[c, g]:
                        out_v[c, g] = v
                else:
                    out_v[c, g] += v
                present[c] += 1
    if g >= 0:
        _finish(out_v, present, how, g)
    m = g + 1
    return out_s[:m], out_t[:m], out_i[:m], out_v[:, :m]


@njit(cache=True, inline="always")
def _finish(out_v, present, how, g):
    for c in range(out_v.shape[0]):
        if present[c] == 0:
            out_v[c, g] = np.nan
        elif how[c] == MEAN:
            out_v[c, g] = out_v[c, g] / present[c]


@njit(cache=True, nogil=True)
def counting_argsort(codes, n_codes):
    """``np.argsort(codes, kind="stable")`` for integer codes in [0, n_codes): one counting pass and
    one scatter, O(rows + n_codes), instead of a comparison or radix sort."""
    starts = np.zeros(n_codes + 1, np.int64)
    for c in codes:
        starts[c + 1] += 1
    for c in range(n_codes):
        starts[c + 1] += starts[c]
    order = np.empty(len(codes), np.int64)
    for i in range(len(codes)):
        c = codes[i]
        order[starts[c]] = i
        starts[c] += 1
    return order


@njit(cache=True, nogil=True)
def time_ordered(order, series, ts):
    """True when the rows taken in ``order`` (grouped by series) have non-decreasing ts in each series."""
    for j in range(1, len(order)):
        a = order[j - 1]
        b = order[j]
        if series[a] == series[b] and ts[b] < ts[a]:
            return False
    return True

"""numba kernels of the burst statistics: run records per series segment, joined across partitions.

Apart from the histogram kernels (``kernels``) because they share nothing with them: numba's cache is
invalidated by the modification time of the file that defines a kernel, not of the files it calls, so a
kernel file may only call into itself. Same conventions: ``@njit(cache=True)``, serial, the per-partition
kernel without the GIL (the stream runs partitions on a thread pool).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Columns of a run record: one per (series, metric, partition), see ``runs_by_segment``.
R_START, R_END, R_FIRST_INTERVAL, R_HEAD_ACTIVE, R_HEAD_LEN, R_TAIL_ACTIVE, R_TAIL_LEN = 0, 1, 2, 3, 4, 5, 6
R_N_RUNS, R_ACTIVE_RUNS, R_ACTIVE_S, R_INNER_IDLE_MAX = 7, 8, 9, 10
N_RUN_FIELDS = 11


@njit(cache=True, nogil=True)
def runs_by_segment(offsets, ts_ms, interval_s, values, idle_threshold, gap_factor):
    """One run record per series segment (samples time-ordered within a segment).

    A run is a maximal stretch of contiguous samples that are all active (value >= threshold) or all
    idle; lengths are in seconds (sum of intervals). Head and tail runs are kept apart from the closed
    inner ones so that records of the same series from other partitions can be joined (``fold_runs``).
    Null samples are skipped; a segment without samples gets a record with N_RUNS = 0.
    """
    nseg = offsets.shape[0] - 1
    out = np.zeros((nseg, N_RUN_FIELDS))
    for s in range(nseg):
        r = out[s]
        have = False
        prev_end = 0.0
        state = False
        run_len = 0.0
        for i in range(offsets[s], offsets[s + 1]):
            v = values[i]
            if v != v:
                continue
            w = interval_s[i]
            end = ts_ms[i] / 1000.0
            start = end - w
            active = v >= idle_threshold
            if not have:
                have = True
                r[R_START] = start
                r[R_FIRST_INTERVAL] = w
                state = active
                run_len = w
                r[R_N_RUNS] = 1.0
                r[R_HEAD_ACTIVE] = 1.0 if active else 0.0
                r[R_HEAD_LEN] = -1.0  # head still open
            elif active == state and start - prev_end <= gap_factor * w:
                run_len += w
            else:
                _close_run(r, state, run_len)
                state = active
                run_len = w
                r[R_N_RUNS] += 1.0
            prev_end = end
        if have:
            r[R_END] = prev_end
            r[R_TAIL_ACTIVE] = 1.0 if state else 0.0
            r[R_TAIL_LEN] = run_len
            if r[R_HEAD_LEN] < 0.0:  # a single run is head and tail at once
                r[R_HEAD_LEN] = run_len
            if state:
                r[R_ACTIVE_RUNS] += 1.0
                r[R_ACTIVE_S] += run_len
    return out


@njit(cache=True, inline="always")
def _close_run(r, state, run_len):
    if r[R_HEAD_LEN] < 0.0:
        r[R_HEAD_LEN] = run_len  # the first run closes: it is the head, not an inner run
    elif not state and run_len > r[R_INNER_IDLE_MAX]:
        r[R_INNER_IDLE_MAX] = run_len
    if state:
        r[R_ACTIVE_RUNS] += 1.0
        r[R_ACTIVE_S] += run_len


@njit(cache=True)
def fold_runs(series, records, gap_factor, n_series):
    """Join the records of each series in time order -> per series (bursts, burst seconds, max idle run).

    ``records`` must be sorted by (series, start). Two records join when the later one starts within
    ``gap_factor`` of its first interval after the earlier one ends; equal head/tail states merge into
    one run. This is the same rule ``runs_by_segment`` applies between samples, so a series split across
    partitions gives the same statistics as the series read in one piece.
    """
    out = np.zeros((n_series, 3))
    m = records.shape[0]
    acc = np.empty(N_RUN_FIELDS)
    i = 0
    while i < m:
        s = series[i]
        for f in range(N_RUN_FIELDS):
            acc[f] = records[i, f]
        i += 1
        while i < m and series[i] == s:
            _join_into(acc, records[i], gap_factor)
            i += 1
        if acc[R_N_RUNS] == 0:
            continue
        idle_max = acc[R_INNER_IDLE_MAX]
        if acc[R_HEAD_ACTIVE] == 0.0 and acc[R_HEAD_LEN] > idle_max:
            idle_max = acc[R_HEAD_LEN]
        if acc[R_TAIL_ACTIVE] == 0.0 and acc[R_TAIL_LEN] > idle_max:
            idle_max = acc[R_TAIL_LEN]
        out[s, 0] += acc[R_ACTIVE_RUNS]
        out[s, 1] += acc[R_ACTIVE_S]
        if idle_max > out[s, 2]:
            out[s, 2] = idle_max
    return out


@njit(cache=True)
def _join_into(x, y, gap_factor):
    """x := x followed by y (both run records of one series, y not earlier). In place and scalar-only:
    an array-returning version took twice as long to JIT compile."""
    if y[R_N_RUNS] == 0:
        return
    if x[R_N_RUNS] == 0:
        for f in range(N_RUN_FIELDS):
            x[f] = y[f]
        return
    x_single = x[R_N_RUNS] == 1
    y_single = y[R_N_RUNS] == 1
    x_tail_active = x[R_TAIL_ACTIVE]
    x_tail_len = x[R_TAIL_LEN]
    joined = (x_tail_active == y[R_HEAD_ACTIVE]
              and y[R_START] - x[R_END] <= gap_factor * y[R_FIRST_INTERVAL])
    # R_START, R_FIRST_INTERVAL and R_HEAD_ACTIVE stay x's.
    x[R_END] = max(x[R_END], y[R_END])
    x[R_ACTIVE_S] = x[R_ACTIVE_S] + y[R_ACTIVE_S]
    inner = max(x[R_INNER_IDLE_MAX], y[R_INNER_IDLE_MAX])
    x[R_TAIL_ACTIVE] = y[R_TAIL_ACTIVE]
    x[R_TAIL_LEN] = y[R_TAIL_LEN]
    if joined:
        length = x_tail_len + y[R_HEAD_LEN]
        x[R_N_RUNS] = x[R_N_RUNS] + y[R_N_RUNS] - 1
        x[R_ACTIVE_RUNS] = x[R_ACTIVE_RUNS] + y[R_ACTIVE_RUNS] - (1.0 if x_tail_active == 1.0 else 0.0)
        if x_single:
            x[R_HEAD_LEN] = length
        if y_single:
            x[R_TAIL_LEN] = length
        if not x_single and not y_single and x_tail_active == 0.0 and length > inner:
            inner = length
    else:
        x[R_N_RUNS] = x[R_N_RUNS] + y[R_N_RUNS]
        x[R_ACTIVE_RUNS] = x[R_ACTIVE_RUNS] + y[R_ACTIVE_RUNS]
        if not x_single and x_tail_active == 0.0 and x_tail_len > inner:
            inner = x_tail_len
        if not y_single and y[R_HEAD_ACTIVE] == 0.0 and y[R_HEAD_LEN] > inner:
            inner = y[R_HEAD_LEN]
    x[R_INNER_IDLE_MAX] = inner

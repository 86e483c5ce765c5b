"""Cumulative counters → per-interval increments, computed here rather than with PromQL's ``increase()``.

``increase()`` extrapolates to the window's edges, so its increments are not whole tokens and do not add
up to the counter's change. Here each series is read as its raw value at every step (the last sample in
``(t − S, t]``) and the increment of the row at ``t`` is ``v(t) − v(t − S)``: consecutive rows add up to
exactly what the counter counted. A value below the previous one is a restart of the server (its counters
start again from 0), and the increment is then the new value, as ``increase()`` counts it.
"""

from __future__ import annotations

import numpy as np


def increments(values: np.ndarray) -> np.ndarray:
    """Increments of one cumulative series on a grid (NaN = no point): element ``i`` is the change over
    ``(t[i-1], t[i]]``; NaN where the point or the one before it is missing (a gap gives no increment,
    never a 0), and always at ``i = 0`` (query one step before the first row)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), np.nan)
    if len(values) < 2:
        return out
    prev, cur = values[:-1], values[1:]
    with np.errstate(invalid="ignore"):
        out[1:] = np.where(cur < prev, cur, cur - prev)
    return out


def sibling_increments(series: list[np.ndarray]) -> list[np.ndarray]:
    """Increments of the series of one counter family on one server (e.g. ``finished_reason="stop"`` and
    ``"length"``): as ``increments``, except that a series appearing while a sibling was already scraped at
    the step before is one the server created on its first event (client libraries add a labelled child
    lazily: TGI's ``tgi_request_failure{err=…}``), so its whole value counts as that step's increment."""
    inc = [increments(v) for v in series]
    if len(series) < 2:
        return inc
    present = np.vstack([~np.isnan(np.asarray(v, dtype=np.float64)) for v in series])
    scraped_before = np.zeros(present.shape[1], dtype=bool)
    scraped_before[1:] = present[:, :-1].any(axis=0)
    for k, v in enumerate(series):
        v = np.asarray(v, dtype=np.float64)
        born = np.zeros(len(v), dtype=bool)
        born[1:] = present[k, 1:] & ~present[k, :-1]
        born &= scraped_before
        if born.any():
            inc[k] = np.where(born, v, inc[k])
    return inc

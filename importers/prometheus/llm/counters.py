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
    lazily: TGI's ``tgi_request_failure{err=…}``), so its whole value counts as that step's increment.

    Only where that value is below the largest value a sibling had the step before: a child created on its
    first event has counted less than a sibling counting since the server started, while a second copy of
    a counter (a scrape whose labels differ in more than the scrape labels) has counted as much, and taking
    its whole value would add the server's lifetime count to one step."""
    inc = [increments(v) for v in series]
    if len(series) < 2:
        return inc
    stack = np.vstack([np.asarray(v, dtype=np.float64) for v in series])
    present = ~np.isnan(stack)
    for k in range(len(series)):
        v = stack[k]
        born = np.zeros(len(v), dtype=bool)
        born[1:] = present[k, 1:] & ~present[k, :-1]
        if not born.any():
            continue
        others = np.delete(stack, k, axis=0)[:, :-1]
        ceiling = np.full(len(v), np.nan)
        has = ~np.isnan(others).all(axis=0)
        ceiling[1:][has] = np.nanmax(others[:, has], axis=0)
        with np.errstate(invalid="ignore"):
            born &= v < ceiling  # NaN ceiling (no sibling scraped the step before): False
        inc[k] = np.where(born, v, inc[k])
    return inc

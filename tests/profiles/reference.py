"""Exact reference statistics with plain numpy (what the histograms must approximate within one bin)."""

from __future__ import annotations

import numpy as np


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value whose cumulative weight (values sorted ascending) reaches q * total weight."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, q * cum[-1], side="left")])


def within_one_bin(reported: float, exact: float, scheme) -> bool:
    """Reported percentile is >= exact (up to float32 resolution) and at most one bin above it."""
    slack = 1e-6 * max(1.0, abs(exact))
    return exact - slack <= reported <= exact + scheme.width_at(exact) + slack

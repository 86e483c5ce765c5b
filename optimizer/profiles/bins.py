"""Bin schemes of the histogram state: which value falls into which bin, and each bin's upper edge.

Two schemes, both with an exact-zero bin first (an idle GPU reports 0, and a percentile of 0 should read
0, not the first bin's edge) and an overflow bin last (its percentile is the exact observed maximum):

* ``linear`` for fractions 0..1: bin ``b`` (1..n) holds ``((b-1)/n, b/n]``. With n = 200 every bin is
  0.5 % wide.
* ``loglinear`` for bytes and cores (HDR-histogram style): each power of two ``[2**e, 2**(e+1))`` from
  ``2**lo`` to ``2**hi`` is cut into ``sub`` equal bins, so a bin is at most ``1/sub`` of its lower edge
  wide (1.56 % at sub = 64). Bin ``1`` holds ``(0, 2**lo)``. The index comes from ``frexp`` (exponent
  and mantissa), no logarithm per sample.

A percentile is reported as the upper edge of the bin where the cumulative weight first reaches the
quantile: never below the exact value (up to float32 resolution, see ``FLOAT32_SLACK``) and at most
one bin width above it (conservative for sizing), and never above the exact maximum.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from optimizer.config import DEFAULT_PROFILE_CONFIG, ProfileConfig
from optimizer.profiles.kernels import FLOAT32_SLACK, LINEAR, LOGLINEAR, bin_index, bin_indices

__all__ = ["FLOAT32_SLACK", "LINEAR", "LOGLINEAR", "BinScheme", "Schemes", "bin_index", "bin_indices",
           "linear_scheme", "loglinear_scheme", "schemes"]


@dataclass(frozen=True)
class BinScheme:
    """One bin layout; ``kind``/``a``/``b``/``c`` are what the kernels receive."""

    name: str
    kind: int
    a: float  # linear: number of bins n; loglinear: lo exponent
    b: float  # linear: unused; loglinear: hi exponent
    c: float  # linear: unused; loglinear: bins per octave
    nbins: int
    upper_edges: np.ndarray = field(repr=False, compare=False)

    @property
    def args(self) -> tuple[int, float, float, float, int]:
        return self.kind, self.a, self.b, self.c, self.nbins

    def width_at(self, value: float) -> float:
        """Width of the bin holding ``value`` (the resolution of a percentile there)."""
        i = int(bin_index(float(value), *self.args))
        lower = 0.0 if i == 0 else float(self.upper_edges[i - 1])
        return float(self.upper_edges[i]) - lower

    def index(self, values: np.ndarray) -> np.ndarray:
        return bin_indices(np.asarray(values, dtype=np.float64), *self.args)


def linear_scheme(name: str, n: int) -> BinScheme:
    edges = np.empty(n + 2)
    edges[0] = 0.0
    edges[1:n + 1] = np.arange(1, n + 1) / n
    edges[n + 1] = np.inf
    return BinScheme(name, LINEAR, float(n), 0.0, 0.0, n + 2, edges)


def loglinear_scheme(name: str, lo_exp2: int, hi_exp2: int, sub: int) -> BinScheme:
    octaves = hi_exp2 - lo_exp2
    nbins = 2 + octaves * sub + 1
    edges = np.empty(nbins)
    edges[0] = 0.0
    edges[1] = 2.0 ** lo_exp2
    j = np.arange(octaves * sub)
    edges[2:nbins - 1] = np.ldexp(1.0 + (j % sub + 1) / sub, lo_exp2 + j // sub)
    edges[nbins - 1] = np.inf
    return BinScheme(name, LOGLINEAR, float(lo_exp2), float(hi_exp2), float(sub), nbins, edges)


@dataclass(frozen=True)
class Schemes:
    utilization: BinScheme
    bytes: BinScheme
    cores: BinScheme


@functools.lru_cache(maxsize=16)
def schemes(config: ProfileConfig = DEFAULT_PROFILE_CONFIG) -> Schemes:
    """The bin schemes of ``config`` (built once per config: every partition of a run asks for them; the
    edges are shared, never written)."""
    return Schemes(
        utilization=linear_scheme("utilization", config.utilization_bins),
        bytes=loglinear_scheme("bytes", config.bytes_min_exp2, config.bytes_max_exp2, config.log_sub_bins),
        cores=loglinear_scheme("cores", config.cores_min_exp2, config.cores_max_exp2, config.log_sub_bins),
    )

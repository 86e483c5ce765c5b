"""Upper bound on the GPU units any packer can place on a fixed number of GPUs, whole GPUs and
time-sliced shares alike (the "GPU allocation ratio" of a fixed cluster).

Only the GPU dimension is kept: every GPU either holds nothing, one GPU of a whole-GPU pod, or a set of
shares whose ``gpu_milli`` sum to at most 1000. Nodes, CPU, memory, GPU models and the rule that a
multi-GPU pod takes its GPUs on one node are dropped, so every real packing is also a packing here and
the optimum here is at least as large.

The bound is the LP relaxation over per-GPU fill patterns (Gilmore and Gomory): a pattern is a multiset
of share sizes that fits one GPU (a whole GPU of a whole-GPU pod is the pattern {1000}); ``x_p`` GPUs
filled with pattern ``p``; at most ``G`` GPUs; a share size used at most as often as the pods offer it.
Any packing, read GPU by GPU, gives integer ``x_p`` with the same value, so the LP optimum bounds it.
The patterns are not listed up front (there are far too many); column generation adds the pattern of
greatest reduced cost, found by an exact bounded-knapsack dynamic programme over 0..1000 milli, until
none is left with a positive one.

The number returned does not rely on the LP solver's floating point: it is the weak-duality bound of
the LP's dual prices rounded to integers (``certify``). For any prices ``v_s >= 0`` per share size,

    value(packing) = Σ_p x_p (fill(p) - Σ_s c_ps v_s) + Σ_s v_s Σ_p x_p c_ps
                  <= G · max(0, max_p (fill(p) - Σ_s c_ps v_s)) + Σ_s v_s · offered_s,

and the inner maximum over every pattern (with ``c_ps`` up to what is offered) is computed exactly in
integers by the same dynamic programme, so the bound holds whatever prices GLOP returns; when they are
its optimal duals it equals the LP optimum up to the rounding of the prices. Share sizes are whole
milli-GPUs, so any packing places a whole number of them and the bound is rounded down to one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from ortools.linear_solver import pywraplp

from optimizer.solver.model import GPU_MILLI, PodSpec

PRICE_SCALE = 1_000_000  # dual prices in 1e-6 milli-GPU, so the knapsack runs on exact integers
MAX_COLUMNS = 100_000

Pattern = tuple[tuple[int, int], ...]  # ((share size in milli, how many), ...) on one GPU, sizes ascending


@dataclass(frozen=True)
class GpuUnitsBound:
    """What the LP says about ``gpus`` GPUs and the offered shares."""

    gpus: int
    offered: dict[int, int]  # share size in milli (1000 = one GPU of a whole-GPU pod) -> how many
    bound_milli: int  # certified upper bound on milli-GPUs placed
    lp_milli: float  # the LP optimum as GLOP reports it
    columns: int  # patterns generated
    solution: dict[Pattern, float]  # LP solution: pattern -> GPUs filled with it (nonzero only)

    @property
    def offered_milli(self) -> int:
        return sum(s * n for s, n in self.offered.items())

    @property
    def ratio(self) -> float:
        """Bound on GPU units placed ÷ GPUs."""
        return self.bound_milli / (self.gpus * GPU_MILLI) if self.gpus else 0.0


def offered_shares(pods: Iterable[PodSpec]) -> Counter[int]:
    """Share sizes the pods offer: a ``gpus=n`` pod offers ``n`` × 1000, a share pod its ``gpu_milli``."""
    out: Counter[int] = Counter()
    for p in pods:
        if p.mig_profile is not None:
            raise ValueError(f"pod {p.name}: the GPU-units bound covers whole GPUs and shares, not MIG slices")
        if p.gpus:
            out[GPU_MILLI] += p.gpus
        elif p.gpu_milli:
            out[p.gpu_milli] += 1
    return out


def best_pattern(profit: Mapping[int, int], offered: Mapping[int, int]) -> tuple[int, Pattern]:
    """Most profitable pattern: integer ``profit[s]`` per share of size ``s``, at most ``offered[s]``
    shares of that size and sizes summing to at most 1000. Exact (bounded knapsack over every
    capacity 0..1000); sizes with profit <= 0 are left out, which loses nothing as any part of a
    pattern is a pattern too."""
    best = np.zeros(GPU_MILLI + 1, dtype=np.int64)  # best[w]: best profit with sizes summing to <= w
    takes: list[tuple[int, np.ndarray]] = []
    for s in sorted(offered):
        p, most = int(profit.get(s, 0)), min(offered[s], GPU_MILLI // s)
        if p <= 0 or most <= 0:
            continue
        new = best.copy()
        take = np.zeros(GPU_MILLI + 1, dtype=np.int64)
        for k in range(1, most + 1):
            cand = best[:GPU_MILLI + 1 - k * s] + k * p
            better = cand > new[k * s:]
            new[k * s:][better] = cand[better]
            take[k * s:][better] = k
        best = new
        takes.append((s, take))
    value, w, pattern = int(best[GPU_MILLI]), GPU_MILLI, []
    for s, take in reversed(takes):
        k = int(take[w])
        if k:
            pattern.append((s, k))
            w -= k * s
    return value, tuple(sorted(pattern))


def certify(gpus: int, offered: Mapping[int, int], prices: Mapping[int, float]) -> Fraction:
    """Weak-duality upper bound on milli-GPUs placed, valid for any prices (negative ones count as 0)."""
    v = {s: max(0, round(prices.get(s, 0.0) * PRICE_SCALE)) for s in offered}
    per_gpu, _ = best_pattern({s: s * PRICE_SCALE - v[s] for s in offered}, offered)
    total = gpus * max(0, per_gpu) + sum(v[s] * n for s, n in offered.items())
    return Fraction(total, PRICE_SCALE)


def gpu_units_upper_bound(gpus: int, offered: Mapping[int, int]) -> GpuUnitsBound:
    """The pattern LP by column generation, and its certified bound (module docstring)."""
    offered = {int(s): int(n) for s, n in offered.items() if n > 0}
    bad = [s for s in offered if not 0 < s <= GPU_MILLI]
    if bad:
        raise ValueError(f"share sizes must be 1..{GPU_MILLI} milli-GPU, got {sorted(bad)}")
    if gpus <= 0 or not offered:
        return GpuUnitsBound(gpus, offered, 0, 0.0, 0, {})
    lp = pywraplp.Solver.CreateSolver("GLOP")
    gpu_row = lp.Constraint(0, gpus)
    size_rows = {s: lp.Constraint(0, n) for s, n in offered.items()}
    objective = lp.Objective()
    objective.SetMaximization()
    columns: dict[Pattern, pywraplp.Variable] = {}

    def add(pattern: Pattern) -> None:
        x = lp.NumVar(0, lp.infinity(), "")
        gpu_row.SetCoefficient(x, 1)
        for s, k in pattern:
            size_rows[s].SetCoefficient(x, k)
        objective.SetCoefficient(x, sum(s * k for s, k in pattern))
        columns[pattern] = x

    for s in offered:
        add(((s, 1),))
    while True:
        if lp.Solve() != pywraplp.Solver.OPTIMAL:
            raise RuntimeError("GLOP did not solve the pattern LP")
        u = max(0.0, gpu_row.dual_value())
        prices = {s: max(0.0, row.dual_value()) for s, row in size_rows.items()}
        value, pattern = best_pattern({s: round((s - prices[s]) * PRICE_SCALE) for s in offered}, offered)
        # add while the reduced cost is clearly positive (more than a thousandth of a milli-GPU)
        if value - u * PRICE_SCALE <= PRICE_SCALE // 1000 or pattern in columns or len(columns) >= MAX_COLUMNS:
            break
        add(pattern)
    solution = {p: x.solution_value() for p, x in columns.items() if x.solution_value() > 1e-9}
    bound = math.floor(certify(gpus, offered, prices))  # packings place whole milli-GPUs
    return GpuUnitsBound(gpus, offered, bound, objective.Value(), len(columns), solution)

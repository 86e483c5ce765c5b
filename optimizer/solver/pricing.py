"""Best node patterns for given pod-shape values: the pricing step of the pattern model (patterns.py).

For nodes without GPUs a pattern is a count per pod shape (CPU, memory) whose sums fit the node. The
most valuable pattern is a two-dimensional integer knapsack. It is solved exactly by dynamic
programming over a grid in units of the shapes' greatest common divisors (pods of 250 m CPU and
multiples of 256 MiB give a grid of a few million cells). The table holds the best value for every
capacity up to the largest node, so one table answers every node type of a market: a node of
``C`` cores and ``M`` MiB reads its cell. Where the grid would be too large (shapes without a common
unit), each node type is solved by CP-SAT instead, and so is a node type whose table pattern has more
pods than the node's pod slots (the table has no count dimension; a table pattern within the slots is
optimal for the limited problem too, since the limit only removes patterns).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from ortools.sat.python import cp_model

MAX_CELLS = 12_000_000


class KnapsackTable:
    """Exact best values of ``Σ value[i]·q[i]`` with ``Σ cpu[i]·q[i] ≤ C``, ``Σ mem[i]·q[i] ≤ M`` over
    integers ``q ≥ 0``, for every ``C ≤ max_cpu`` and ``M ≤ max_mem`` (millicores, MiB)."""

    def __init__(self, cpu: list[int], mem: list[int], max_cpu: int, max_mem: int):
        self.cpu, self.mem = list(cpu), list(mem)
        self.gc = math.gcd(*self.cpu) if self.cpu else 1
        self.gm = math.gcd(*self.mem) if self.mem else 1
        self.a = [c // self.gc for c in self.cpu]
        self.b = [m // self.gm for m in self.mem]
        rows = max_cpu // self.gc
        cols = max_mem // self.gm
        if self.a and self.b:
            # no pattern uses more memory than its CPU allows at the most memory-heavy ratio, and vice versa
            cols = min(cols, math.ceil(rows * max(b / a for a, b in zip(self.a, self.b, strict=True))))
            rows = min(rows, math.ceil(cols * max(a / b for a, b in zip(self.a, self.b, strict=True))))
        self.rows, self.cols = rows, cols
        self.f: np.ndarray | None = None
        self.values: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        return bool(self.a) and min(self.a) > 0 and min(self.b) > 0 and (self.rows + 1) * (self.cols + 1) <= MAX_CELLS

    def fill(self, values: list[float]) -> None:
        """Recompute the table for these item values."""
        if self.f is None:
            self.f = np.zeros((self.rows + 1, self.cols + 1))
        self.values = np.array(values, dtype=np.float64)
        _fill(np.array(self.a, dtype=np.int64), np.array(self.b, dtype=np.int64), self.values, self.f)

    def best(self, cap_cpu: int, cap_mem: int) -> tuple[float, dict[int, int]]:
        """Best value and pattern (item -> count) for a node of this capacity, traced back through the
        table: a cell equals the row below it (nothing added) or some item on top of an earlier cell."""
        c = min(cap_cpu // self.gc, self.rows)
        m = min(cap_mem // self.gm, self.cols)
        f, v = self.f, self.values
        value = float(f[c, m])
        pattern: dict[int, int] = {}
        while c > 0 and f[c, m] > 0:
            if f[c - 1, m] >= f[c, m]:
                c -= 1
                continue
            for i, (a, b) in enumerate(zip(self.a, self.b, strict=True)):
                if v[i] > 0 and a <= c and b <= m and f[c - a, m - b] + v[i] >= f[c, m] - 1e-9 * max(1.0, f[c, m]):
                    break
            else:  # pragma: no cover - the table always has a predecessor
                break
            pattern[i] = pattern.get(i, 0) + 1
            c -= a
            m -= b
        return value, pattern


def best_pattern_cp_sat(cpu: list[int], mem: list[int], values: list[float], cap_cpu: int, cap_mem: int,
                        *, time_limit_s: float, seed: int, max_items: int | None = None) -> tuple[float, dict[int, int]]:
    """The same knapsack for one node by CP-SAT (values scaled to integers), with at most ``max_items``
    pods when given (the node's pod slots). Returns an upper bound on the best value (from the solver's
    proven bound) and the best pattern found."""
    scale = 1e6 / max(max(values, default=1.0), 1e-12)
    m = cp_model.CpModel()
    q = {}
    for i, v in enumerate(values):
        if v > 0 and cpu[i] <= cap_cpu and mem[i] <= cap_mem:
            ub = min(cap_cpu // cpu[i] if cpu[i] else cap_mem, cap_mem // mem[i] if mem[i] else cap_cpu)
            q[i] = m.new_int_var(0, ub, f"q{i}")
    if not q:
        return 0.0, {}
    m.add(sum(cpu[i] * x for i, x in q.items()) <= cap_cpu)
    m.add(sum(mem[i] * x for i, x in q.items()) <= cap_mem)
    if max_items is not None:
        m.add(sum(q.values()) <= max_items)
    m.maximize(sum(round(values[i] * scale) * x for i, x in q.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return math.inf, {}
    pattern = {i: int(solver.value(x)) for i, x in q.items() if solver.value(x)}
    # rounding each value to an integer moves it by at most 0.5/scale per item placed
    slack = sum(0.5 / scale * min(cap_cpu // max(1, cpu[i]), max_items or cap_cpu) for i in q)
    return solver.best_objective_bound / scale + slack, pattern


@numba.njit(cache=True, fastmath=True)
def _fill(a, b, v, f):  # pragma: no cover - compiled
    # f[c, m] = best value with at most c CPU units and m memory units; row c depends only on rows < c
    # because every item uses CPU, so one pass over rows is exact for unbounded item counts
    rows, cols = f.shape
    f[0, :] = 0.0
    for c in range(1, rows):
        dst = f[c]
        dst[:] = f[c - 1]
        for i in range(a.shape[0]):
            ai, bi, vi = a[i], b[i], v[i]
            if vi <= 0.0 or ai > c or bi >= cols:
                continue
            src = f[c - ai]
            for m in range(cols - bi):  # written as a plain loop over row views so it vectorises
                x = src[m] + vi
                y = dst[m + bi]
                dst[m + bi] = x if x > y else y

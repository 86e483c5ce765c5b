"""Stage 1 (tech.md §5.2 B): how many nodes of each (type, market), and how many pods of each class go
to each, with aggregate capacity rows. Ignoring per-node fragmentation makes its optimum a lower bound
of the real packing; "big pod" cuts (two pods each over half a node never share one) tighten it."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from optimizer.solver.classes import PodClass
from optimizer.solver.model import GPU_MILLI, SPOT, NodeType

PRICE_SCALE = 100_000  # CP-SAT needs integers: prices in 1e-5 $/h


@dataclass
class Stage1:
    counts: dict[int, int]  # type index -> nodes
    assign: dict[tuple[int, int], int]  # (class index, type index) -> pods
    bound: float  # $/h, valid for the candidate lists given
    status: str


def _rows(c: PodClass, t: NodeType) -> tuple[int, int, int]:
    return c.spec.cpu_m, c.spec.mem_mib, c.gpu_milli_on(t)


def _caps(t: NodeType) -> tuple[int, int, int]:
    return t.cpu_m, t.mem_mib, t.gpus * GPU_MILLI


def _big(c: PodClass, t: NodeType) -> tuple[bool, bool, bool]:
    need, cap = _rows(c, t), _caps(t)
    return tuple(n * 2 > k for n, k in zip(need, cap, strict=True))


def _used_types(classes: list[PodClass]) -> list[int]:
    return sorted({t for c in classes for t in c.candidates})


def solve_stage1(classes: list[PodClass], types: list[NodeType], *, time_limit_s: float, num_workers: int,
                 seed: int, relative_gap: float) -> Stage1:
    m = cp_model.CpModel()
    used = _used_types(classes)
    a: dict[tuple[int, int], cp_model.IntVar] = {}
    for ci, c in enumerate(classes):
        for ti in c.candidates:
            a[ci, ti] = m.new_int_var(0, c.count, f"a{ci}_{ti}")
        m.add(sum(a[ci, ti] for ti in c.candidates) == c.count)
        if c.spec.spot_ok and c.spot_cap < c.count:
            spot = [a[ci, ti] for ti in c.candidates if types[ti].market == SPOT]
            if spot:
                m.add(sum(spot) <= c.spot_cap)
    n: dict[int, cp_model.IntVar] = {}
    for ti in used:
        t = types[ti]
        members = [ci for ci, c in enumerate(classes) if ti in c.candidates]
        ub = sum(-(-classes[ci].count // max(1, classes[ci].fit_count(t))) for ci in members)
        n[ti] = m.new_int_var(0, ub, f"n{ti}")
        caps = _caps(t)
        for r in range(3):
            terms = [(_rows(classes[ci], t)[r], a[ci, ti]) for ci in members if _rows(classes[ci], t)[r]]
            if terms:
                m.add(sum(k * v for k, v in terms) <= caps[r] * n[ti])
        for r in range(3):
            big = [a[ci, ti] for ci in members if _big(classes[ci], t)[r]]
            if big:
                m.add(sum(big) <= n[ti])
    m.minimize(sum(round(types[ti].hourly * PRICE_SCALE) * n[ti] for ti in used))
    # FFD-like hint would need a packing; the model is small enough that CP-SAT finds one quickly.
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    solver.parameters.relative_gap_limit = relative_gap
    status = solver.solve(m)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Stage1({}, {}, 0.0, name)
    counts = {ti: int(solver.value(v)) for ti, v in n.items() if solver.value(v)}
    assign = {k: int(solver.value(v)) for k, v in a.items() if solver.value(v)}
    # The objective is over prices rounded to 1e-5 $/h; subtract the largest rounding error possible.
    slack = 0.5 / PRICE_SCALE * sum(counts.values())
    bound = max(0.0, solver.best_objective_bound / PRICE_SCALE - slack)
    if status == cp_model.OPTIMAL and relative_gap == 0:
        bound = max(bound, sum(types[ti].hourly * k for ti, k in counts.items()) - slack)
    return Stage1(counts, assign, bound, name)


def lp_bound(classes: list[PodClass], types: list[NodeType]) -> float:
    """The LP relaxation of stage 1 (GLOP, < 1 s at 10 k pods): a bound that stays valid when CP-SAT
    stops early."""
    lp = pywraplp.Solver.CreateSolver("GLOP")
    used = _used_types(classes)
    a = {(ci, ti): lp.NumVar(0, c.count, "") for ci, c in enumerate(classes) for ti in c.candidates}
    n = {ti: lp.NumVar(0, lp.infinity(), "") for ti in used}
    for ci, c in enumerate(classes):
        lp.Add(sum(a[ci, ti] for ti in c.candidates) == c.count)
        if c.spec.spot_ok and c.spot_cap < c.count:
            spot = [a[ci, ti] for ti in c.candidates if types[ti].market == SPOT]
            if spot:
                lp.Add(sum(spot) <= c.spot_cap)
    for ti in used:
        t = types[ti]
        members = [ci for ci, c in enumerate(classes) if ti in c.candidates]
        caps = _caps(t)
        for r in range(3):
            terms = [(_rows(classes[ci], t)[r], a[ci, ti]) for ci in members if _rows(classes[ci], t)[r]]
            if terms:
                lp.Add(sum(k * v for k, v in terms) <= caps[r] * n[ti])
            big = [a[ci, ti] for ci in members if _big(classes[ci], t)[r]]
            if big:
                lp.Add(sum(big) <= n[ti])
    lp.Minimize(sum(types[ti].hourly * n[ti] for ti in used))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return 0.0
    return max(0.0, lp.Objective().Value() * (1 - 1e-9))

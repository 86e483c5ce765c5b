"""Stage 1 (docs/solver.md, Method): how many nodes of each (type, market), and how many pods of each class go
to each, with aggregate capacity rows. Ignoring per-node fragmentation makes its optimum a lower bound
of the real packing. Valid cuts tighten it:

- dual-feasible-function rows (Fekete & Schepers): with ``u_k(x) = floor((k+1)x)/k`` applied to each
  pod's share x of a node resource, ``Σ u_k(x_c)·a_c ≤ N`` holds for any real packing. k = 1 is the
  "two pods over half a node never share one" cut; k = 2, 3 catch thirds and quarters (four 16-core
  pods do not fit a 64-vCPU node once the kubelet reserve is taken);
- the same rows with one GPU as the bin, on nodes of several GPUs (GPU sharing and MIG happen per GPU);
- on a tainted one-GPU node, a whole-GPU pod leaves the node to itself, so shared/MIG pods must fit
  in the other nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from optimizer.solver.bins import maximal_mig_layouts
from optimizer.solver.classes import GPU_UNITS, PodClass
from optimizer.solver.model import SPOT, NodeType

PRICE_SCALE = 100_000  # CP-SAT needs integers: prices in 1e-5 $/h


def run_cp_sat(m: cp_model.CpModel, *, time_limit_s: float, num_workers: int, seed: int,
               relative_gap: float | None = None) -> tuple[cp_model.CpSolver, int, str]:
    """Solve ``m`` under the limits every CP-SAT call here uses; same seed and one worker, same answer."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = seed
    if relative_gap is not None:
        solver.parameters.relative_gap_limit = relative_gap
    status = solver.solve(m)
    return solver, status, solver.status_name(status)
DFF_K = (1, 2, 3)


@dataclass
class Stage1:
    counts: dict[int, int]  # type index -> nodes
    assign: dict[tuple[int, int], int]  # (class index, type index) -> pods
    bound: float  # $/h, valid for the candidate lists given
    status: str


GPU_ROWS = (2, 3)  # indices of the GPU dimensions in _need/_caps (compute, memory)


def _need(c: PodClass, t: NodeType) -> tuple[int, int, int, int, int]:
    return (c.spec.cpu_m, c.spec.mem_mib, *c.gpu_units_on(t), 1)


def _caps(t: NodeType) -> tuple[int, int, int, int, int]:
    # a type without a pod limit gets no pod row (a cap of 0 adds none)
    return t.cpu_m, t.mem_mib, t.gpus * GPU_UNITS, t.gpus * GPU_UNITS, t.max_pods or 0


@dataclass
class Row:
    """``Σ coef[ci]·a[ci,t] ≤ rhs·N[t] − Σ minus[ci]·rhs·a[ci,t]`` (all integers)."""

    coef: dict[int, int]
    rhs: int
    minus: tuple[int, ...] = ()
    plain: bool = False  # a plain capacity row (the one a derating scales)


def type_rows(classes: list[PodClass], members: list[int], t: NodeType) -> list[Row]:
    rows: list[Row] = []
    caps = _caps(t)
    for r in range(len(caps)):
        cap = caps[r]
        needs = {ci: _need(classes[ci], t)[r] for ci in members}
        needs = {ci: v for ci, v in needs.items() if v}
        if not needs or not cap:
            continue
        rows.append(Row(dict(needs), cap, plain=True))
        for k in DFF_K:
            coef = {ci: _dff(v, cap, k) for ci, v in needs.items()}
            if any(coef[ci] != k * v for ci, v in needs.items()):  # only where it says more than the plain row
                rows.append(Row({ci: x for ci, x in coef.items() if x}, k * cap))
        if r in GPU_ROWS and t.gpus > 1:
            rows.extend(_per_gpu_rows(classes, needs, t))
    for ci in members:
        # a class on a type needs at least count / (pods per node) nodes of it: links a to N in the LP
        k = min(classes[ci].count, max(1, classes[ci].fit_count(t)))
        rows.append(Row({ci: 1}, k))
    if t.gpu_pods_only and t.gpus == 1:
        whole = tuple(ci for ci in members if classes[ci].spec.gpus)
        parts = [ci for ci in members if not classes[ci].spec.gpus]
        if whole and parts:
            for r in range(len(caps)):
                coef = {ci: _need(classes[ci], t)[r] for ci in parts}
                if any(coef.values()) and caps[r]:
                    rows.append(Row(coef, caps[r], whole))
    return [r for r in rows if r.coef]


def _dff(size: int, cap: int, k: int) -> int:
    """k·u_k(x)·cap for an item of ``size`` in a bin of ``cap`` (x = size / cap), in integers:
    cap·floor((k+1)x) unless (k+1)x is integral, where u_k(x) = x."""
    q, rem = divmod((k + 1) * size, cap)
    return cap * q if rem else k * size


def _per_gpu_rows(classes: list[PodClass], needs: dict[int, int], t: NodeType) -> list[Row]:
    """Dual-feasible-function rows with one GPU as the bin: each GPU holds a whole-GPU pod, or shares
    summing to at most one GPU, or one MIG layout, so ``Σ u_k(x) ≤ 1`` per GPU and ``≤ GPUs`` per
    node, with x a pod's share of one GPU (a pod of g whole GPUs counts g items of size 1). Three
    2g.20gb slices (2/7 of a GPU's compute each) fill a GPU: the node rows would allow 3.5."""
    rows = []
    for k in DFF_K:
        coef = {}
        for ci, v in needs.items():
            n = classes[ci].spec.gpus or 1
            coef[ci] = n * _dff(v // n, GPU_UNITS, k)
        if any(coef[ci] != k * v for ci, v in needs.items()):
            rows.append(Row({ci: x for ci, x in coef.items() if x}, k * GPU_UNITS * t.gpus))
    return rows


@dataclass
class MigRows:
    """Whole GPUs, not slice sums, for MIG on one type: ``w[L]`` GPUs laid out as maximal layout L
    cover each profile's pods, and those GPUs plus the whole-GPU and shared ones fit the node's GPUs.
    Valid because every GPU is given whole, shared, or split by one layout contained in a maximal one;
    unlike slice sums it sees that 2g.20gb slices fill GPUs three at a time."""

    layouts: list[tuple[int, ...]]
    by_profile: list[list[int]]  # per profile: member classes of that profile
    other_units: dict[int, int]  # whole-GPU and shared classes: GPU units per pod


def mig_rows(classes: list[PodClass], members: list[int], t: NodeType) -> MigRows | None:
    names = sorted({classes[ci].spec.mig_profile for ci in members if classes[ci].spec.mig_profile})
    slices = tuple(t.mig_slice(p) for p in names)
    if not names or any(s is None for s in slices):
        return None
    by_profile = [[ci for ci in members if classes[ci].spec.mig_profile == p] for p in names]
    other = {ci: classes[ci].gpu_units_on(t)[0] for ci in members
             if not classes[ci].spec.mig_profile and classes[ci].spec.uses_gpu}
    return MigRows(maximal_mig_layouts(slices), by_profile, other)


def add_mig_rows(rows: MigRows, a: dict, n, ti: int, gpus: int, new_var, add) -> None:
    """Add ``rows`` to a model through ``new_var(ub)`` and ``add(constraint)`` (CP-SAT or the LP)."""
    ub = gpus * max(1, sum(len(c) for c in rows.by_profile)) * 10**4
    w = [new_var(ub) for _ in rows.layouts]
    for p, members in enumerate(rows.by_profile):
        add(sum(layout[p] * w[j] for j, layout in enumerate(rows.layouts) if layout[p])
            >= sum(a[ci, ti] for ci in members))
    add(GPU_UNITS * sum(w) + sum(u * a[ci, ti] for ci, u in rows.other_units.items()) <= GPU_UNITS * gpus * n)


def _used_types(classes: list[PodClass]) -> list[int]:
    return sorted({t for c in classes for t in c.candidates})


def _members(classes: list[PodClass], ti: int) -> list[int]:
    return [ci for ci, c in enumerate(classes) if ti in c.candidates]


def solve_stage1(classes: list[PodClass], types: list[NodeType], *, time_limit_s: float, num_workers: int,
                 seed: int, relative_gap: float, hint: dict[tuple[int, int], int] | None = None,
                 derate: dict[int, float] | None = None) -> Stage1:
    """``derate`` (type index -> factor < 1) shrinks a type's plain capacity rows: a heuristic second pass
    that steers away from types whose packing needed more nodes than the rows said. A derated model's
    optimum is no lower bound, so callers take the bound from an underated solve."""
    derate = derate or {}
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
        members = _members(classes, ti)
        ub = sum(-(-classes[ci].count // max(1, classes[ci].fit_count(t))) for ci in members)
        n[ti] = m.new_int_var(0, ub, f"n{ti}")
        for row in type_rows(classes, members, t):
            rhs = int(row.rhs * derate[ti]) if row.plain and ti in derate else row.rhs
            m.add(sum(k * a[ci, ti] for ci, k in row.coef.items())
                  <= rhs * n[ti] - sum(row.rhs * a[ci, ti] for ci in row.minus))
        mig = mig_rows(classes, members, t)
        if mig:
            add_mig_rows(mig, a, n[ti], ti, t.gpus, lambda ub: m.new_int_var(0, ub, ""), m.add)
    m.minimize(sum(round(types[ti].hourly * PRICE_SCALE) * n[ti] for ti in used))
    if hint:
        # the rounded LP (or a previous pass): CP-SAT starts from it instead of from scratch
        hint_counts = counts_for(classes, types, hint)
        for key, v in a.items():
            m.add_hint(v, hint.get(key, 0))
        for ti, v in n.items():
            m.add_hint(v, hint_counts.get(ti, 0))
    solver, status, name = run_cp_sat(m, time_limit_s=time_limit_s, num_workers=num_workers, seed=seed,
                                      relative_gap=relative_gap)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if hint:
            return Stage1(counts_for(classes, types, hint), dict(hint), 0.0, f"{name}+LP-ROUNDED")
        return Stage1({}, {}, 0.0, name)
    counts = {ti: int(solver.value(v)) for ti, v in n.items() if solver.value(v)}
    assign = {k: int(solver.value(v)) for k, v in a.items() if solver.value(v)}
    # The objective is over prices rounded to 1e-5 $/h; subtract the largest rounding error possible.
    slack = 0.5 / PRICE_SCALE * sum(counts.values())
    bound = max(0.0, solver.best_objective_bound / PRICE_SCALE - slack)
    return Stage1(counts, assign, bound, name)


def lp_bound(classes: list[PodClass], types: list[NodeType]) -> float:
    return lp_relaxation(classes, types)[0]


def lp_relaxation(classes: list[PodClass], types: list[NodeType]
                  ) -> tuple[float, dict[tuple[int, int], int] | None]:
    """The LP relaxation of stage 1 (GLOP, about a second at 10 k pods): a bound that stays valid when
    CP-SAT stops early, and its rounding (largest remainders per class) as a feasible stage-1 hint."""
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
        members = _members(classes, ti)
        for row in type_rows(classes, members, types[ti]):
            lp.Add(sum(k * a[ci, ti] for ci, k in row.coef.items())
                   <= row.rhs * n[ti] - sum(row.rhs * a[ci, ti] for ci in row.minus))
        mig = mig_rows(classes, members, types[ti])
        if mig:
            add_mig_rows(mig, a, n[ti], ti, types[ti].gpus, lambda ub: lp.NumVar(0, ub, ""), lp.Add)
    lp.Minimize(sum(types[ti].hourly * n[ti] for ti in used))
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return 0.0, None
    bound = max(0.0, lp.Objective().Value() * (1 - 1e-9))
    hint: dict[tuple[int, int], int] = {}
    for ci, c in enumerate(classes):
        vals = {ti: a[ci, ti].solution_value() for ti in c.candidates}
        floor = {ti: int(v + 1e-7) for ti, v in vals.items()}
        left = c.count - sum(floor.values())
        for ti in sorted(vals, key=lambda ti: -(vals[ti] - floor[ti])):
            if left <= 0:
                break
            floor[ti] += 1
            left -= 1
        spot_used = sum(k for ti, k in floor.items() if types[ti].market == SPOT)
        if spot_used > c.spot_cap:  # rounding broke the cap: move the excess to an on-demand type
            od = [ti for ti in c.candidates if types[ti].market != SPOT]
            if not od:
                return bound, None
            for ti in [ti for ti in floor if types[ti].market == SPOT]:
                move = min(floor[ti], spot_used - c.spot_cap)
                floor[ti] -= move
                floor[od[0]] = floor.get(od[0], 0) + move
                spot_used -= move
        hint.update({(ci, ti): k for ti, k in floor.items() if k})
    return bound, hint


def counts_for(classes: list[PodClass], types: list[NodeType], assign: dict[tuple[int, int], int]) -> dict[int, int]:
    """Fewest nodes per type that every stage-1 row allows for this assignment."""
    per_type: dict[int, dict[int, int]] = {}
    for (ci, ti), k in assign.items():
        per_type.setdefault(ti, {})[ci] = k
    out = {}
    for ti, amounts in per_type.items():
        n = 0
        for row in type_rows(classes, list(amounts), types[ti]):
            lhs = sum(k * amounts[ci] for ci, k in row.coef.items()) + sum(row.rhs * amounts[ci] for ci in row.minus)
            n = max(n, -(-lhs // row.rhs))
        out[ti] = max(n, 1 if amounts else 0)
    return out

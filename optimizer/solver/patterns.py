"""Pattern (configuration) model for pods without GPUs on nodes without GPUs (docs/solver.md, Method).

With GPU nodes tainted, pods without GPUs can only use nodes without GPUs, so they form a problem of
their own: two-dimensional (CPU, memory) packing over many node types. Aggregate capacity rows bound it
weakly there (CPU and memory may each fill 13 nodes while the pods together need 14), so this part is
solved on node *patterns*: a pattern is how many pods of each shape (CPU, memory) one node of a type
holds.

- **Master LP**: nodes per (type, pattern) ``x ≥ 0`` and pods per (class, market) ``y ≥ 0``; each
  (shape, market) covered by its patterns, each class's pods split over its markets, spot caps.
- **Column generation**: the LP's duals value each shape; the most valuable pattern per node type
  (pricing.py) enters while it is worth more than the node costs.
- **Bound**: with ``θ`` the largest ratio of a pattern's dual value to its node's price (exact
  pricing), ``LP / max(1, θ)`` is a valid lower bound (Farley): the duals scaled by ``1/θ`` are
  feasible for the LP over every pattern, which relaxes every real packing.
- **Integer master**: CP-SAT picks integer node counts over the generated patterns; pods are then
  dealt to the nodes and each node is checked with ``NodeBin.place``.

A shape is (CPU, memory, architectures the pods run on): a pattern of a node type holds only shapes
whose pods may run on its architecture (pricing sees the other shapes' duals as 0), and at most the
type's pod slots (pricing.py: the table's pattern, or CP-SAT with a count limit where that pattern
has more pods).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from optimizer.solver.bins import NodeBin
from optimizer.solver.classes import PodClass
from optimizer.solver.model import SPOT, NodeType
from optimizer.solver.pricing import KnapsackTable, best_pattern_cp_sat
from optimizer.solver.stage1 import PRICE_SCALE, run_cp_sat

REDUCED_COST_EPS = 1e-7
RC_KEEP = 0.05  # integer solves use patterns whose reduced cost is at most this share of their node's price


@dataclass
class PatternResult:
    bins: list[NodeBin] | None  # None when no integer answer was found in time
    bound: float  # $/h, valid for the classes given
    lp_value: float
    patterns: int
    iterations: int
    status: str


def gpu_free_component(classes: list[PodClass], types: list[NodeType]) -> list[int]:
    """Indices of the classes without GPU demand, if they and their candidate types form a problem of
    their own: no GPU type among their candidates and no GPU class sharing one. Else []."""
    cpu = [ci for ci, c in enumerate(classes) if not c.spec.uses_gpu]
    if not cpu:
        return []
    their_types = {ti for ci in cpu for ti in classes[ci].candidates}
    if any(types[ti].gpus for ti in their_types):
        return []
    if any(ti in their_types for c in classes if c.spec.uses_gpu for ti in c.candidates):
        return []
    return cpu


def _arch_key(c: PodClass) -> str:
    """The architectures a class runs on, as part of its shape: "" for any."""
    return ",".join(sorted(c.spec.archs)) if c.spec.archs is not None else ""


def _admits(shape: tuple[int, int, str], t: NodeType) -> bool:
    return not shape[2] or (t.arch is not None and t.arch in shape[2].split(","))


class _Master:
    """The master LP, grown column by column (GLOP)."""

    def __init__(self, classes: list[PodClass], types: list[NodeType], shapes: list[tuple[int, int, str]],
                 shape_of: list[int]):
        self.lp = pywraplp.Solver.CreateSolver("GLOP")
        self.types = types
        self.cover: dict[tuple[int, str], pywraplp.Constraint] = {}
        self.y: dict[tuple[int, str], pywraplp.Variable] = {}
        self.cols: list[tuple[int, tuple[int, ...]]] = []  # (type index, count per shape)
        self.x: list[pywraplp.Variable] = []
        self.seen: set[tuple[int, tuple[int, ...]]] = set()
        objective = self.lp.Objective()
        objective.SetMinimization()
        for ci, c in enumerate(classes):
            markets = sorted({types[ti].market for ti in c.candidates})
            demand = self.lp.Constraint(c.count, c.count)
            for mk in markets:
                ub = c.spot_cap if mk == SPOT else c.count
                v = self.y[ci, mk] = self.lp.NumVar(0, ub, "")
                demand.SetCoefficient(v, 1)
                row = self.cover.get((shape_of[ci], mk))
                if row is None:
                    row = self.cover[shape_of[ci], mk] = self.lp.Constraint(0, self.lp.infinity())
                row.SetCoefficient(v, -1)
        self.shapes = shapes

    def add(self, ti: int, counts: tuple[int, ...]) -> bool:
        key = (ti, counts)
        if key in self.seen or not any(counts):
            return False
        self.seen.add(key)
        v = self.lp.NumVar(0, self.lp.infinity(), "")
        self.lp.Objective().SetCoefficient(v, self.types[ti].hourly)
        mk = self.types[ti].market
        for s, q in enumerate(counts):
            if q and (s, mk) in self.cover:
                self.cover[s, mk].SetCoefficient(v, q)
        self.cols.append(key)
        self.x.append(v)
        return True

    def solve(self) -> float | None:
        if self.lp.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        # read now: adding a column invalidates the solver's solution
        self.x_values = [v.solution_value() for v in self.x]
        self.y_values = {k: v.solution_value() for k, v in self.y.items()}
        self.dual_values = {k: max(0.0, r.dual_value()) for k, r in self.cover.items()}
        return self.lp.Objective().Value()

    def duals(self, market: str) -> list[float]:
        return [self.dual_values.get((s, market), 0.0) for s in range(len(self.shapes))]


def solve_patterns(classes: list[PodClass], types: list[NodeType], *, time_limit_s: float, num_workers: int,
                   seed: int, start: list[NodeBin] | None = None, max_iterations: int = 400) -> PatternResult:
    """Pack ``classes`` (no GPU demand) onto their candidate ``types`` (no GPUs) by the pattern model.
    ``start``: a known packing whose node patterns seed the master."""
    deadline = time.perf_counter() + time_limit_s
    used = sorted({ti for c in classes for ti in c.candidates})
    shapes = sorted({(c.spec.cpu_m, c.spec.mem_mib, _arch_key(c)) for c in classes})
    index = {s: i for i, s in enumerate(shapes)}
    shape_of = [index[c.spec.cpu_m, c.spec.mem_mib, _arch_key(c)] for c in classes]
    master = _Master(classes, types, shapes, shape_of)
    for ti in used:  # one single-shape pattern per (type, shape): the LP is feasible from the start
        t = types[ti]
        for s, (sc, sm, _) in enumerate(shapes):
            k = min(t.cpu_m // sc if sc else 10**6, t.mem_mib // sm if sm else 10**6,
                    t.max_pods if t.max_pods is not None else 10**6)
            if k > 0 and _admits(shapes[s], t):
                master.add(ti, tuple(k if j == s else 0 for j in range(len(shapes))))
    for ti, counts in _patterns_of(start or [], types, used, index, classes):
        master.add(ti, counts)
    pricer = _Pricer(master, types, used, shapes, seed)
    lp_value, bound, iterations, status = pricer.generate(deadline, max_iterations)
    if lp_value is None:
        return PatternResult(None, 0.0, 0.0, len(master.cols), iterations, "LP-INFEASIBLE")
    floors = {j: math.floor(v + 1e-6) for j, v in enumerate(master.x_values) if v >= 1 - 1e-6}
    # patterns within a few percent of paying for themselves at the LP optimum: the integer solves
    # choose among these (fewer variables, the ones an optimum is made of)
    keep = set(_near_optimal_columns(master, RC_KEEP))
    fixed = _dive(master, pricer, deadline)
    bins = None
    if fixed is not None:
        # first the residual: keep the LP's whole nodes, choose the rest (small, so CP-SAT does well
        # in little time); then every count free, from the best answer so far
        keep |= set(fixed) | set(range(len(master.cols) - pricer.added_in_dive, len(master.cols)))
        common = (master, classes, types, shapes, shape_of, keep)
        left = max(0.2, deadline - time.perf_counter())
        answer = _integer_master(*common, fixed, floors, bound, 0.4 * left, num_workers, seed)
        best = answer[0] if answer else fixed
        left = max(0.2, deadline - time.perf_counter())
        answer = _integer_master(*common, best, {}, bound, left, num_workers, seed) or answer
        bins = _deal(master, classes, types, shape_of, answer)
    return PatternResult(bins, bound, lp_value, len(master.cols), iterations, status)


class _Pricer:
    """Column generation: price every node type against the master's duals, add improving patterns."""

    def __init__(self, master: _Master, types: list[NodeType], used: list[int], shapes, seed: int):
        self.master, self.types, self.used, self.seed = master, types, used, seed
        self.added_in_dive = 0
        self.cpu = [s[0] for s in shapes]
        self.mem = [s[1] for s in shapes]
        # node types that admit the same shapes share one knapsack table per market
        self.admits = {ti: tuple(_admits(sh, types[ti]) for sh in shapes) for ti in used}
        self.table = KnapsackTable(self.cpu, self.mem, max(types[ti].cpu_m for ti in used),
                                   max(types[ti].mem_mib for ti in used))

    def price(self, deadline: float) -> tuple[float, int]:
        """Add the best pattern of every type whose pattern is worth more than its node; return the
        largest value-to-price ratio (an upper bound where pricing is by CP-SAT) and columns added."""
        table = self.table
        priced: list[list] = []  # [type index, best value, pattern, duals] in the fixed order of the types
        for mk, admits in sorted({(self.types[ti].market, self.admits[ti]) for ti in self.used}):
            # shapes this type may not hold are worth nothing to it, so no pattern of it contains them
            duals = [d if ok else 0.0 for d, ok in zip(self.master.duals(mk), admits, strict=True)]
            if table.usable:
                table.fill(duals)
            for ti in self.used:
                t = self.types[ti]
                if t.market != mk or self.admits[ti] != admits:
                    continue
                best, pattern = 0.0, None
                if table.usable:
                    best, pattern = table.best(t.cpu_m, t.mem_mib)
                    if t.max_pods is not None and sum(pattern.values()) > t.max_pods:
                        pattern = None  # more pods than the node's slots: solve this type with the limit
                priced.append([ti, best, pattern, duals])
        # The types the table cannot answer are knapsacks of their own under the same duals, independent
        # of each other: CP-SAT solves them on every core (it releases the GIL; one worker and a fixed
        # seed each, so the answers do not depend on the thread count).
        todo = [p for p in priced if p[2] is None]

        def solve(p):
            t = self.types[p[0]]
            left = max(0.05, deadline - time.perf_counter())
            return best_pattern_cp_sat(self.cpu, self.mem, p[3], t.cpu_m, t.mem_mib, time_limit_s=min(1.0, left),
                                       seed=self.seed, max_items=t.max_pods)

        if len(todo) > 1:
            with ThreadPoolExecutor(min(len(todo), os.cpu_count() or 1)) as pool:
                answers = list(pool.map(solve, todo))
        else:
            answers = [solve(p) for p in todo]
        for p, (best, pattern) in zip(todo, answers, strict=True):
            p[1], p[2] = best, pattern
        theta, added = 1.0, 0
        for ti, best, pattern, _ in priced:
            t = self.types[ti]
            theta = max(theta, best / t.hourly)
            if best > t.hourly * (1 + REDUCED_COST_EPS) and pattern:
                added += self.master.add(ti, tuple(pattern.get(s, 0) for s in range(len(self.cpu))))
        return theta, added

    def generate(self, deadline: float, max_iterations: int) -> tuple[float | None, float, int, str]:
        """Column generation to convergence (or the deadline): LP value, Farley bound, iterations, status."""
        lp_value, bound, iterations = None, 0.0, 0
        while iterations < max_iterations:
            iterations += 1
            value = self.master.solve()
            if value is None:
                return None, 0.0, iterations, "LP-INFEASIBLE"
            lp_value = value
            theta, added = self.price(deadline)
            # Farley bound, with a margin for the LP's floating-point tolerances
            bound = max(bound, lp_value / theta * (1 - 1e-7))
            if not added:
                return lp_value, bound, iterations, "CONVERGED" if theta <= 1 + REDUCED_COST_EPS else "STALLED"
            if time.perf_counter() >= deadline:
                return lp_value, bound, iterations, "TIME-LIMIT"
        return lp_value, bound, iterations, "ITERATION-LIMIT"


def _dive(master: _Master, pricer: _Pricer, deadline: float) -> dict[int, int] | None:
    """Integer node counts by diving: fix the integer part of the LP's node counts (or, when none is
    whole, one node of the largest), count the pods those nodes cover as supply, re-solve the LP on
    what is left with a few more pricing rounds, until nothing is left."""
    fixed: dict[int, int] = {}
    supply: dict[tuple[int, str], int] = {}
    try:
        while True:
            if master.solve() is None:
                return None
            xs = master.x_values
            if max(xs, default=0.0) < 1e-6:
                return fixed
            step = {j: math.floor(v + 1e-6) for j, v in enumerate(xs) if v >= 1 - 1e-6}
            if not step:
                j = max(range(len(xs)), key=lambda j: (xs[j], -j))
                step = {j: 1}
            for j, k in step.items():
                fixed[j] = fixed.get(j, 0) + k
                ti, counts = master.cols[j]
                mk = master.types[ti].market
                for s, q in enumerate(counts):
                    if q and (s, mk) in master.cover:
                        supply[s, mk] = supply.get((s, mk), 0) + q * k
            for key, row in master.cover.items():
                row.SetLb(-supply.get(key, 0))
            if time.perf_counter() < deadline:
                for _ in range(3):
                    if master.solve() is None:
                        return None
                    _, added = pricer.price(deadline)
                    pricer.added_in_dive += added
                    if not added:
                        break
    finally:
        for row in master.cover.values():
            row.SetLb(0)


def _patterns_of(bins: list[NodeBin], types: list[NodeType], used: list[int], index: dict,
                 classes: list[PodClass]) -> list[tuple[int, tuple[int, ...]]]:
    spec_shape = {n: index[c.spec.cpu_m, c.spec.mem_mib, _arch_key(c)] for c in classes for n in c.names}
    type_index = {types[ti].key: ti for ti in used}
    out = []
    for b in bins:
        ti = type_index.get(b.node_type.key)
        if ti is None or not all(p in spec_shape for p in b.pods):
            continue
        counts = [0] * len(index)
        for p in b.pods:
            counts[spec_shape[p]] += 1
        out.append((ti, tuple(counts)))
    return out


def _near_optimal_columns(master: _Master, share: float) -> list[int]:
    out = []
    for j, (ti, counts) in enumerate(master.cols):
        t = master.types[ti]
        value = sum(q * master.dual_values.get((s, t.market), 0.0) for s, q in enumerate(counts))
        if t.hourly - value <= share * t.hourly:
            out.append(j)
    return out


def _integer_master(master: _Master, classes, types, shapes, shape_of, keep: set[int], hint: dict[int, int],
                    lower: dict[int, int],
                    bound: float, time_limit_s: float, num_workers: int, seed: int
                    ) -> tuple[dict[int, int], dict[tuple[int, str], int]] | None:
    """CP-SAT over every generated pattern with at least ``lower`` nodes per pattern, started from
    ``hint`` (a feasible answer); returns node counts per column and pods per (class, market)."""
    m = cp_model.CpModel()
    demand_of_shape = [0] * len(shapes)
    for ci, c in enumerate(classes):
        demand_of_shape[shape_of[ci]] += c.count
    x = []
    for j, (_ti, counts) in enumerate(master.cols):
        ub = max(math.ceil(demand_of_shape[s] / q) for s, q in enumerate(counts) if q) if j in keep else 0
        x.append(m.new_int_var(0, max(ub, lower.get(j, 0), hint.get(j, 0)), ""))
    for j, k in lower.items():
        m.add(x[j] >= k)
    y = {}
    for (ci, mk), v in master.y.items():
        y[ci, mk] = m.new_int_var(0, int(round(v.ub())), "")
    for ci, c in enumerate(classes):
        m.add(sum(y[ci, mk] for mk in ("on-demand", SPOT) if (ci, mk) in y) == c.count)
    for (s, mk) in master.cover:
        m.add(sum(counts[s] * x[j] for j, (ti, counts) in enumerate(master.cols) if types[ti].market == mk
                  and counts[s]) >= sum(y[ci, mk2] for (ci, mk2) in y if mk2 == mk and shape_of[ci] == s))
    cost = sum(round(types[ti].hourly * PRICE_SCALE) * x[j] for j, (ti, _) in enumerate(master.cols))
    m.minimize(cost)
    # the valid bound as a constraint: CP-SAT's own bound starts there, so its gap limit can stop it
    m.add(cost >= math.floor(bound * PRICE_SCALE * (1 - 1e-6)))
    for j in range(len(x)):
        m.add_hint(x[j], hint.get(j, 0))
    for key, v in master.y_values.items():
        m.add_hint(y[key], int(round(v)))
    solver, status, _ = run_cp_sat(m, time_limit_s=time_limit_s, num_workers=num_workers, seed=seed,
                                   relative_gap=0.001)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return ({j: int(solver.value(v)) for j, v in enumerate(x) if solver.value(v)},
            {k: int(solver.value(v)) for k, v in y.items()})


def _deal(master: _Master, classes, types, shape_of, answer) -> list[NodeBin] | None:
    """Pods dealt to the chosen nodes: per (shape, market) in class order, each node checked by place."""
    if answer is None:
        return None
    counts_x, counts_y = answer
    queues: dict[tuple[int, str], list[tuple[PodClass, str]]] = {}
    taken = [0] * len(classes)
    for (ci, mk), k in sorted(counts_y.items()):
        c = classes[ci]
        queues.setdefault((shape_of[ci], mk), []).extend((c, n) for n in c.names[taken[ci]: taken[ci] + k])
        taken[ci] += k
    bins: list[NodeBin] = []
    for j, k in sorted(counts_x.items()):
        ti, counts = master.cols[j]
        t = types[ti]
        for _ in range(k):
            b = NodeBin(t)
            for s, q in enumerate(counts):
                queue = queues.get((s, t.market), [])
                for _ in range(min(q, len(queue))):
                    c, name = queue.pop()
                    if not b.place(c.spec, name):
                        return None
            if b.pods:
                bins.append(b)
    if any(queues.values()):
        return None
    return bins

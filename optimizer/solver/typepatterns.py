"""Exact pattern packing of one node type's pods where node patterns are few (stage 2, docs/solver.md).

Small nodes hold few pods: a one-GPU node with 4 vCPUs holds a whole-GPU pod or a few time-sliced
shares. Then every maximal pattern (pods per class that one node holds, no further pod fitting) can be
listed, each checked with ``NodeBin.place``, and CP-SAT picks how many nodes of each pattern cover every
class at the fewest nodes: the optimum for that type when the model is solved, where first-fit and
per-node models leave a few nodes too many.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from optimizer.solver.bins import NodeBin
from optimizer.solver.classes import PodClass
from optimizer.solver.model import NodeType
from optimizer.solver.stage1 import run_cp_sat

MAX_PATTERNS = 5000



def maximal_patterns(classes: list[PodClass], t: NodeType, limit: int = MAX_PATTERNS) -> list[tuple[int, ...]] | None:
    """Every maximal pattern (count per class, placed in class order), or None past ``limit``."""
    found: list[tuple[int, ...]] = []
    counts = [0] * len(classes)
    visits = [0]

    def extend(b: NodeBin, start: int) -> bool:
        visits[0] += 1
        if visits[0] > 10 * limit:
            return False
        grew = False
        for i in range(len(classes)):
            if counts[i] >= classes[i].count:
                continue
            nxt = b.copy()
            if not nxt.place(classes[i].spec, "x"):
                continue
            grew = True
            if i >= start:
                counts[i] += 1
                ok = extend(nxt, i)
                counts[i] -= 1
                if not ok:
                    return False
        if not grew:
            found.append(tuple(counts))
        return len(found) <= limit

    if not extend(NodeBin(t), 0):
        return None
    return found


def pattern_pack(classes: list[PodClass], t: NodeType, *, time_limit_s: float, num_workers: int, seed: int
                 ) -> tuple[list[NodeBin] | None, bool]:
    """Fewest nodes of ``t`` for ``classes`` by the pattern model, and whether that count is proven
    the least; (None, False) if patterns are too many or no answer is found in time."""
    patterns = maximal_patterns(classes, t)
    if not patterns:
        return None, False
    m = cp_model.CpModel()
    total = sum(c.count for c in classes)
    x = [m.new_int_var(0, total, "") for _ in patterns]
    for ci, c in enumerate(classes):
        m.add(sum(p[ci] * x[j] for j, p in enumerate(patterns) if p[ci]) >= c.count)
    m.minimize(sum(x))
    solver, status, _ = run_cp_sat(m, time_limit_s=time_limit_s, num_workers=num_workers, seed=seed)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    taken = [0] * len(classes)
    bins: list[NodeBin] = []
    for j, p in enumerate(patterns):
        for _ in range(int(solver.value(x[j]))):
            b = NodeBin(t)
            for ci, k in enumerate(p):
                c = classes[ci]
                for _ in range(min(k, c.count - taken[ci])):
                    if not b.place(c.spec, c.names[taken[ci]]):
                        return None, False
                    taken[ci] += 1
            if b.pods:
                bins.append(b)
    if taken != [c.count for c in classes]:
        return None, False
    return bins, status == cp_model.OPTIMAL

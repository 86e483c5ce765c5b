"""A per-node ("slot") CP-SAT model (docs/solver.md, Method), used where it is small: stage 2 for one node type
whose FFD packing misses the stage-1 count, and the exact mode for small inputs. Always hinted with
the best packing known, slots of one type ordered to break symmetry."""

from __future__ import annotations

from ortools.sat.python import cp_model

from optimizer.solver.bins import NodeBin, type_allows
from optimizer.solver.classes import PodClass
from optimizer.solver.ffd import size_key
from optimizer.solver.model import GPU_MILLI, MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES, SPOT, NodeType
from optimizer.solver.stage1 import PRICE_SCALE, run_cp_sat


def solve_slots(classes: list[PodClass], slot_types: list[NodeType], *, hint: list[NodeBin] | None,
                time_limit_s: float, num_workers: int, seed: int, spot_caps: bool = True
                ) -> tuple[list[NodeBin] | None, str]:
    """Pack every pod of ``classes`` into at most one node per entry of ``slot_types`` at least cost.
    ``spot_caps=False`` when the caller already split the pods between markets (stage 2: a class's
    share on one spot type is not its whole count). Returns (nodes, status) — nodes None when no
    better-checked packing was found."""
    m = cp_model.CpModel()
    use = [m.new_bool_var(f"u{s}") for s in range(len(slot_types))]
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    per_gpu: dict[int, list[dict[int, cp_model.IntVar]]] = {}  # slot -> shared/MIG pods per GPU
    for s, t in enumerate(slot_types):
        if s and slot_types[s - 1] is t:
            m.add_implication(use[s], use[s - 1])
        members = [ci for ci, c in enumerate(classes) if type_allows(t, c.spec) and c.fit_count(t) > 0]
        for ci in members:
            y[ci, s] = m.new_int_var(0, min(classes[ci].count, classes[ci].fit_count(t)), f"y{ci}_{s}")
        if not members:
            m.add(use[s] == 0)
            continue
        m.add(sum(classes[ci].spec.cpu_m * y[ci, s] for ci in members) <= t.cpu_m * use[s])
        m.add(sum(classes[ci].spec.mem_mib * y[ci, s] for ci in members) <= t.mem_mib * use[s])
        if t.max_pods is not None:
            m.add(sum(y[ci, s] for ci in members) <= t.max_pods * use[s])
        whole = sum(classes[ci].spec.gpus * y[ci, s] for ci in members if classes[ci].spec.gpus)
        shared = [ci for ci in members if classes[ci].spec.gpu_milli]
        migs = [ci for ci in members if classes[ci].spec.mig_profile]
        busy = []
        if shared or migs:
            for _g in range(t.gpus):
                sh, mg = m.new_bool_var(""), m.new_bool_var("")
                m.add(sh + mg <= 1)
                zs = {ci: m.new_int_var(0, GPU_MILLI // classes[ci].spec.gpu_milli, "") for ci in shared}
                zm = {ci: m.new_int_var(0, t.mig_slice(classes[ci].spec.mig_profile).max_instances, "")
                      for ci in migs}
                if zs:
                    m.add(sum(classes[ci].spec.gpu_milli * v for ci, v in zs.items()) <= GPU_MILLI * sh)
                if zm:
                    sl = {ci: t.mig_slice(classes[ci].spec.mig_profile) for ci in zm}
                    m.add(sum(sl[ci].compute * v for ci, v in zm.items()) <= MIG_COMPUTE_SLICES * mg)
                    m.add(sum(sl[ci].mem_slots * v for ci, v in zm.items()) <= MIG_MEMORY_SLICES * mg)
                busy.append((sh, mg, {**zs, **zm}))
            for ci in shared + migs:
                m.add(sum(b[2][ci] for b in busy) == y[ci, s])
            per_gpu[s] = [b[2] for b in busy]
            for g in range(1, len(busy)):
                m.add(busy[g][0] + busy[g][1] <= busy[g - 1][0] + busy[g - 1][1])
            m.add(whole + sum(b[0] + b[1] for b in busy) <= t.gpus * use[s])
        elif t.gpus and not isinstance(whole, int):
            m.add(whole <= t.gpus * use[s])
    for ci, c in enumerate(classes):
        mine = [y[ci, s] for s in range(len(slot_types)) if (ci, s) in y]
        if not mine:
            return None, "INFEASIBLE"
        m.add(sum(mine) == c.count)
        if spot_caps and c.spot_cap < c.count:
            spot = [y[ci, s] for s in range(len(slot_types)) if (ci, s) in y and slot_types[s].market == SPOT]
            if spot:
                m.add(sum(spot) <= c.spot_cap)
    m.minimize(sum(round(t.hourly * PRICE_SCALE) * use[s] for s, t in enumerate(slot_types)))
    if hint:
        _add_hint(m, classes, slot_types, use, y, hint)
    solver, status, name = run_cp_sat(m, time_limit_s=time_limit_s, num_workers=num_workers, seed=seed)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, name
    return _decode(classes, slot_types, solver, use, y, per_gpu), name


def _add_hint(m, classes, slot_types, use, y, hint: list[NodeBin]) -> None:
    cls_of = {name: ci for ci, c in enumerate(classes) for name in c.names}
    free = list(range(len(slot_types)))
    for b in hint:
        s = next((s for s in free if slot_types[s] is b.node_type), None)
        if s is None:
            continue
        free.remove(s)
        m.add_hint(use[s], 1)
        counts: dict[int, int] = {}
        for p in b.pods:
            counts[cls_of[p]] = counts.get(cls_of[p], 0) + 1
        for ci in range(len(classes)):
            if (ci, s) in y:
                m.add_hint(y[ci, s], counts.get(ci, 0))
    for s in free:
        m.add_hint(use[s], 0)


def _decode(classes, slot_types, solver, use, y, per_gpu) -> list[NodeBin] | None:
    taken = [0] * len(classes)
    order = sorted(range(len(classes)), key=lambda i: size_key(classes[i]))
    bins = []
    for s, t in enumerate(slot_types):
        if not solver.value(use[s]):
            continue
        counts = {ci: solver.value(y[ci, s]) for ci in order if (ci, s) in y and solver.value(y[ci, s])}
        names = {ci: classes[ci].names[taken[ci]: taken[ci] + k] for ci, k in counts.items()}
        # the model counts slice sums per GPU; the exact MIG placement is checked here, first by
        # placing largest first, else on the GPUs the model chose
        b = _place_greedy(t, classes, names) or _place_as_modelled(t, classes, names, solver, per_gpu.get(s, []))
        if b is None:
            return None
        for ci, k in counts.items():
            taken[ci] += k
        if b.pods:
            bins.append(b)
    return bins


def _place_greedy(t: NodeType, classes, names: dict[int, list[str]]) -> NodeBin | None:
    b = NodeBin(t)
    for ci, group in names.items():
        for name in group:
            if not b.place(classes[ci].spec, name):
                return None
    return b


def _place_as_modelled(t: NodeType, classes, names: dict[int, list[str]], solver, gpus) -> NodeBin | None:
    b = NodeBin(t)
    parts = [ci for ci in names if classes[ci].spec.gpu_milli or classes[ci].spec.mig_profile]
    used = {ci: 0 for ci in parts}
    for g, z in enumerate(gpus):  # shared and MIG pods on the GPUs the model gave them ...
        for ci in parts:
            if ci not in z:
                continue
            for _ in range(solver.value(z[ci])):
                if not b.place_on_gpu(classes[ci].spec, names[ci][used[ci]], g):
                    return None
                used[ci] += 1
    for ci, group in names.items():  # ... then whole-GPU pods take the GPUs left idle
        if ci not in parts:
            for name in group:
                if not b.place(classes[ci].spec, name):
                    return None
    return b

"""GPU-first packing of one node type's pods (stage 2, docs/solver.md): GPUs are laid out first, nodes
filled with them second.

On 8-GPU nodes that hold whole-GPU pods next to MIG slices, the GPUs are what runs out: the count is
tight when the MIG slices take the fewest GPUs possible, which first-fit rarely finds. So:

1. MIG slices get GPU layouts by a small CP-SAT model over the maximal layouts of their profiles
   (fewest GPUs that cover every profile's pods); time-sliced shares are grouped per GPU
   first-fit-decreasing;
2. each such GPU and each whole-GPU pod becomes an item (GPUs, CPU, memory), and items go into nodes
   first-fit-decreasing, then pods without GPUs into what is left.

Every placement goes through ``NodeBin`` (MIG slices on the GPU chosen for them).
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from optimizer.solver.bins import NodeBin, maximal_mig_layouts
from optimizer.solver.classes import PodClass
from optimizer.solver.model import GPU_MILLI, NodeType, PodSpec
from optimizer.solver.stage1 import run_cp_sat

Item = tuple[int, list[tuple[PodSpec, str]]]  # (whole GPUs, pods) — 0 GPUs: one GPU of shares/MIG


def gpu_first_pack(classes: list[PodClass], t: NodeType, *, time_limit_s: float = 1.0, seed: int = 0
                   ) -> list[NodeBin] | None:
    """Pack ``classes`` onto nodes of ``t``; None if the layout model fails or a pod does not fit."""
    if not t.gpus:
        return None
    items: list[Item] = []
    rest: list[tuple[PodSpec, str]] = []
    for c in classes:
        if c.spec.gpus:
            items.extend((c.spec.gpus, [(c.spec, n)]) for n in c.names)
        elif not c.spec.uses_gpu:
            rest.extend((c.spec, n) for n in c.names)
    migs = [c for c in classes if c.spec.mig_profile]
    if migs:
        gpus = _mig_gpus(migs, t, time_limit_s, seed)
        if gpus is None:
            return None
        items.extend((0, g) for g in gpus)
    items.extend((0, g) for g in _share_gpus([c for c in classes if c.spec.gpu_milli]))
    items.sort(key=lambda it: (-max(it[0], 1), -sum(p.cpu_m for p, _ in it[1]), -sum(p.mem_mib for p, _ in it[1])))
    # first fit, and "spread": as many nodes as GPUs, CPU or memory need at least, each item onto the
    # node with the most CPU left (heavy items do not pile up on the first nodes); the fewer nodes win
    best = None
    for spread in (False, True):
        bins = _place_items(items, rest, t, spread)
        if bins is not None and (best is None or len(bins) < len(best)):
            best = bins
    return best


def _place_items(items: list[Item], rest: list[tuple[PodSpec, str]], t: NodeType, spread: bool) -> list[NodeBin] | None:
    bins: list[NodeBin] = []
    if spread:
        pods = [p for _, group in items for p, _ in group] + [p for p, _ in rest]
        gpus = sum(max(w, 1) for w, _ in items)
        need = max(-(-gpus // t.gpus), -(-sum(p.cpu_m for p in pods) // max(1, t.cpu_m)),
                   -(-sum(p.mem_mib for p in pods) // max(1, t.mem_mib)))
        bins = [NodeBin(t) for _ in range(need)]
    for whole, pods in items:
        order = sorted(bins, key=lambda b: -b.cpu) if spread else bins
        for b in order:
            if _put(b, whole, pods):
                break
        else:
            b = NodeBin(t)
            if not _put(b, whole, pods):
                return None
            bins.append(b)
    for spec, name in sorted(rest, key=lambda x: (-x[0].cpu_m, -x[0].mem_mib)):
        if not any(b.place(spec, name) for b in bins):
            b = NodeBin(t)
            if not b.place(spec, name):
                return None
            bins.append(b)
    return [b for b in bins if b.pods]


def _put(b: NodeBin, whole: int, pods: list[tuple[PodSpec, str]]) -> bool:
    """Place one item on ``b`` if its CPU, memory and GPUs fit (nothing placed otherwise)."""
    if sum(p.cpu_m for p, _ in pods) > b.cpu or sum(p.mem_mib for p, _ in pods) > b.mem:
        return False
    if whole:
        return b.place(pods[0][0], pods[0][1])
    idle = next((i for i in range(len(b.whole)) if not b.whole[i] and not b.share[i] and not b.mig[i]), None)
    if idle is None:
        return False
    saved = (b.cpu, b.mem, list(b.share), list(b.mig), list(b.pods))
    for spec, name in pods:
        if not b.place_on_gpu(spec, name, idle):
            b.cpu, b.mem, b.share, b.mig, b.pods = saved[0], saved[1], saved[2], saved[3], saved[4]
            return False
    return True


def _mig_gpus(migs: list[PodClass], t: NodeType, time_limit_s: float, seed: int) -> list[list] | None:
    profiles = sorted({c.spec.mig_profile for c in migs})
    slices = tuple(t.mig_slice(p) for p in profiles)
    if any(s is None for s in slices):
        return None
    need = [sum(c.count for c in migs if c.spec.mig_profile == p) for p in profiles]
    layouts = maximal_mig_layouts(slices)
    m = cp_model.CpModel()
    w = [m.new_int_var(0, sum(need), "") for _ in layouts]
    for i, k in enumerate(need):
        m.add(sum(layout[i] * w[j] for j, layout in enumerate(layouts) if layout[i]) >= k)
    m.minimize(sum(w))
    solver, status, _ = run_cp_sat(m, time_limit_s=time_limit_s, num_workers=1, seed=seed)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    # pods of each profile, heaviest first, dealt over the GPUs that have room for that profile,
    # so CPU and memory spread across GPUs (and so across nodes)
    gpus = [(layout, []) for j, layout in enumerate(layouts) for _ in range(int(solver.value(w[j])))]
    for i, p in enumerate(profiles):
        pods = sorted(((c.spec, n) for c in migs if c.spec.mig_profile == p for n in c.names),
                      key=lambda x: (-x[0].cpu_m, -x[0].mem_mib, x[1]))
        slots = [g for g in gpus for _ in range(g[0][i])]
        for pod, slot in zip(pods, slots, strict=False):
            slot[1].append(pod)
    return [pods for _, pods in gpus if pods]


def _share_gpus(shares: list[PodClass]) -> list[list]:
    gpus: list[tuple[int, list]] = []
    pods = sorted(((c.spec, n) for c in shares for n in c.names), key=lambda x: (-x[0].gpu_milli, -x[0].cpu_m))
    for spec, name in pods:
        for i, (used, members) in enumerate(gpus):
            if used + spec.gpu_milli <= GPU_MILLI:
                members.append((spec, name))
                gpus[i] = (used + spec.gpu_milli, members)
                break
        else:
            gpus.append((spec.gpu_milli, [(spec, name)]))
    return [members for _, members in gpus]

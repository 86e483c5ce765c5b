"""First-fit-decreasing: the baseline every answer is compared with, and stage 2's first try.

Pods go largest first (GPU share, then CPU, then memory) into the first open node that takes them;
when none does, the cheapest node type that can hold the pod alone is opened. A per-class pointer
skips nodes the class already failed on (nodes only fill up), which keeps 10 k pods fast.
"""

from __future__ import annotations

from optimizer.solver.bins import NodeBin, type_allows
from optimizer.solver.classes import PodClass
from optimizer.solver.model import SPOT, NodeType

UNPLACEABLE = "larger than every allowed node type"


def size_key(c: PodClass):
    s = c.spec
    gpu = s.gpus * 1000 + s.gpu_milli + (500 if s.mig_profile else 0)
    return (-gpu, -s.cpu_m, -s.mem_mib, s.name)


def ffd_pack(classes: list[PodClass], types: list[NodeType], counts: dict[int, int] | None = None,
             bins: list[NodeBin] | None = None, spot_caps: bool = True) -> tuple[list[NodeBin], dict[str, str]]:
    """Pack the first ``counts[i]`` pods of ``classes[i]`` (all when ``counts`` is None) onto nodes of
    ``types``, continuing from ``bins`` if given. ``spot_caps=False`` when the caller already split
    pods between markets (stage 2). Returns the nodes and {pod: reason} for pods no type holds."""
    bins = [] if bins is None else bins
    unplaced: dict[str, str] = {}
    for ci in sorted(range(len(classes)), key=lambda i: size_key(classes[i])):
        c = classes[ci]
        n = c.count if counts is None else counts.get(ci, 0)
        if n <= 0:
            continue
        spec = c.spec
        allowed = sorted((t for t in types if type_allows(t, spec)), key=lambda t: (t.hourly, t.name))
        spot_left = c.spot_cap if spot_caps else c.count
        pointer = 0
        for name in c.names[:n]:
            where = None
            for i in range(pointer, len(bins)):
                b = bins[i]
                if (b.node_type.market != SPOT or spot_left > 0) and type_allows(b.node_type, spec) \
                        and b.place(spec, name):
                    where = i
                    break
            if where is None:
                for t in allowed:
                    if t.market == SPOT and spot_left <= 0:
                        continue
                    b = NodeBin(t)
                    if b.place(spec, name):
                        bins.append(b)
                        where = len(bins) - 1
                        break
            if where is None:
                unplaced[name] = UNPLACEABLE
                continue
            pointer = where
            if bins[where].node_type.market == SPOT:
                spot_left -= 1
    return bins, unplaced


def dot_product_pack(classes: list[PodClass], node_type: NodeType) -> list[NodeBin] | None:
    """Bin-centric packing for one node type: fill one node at a time, each step taking the pod class
    whose normalised demand best matches the node's remaining room (largest dot product). Complements
    FFD where pods differ in shape (CPU-heavy vs memory-heavy). None if some pod fits no empty node."""
    t = node_type
    caps = (max(1, t.cpu_m), max(1, t.mem_mib), max(1, t.gpus * 1000))
    left = [c.count for c in classes]
    need = [(c.spec.cpu_m / caps[0], c.spec.mem_mib / caps[1], c.gpu_milli_on(t) / caps[2]) for c in classes]
    taken = [0] * len(classes)
    bins: list[NodeBin] = []
    remaining = sum(left)
    while remaining:
        b = NodeBin(t)
        blocked = [False] * len(classes)
        while True:
            room = (b.cpu / caps[0], b.mem / caps[1], (t.gpus * 1000 - b.gpu_milli_used()) / caps[2])
            best, best_score = -1, -1.0
            for i, n in enumerate(left):
                if n and not blocked[i]:
                    d = need[i]
                    score = d[0] * room[0] + d[1] * room[1] + d[2] * room[2]
                    if score > best_score:
                        best, best_score = i, score
            if best < 0:
                break
            c = classes[best]
            if b.place(c.spec, c.names[taken[best]]):
                taken[best] += 1
                left[best] -= 1
                remaining -= 1
            else:
                blocked[best] = True
        if not b.pods:
            return None
        bins.append(b)
    return bins

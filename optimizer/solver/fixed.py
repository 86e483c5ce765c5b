"""Packing onto a fixed set of existing nodes, placing as much GPU demand as possible.

Used to check what an existing inventory can hold (and by benchmarks/openb_packing.py on Alibaba's
real cluster). Offline: every pod is known up front, so the packer fills one node at a time, nodes
with most GPUs first and, among those, the ones with least CPU per GPU (so they get the CPU-light pods
before CPU-rich nodes take them). Each step takes, among the pods that still fit, the one that places
the most GPU units without using a larger share of the node's remaining CPU or memory than of its
remaining GPUs (so no GPU is stranded behind exhausted CPU or memory), and among equals the heaviest
such pod (light pods are worth more on nodes short of CPU); a time-sliced GPU already opened is topped up first
with the largest share that fits, and a fresh one is opened with the share size whose best completion
fills it most. Pods without GPUs go last into what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.solver.bins import NodeBin, type_allows
from optimizer.solver.model import NodeType, PodSpec


@dataclass
class FixedPlacement:
    nodes: list[NodeBin]
    placed: dict[str, int] = field(default_factory=dict)  # pod -> node index
    unplaced: list[str] = field(default_factory=list)

    def gpu_milli_placed(self) -> int:
        return sum(b.gpu_milli_used() for b in self.nodes)


def place_on_fixed_nodes(nodes: list[NodeType], pods: list[PodSpec]) -> FixedPlacement:
    bins = [NodeBin(t) for t in nodes]
    result = FixedPlacement(bins)
    gpu_pods = [p for p in pods if p.gpus or p.gpu_milli]
    groups: dict[tuple, list[PodSpec]] = {}
    for p in gpu_pods:
        groups.setdefault((p.cpu_m, p.mem_mib, p.gpus, p.gpu_milli, p.gpu_models, p.archs), []).append(p)
    keys = list(groups)
    cpu = np.array([k[0] for k in keys], dtype=np.int64)
    mem = np.array([k[1] for k in keys], dtype=np.int64)
    whole = np.array([k[2] for k in keys], dtype=np.int64)
    milli = np.array([k[3] for k in keys], dtype=np.int64)
    units = whole * 1000 + milli
    left = np.array([len(groups[k]) for k in keys], dtype=np.int64)
    allowed_cache: dict[tuple[str | None, str | None], np.ndarray] = {}

    def allowed(model: str | None, arch: str | None) -> np.ndarray:
        if (model, arch) not in allowed_cache:
            allowed_cache[model, arch] = np.array([(k[4] is None or model in k[4]) and (k[5] is None or arch in k[5])
                                                   for k in keys], dtype=bool)
        return allowed_cache[model, arch]

    order = sorted(range(len(bins)), key=lambda i: (-bins[i].node_type.gpus, _cpu_per_gpu(bins[i].node_type), i))
    for i in order:
        b = bins[i]
        if not b.node_type.gpus:
            continue
        ok_model = allowed(b.node_type.gpu_model, b.node_type.arch)
        while True:
            free = b.free_gpus()
            room = max([1000 - u for u in b.share if u and u < 1000] or [0])
            gpu_left = free * 1000 + sum(1000 - u for u in b.share if u)
            if gpu_left <= 0:
                break
            fits = ok_model & (left > 0) & (cpu <= b.cpu) & (mem <= b.mem)
            fits &= np.where(whole > 0, whole <= free, (milli <= room) | (free > 0))
            if not fits.any():
                break
            if room:
                topping = fits & (whole == 0) & (milli <= room)
                if topping.any():
                    fits = topping
            rel = np.maximum(cpu / max(b.cpu, 1), mem / max(b.mem, 1)) / (units / gpu_left)
            calm = fits & (rel <= 1.0)
            pool = calm if calm.any() else fits
            # most GPU units first; among equals, the heaviest on CPU/memory that keeps the node's
            # balance (rel ≤ 1), or the lightest when no pod keeps it
            tie = rel if calm.any() else -np.minimum(rel, 3.0)
            score = np.where(pool, units * 4.0 + tie, -np.inf)
            c = int(np.argmax(score))
            if whole[c] == 0 and milli[c] > room:
                c = _opening_share(c, pool & (whole == 0), milli, left, rel)
            pod = groups[keys[c]][len(groups[keys[c]]) - int(left[c])]
            if not b.place(pod):  # the vector check agreed but the exact one did not: stop on this node
                break
            left[c] -= 1
            result.placed[pod.name] = i
    for p in pods:
        if p.uses_gpu:
            if p.name not in result.placed:
                result.unplaced.append(p.name)
            continue
        for i, b in enumerate(bins):
            if type_allows(b.node_type, p) and b.place(p):
                result.placed[p.name] = i
                break
        else:
            result.unplaced.append(p.name)
    return result


def _cpu_per_gpu(t: NodeType) -> float:
    return t.cpu_m / max(1, t.gpus)


def _opening_share(default: int, pool: np.ndarray, milli: np.ndarray, left: np.ndarray, rel: np.ndarray) -> int:
    """The share that opens a fresh GPU: the size whose best completion (up to two more shares still
    available) fills the GPU most, so an 810-milli share does not take a GPU that 460 + 470 would fill.
    Among classes of that size, the lightest on CPU and memory."""
    idx = np.flatnonzero(pool)
    if idx.size == 0:
        return default
    counts: dict[int, int] = {}
    for c in idx:
        counts[int(milli[c])] = counts.get(int(milli[c]), 0) + int(left[c])
    sizes = sorted(counts)

    def completion(first: int) -> int:
        avail = dict(counts)
        avail[first] -= 1
        room = 1000 - first
        best = 0
        for i, a in enumerate(sizes):
            if a > room:
                break
            if avail.get(a, 0) <= 0:
                continue
            best = max(best, a)
            avail[a] -= 1
            for b in sizes[i:]:
                if a + b > room:
                    break
                if avail.get(b, 0) > 0:
                    best = max(best, a + b)
            avail[a] += 1
        return first + best

    fill = {sz: completion(sz) for sz in sizes}
    target = max(sizes, key=lambda sz: (fill[sz], sz))
    same = [int(c) for c in idx if int(milli[c]) == target]
    return min(same, key=lambda c: rel[c])

"""Aggregation before solving (docs/solver.md, Method): identical pods become one class, dominated node types
are dropped, and each class gets its candidate node types."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.solver.bins import type_allows
from optimizer.solver.model import GPU_MILLI, MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES, NodeType, PodSpec

# One GPU in the units of the aggregate GPU rows: 7 compute slices × 8000 = 8 memory slices × 7000 =
# 1000 milli × 56, so whole GPUs, time-slicing shares and MIG slices are all exact integers.
GPU_UNITS = 56_000


@dataclass
class PodClass:
    """Identical pods (same requests, GPU demand, constraints and, where a spot cap applies, workload)."""

    spec: PodSpec
    names: list[str] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)  # indices into the type list

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def spot_cap(self) -> int:
        if not self.spec.spot_ok:
            return 0
        if self.spec.max_spot_fraction >= 1.0:
            return self.count
        return int(math.floor(self.spec.max_spot_fraction * self.count + 1e-9))

    def gpu_units_on(self, t: NodeType) -> tuple[int, int]:
        """This class's GPU demand on ``t`` for the aggregate rows, in ``GPU_UNITS`` per GPU, once counted
        by compute and once by memory. A GPU is given whole, or shared by time-slicing, or split by
        MIG, never two of these; a MIG layout uses at most 7 compute and 8 memory slices. So on every
        real node each count sums to at most GPUs × GPU_UNITS: two valid capacity rows. (One row with
        the larger of the two fractions would not be valid: 4g.40gb + 3g.40gb share a GPU at 4/7 + 4/8.)"""
        s = self.spec
        if s.gpus:
            return s.gpus * GPU_UNITS, s.gpus * GPU_UNITS
        if s.gpu_milli:
            return s.gpu_milli * (GPU_UNITS // GPU_MILLI), s.gpu_milli * (GPU_UNITS // GPU_MILLI)
        if s.mig_profile:
            sl = t.mig_slice(s.mig_profile)
            if sl is None:
                return GPU_UNITS, GPU_UNITS
            return (sl.compute * (GPU_UNITS // MIG_COMPUTE_SLICES), sl.mem_slots * (GPU_UNITS // MIG_MEMORY_SLICES))
        return 0, 0

    def gpu_milli_on(self, t: NodeType) -> int:
        """A single GPU size for packing heuristics (the larger MIG fraction; not a relaxation)."""
        s = self.spec
        if s.gpus:
            return s.gpus * GPU_MILLI
        if s.gpu_milli:
            return s.gpu_milli
        if s.mig_profile:
            sl = t.mig_slice(s.mig_profile)
            return sl.milli if sl else GPU_MILLI
        return 0

    def fit_count(self, t: NodeType) -> int:
        """How many of this class an empty node of ``t`` could hold by aggregate capacity alone (never
        fewer than really fit: it caps variables of models that must stay relaxations)."""
        s = self.spec
        limits = []
        if s.cpu_m:
            limits.append(t.cpu_m // s.cpu_m)
        if s.mem_mib:
            limits.append(t.mem_mib // s.mem_mib)
        if t.max_pods is not None:
            limits.append(t.max_pods)
        for g in self.gpu_units_on(t):
            if g:
                limits.append(t.gpus * GPU_UNITS // g)
        return max(0, min(limits)) if limits else 10**6


def _class_key(p: PodSpec):
    capped = p.spot_ok and p.max_spot_fraction < 1.0
    return (p.cpu_m, p.mem_mib, p.gpus, p.gpu_milli, p.mig_profile, p.gpu_models, p.gpu_memory_min,
            p.spot_ok, p.on_demand_ok, p.group if capped else None, p.max_spot_fraction if capped else None, p.archs)


def build_classes(pods: list[PodSpec]) -> list[PodClass]:
    classes: dict[tuple, PodClass] = {}
    for p in pods:
        key = _class_key(p)
        c = classes.get(key)
        if c is None:
            c = classes[key] = PodClass(spec=p)
        c.names.append(p.name)
    return list(classes.values())


def _dominates(b: NodeType, a: NodeType) -> bool:
    """True if ``b`` can host everything ``a`` can, at no higher price (same market and architecture)."""
    if b.market != a.market or b.hourly > a.hourly or b.cpu_m < a.cpu_m or b.mem_mib < a.mem_mib:
        return False
    if b.arch != a.arch or (b.max_pods is not None and (a.max_pods is None or b.max_pods < a.max_pods)):
        return False
    if a.gpus:
        if b.gpu_model != a.gpu_model or b.gpus < a.gpus or b.gpu_memory < a.gpu_memory:
            return False
        if not {s.name for s in a.mig} <= {s.name for s in b.mig}:
            return False
    return True


def prune_dominated(types: list[NodeType]) -> list[NodeType]:
    """Drop every type another type dominates (ties keep the first by name)."""
    ordered = sorted(types, key=lambda t: (t.market, t.hourly, t.name))
    kept: list[NodeType] = []
    for a in ordered:
        if any(_dominates(b, a) for b in kept):
            continue
        kept.append(a)
    return sorted(kept, key=lambda t: (t.name, t.market))


def assign_candidates(classes: list[PodClass], types: list[NodeType], max_per_class: int | None) -> bool:
    """Fill ``candidates`` of each class; return True if any list was cut to ``max_per_class`` (then a
    stage-1 optimum is no longer a lower bound of the full problem)."""
    restricted = False
    for c in classes:
        allowed = [i for i, t in enumerate(types) if type_allows(t, c.spec) and c.fit_count(t) > 0]
        if max_per_class and len(allowed) > max_per_class:
            restricted = True
            # cheapest per pod first, keeping both markets represented
            allowed.sort(key=lambda i: (types[i].hourly / c.fit_count(types[i]), types[i].name))
            by_market: dict[str, list[int]] = {}
            for i in allowed:
                by_market.setdefault(types[i].market, []).append(i)
            keep = set(allowed[:max_per_class])
            for idx in by_market.values():
                keep.update(idx[: max(2, max_per_class // 4)])
            allowed = sorted(keep)
        c.candidates = allowed
    return restricted

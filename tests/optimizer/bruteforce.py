"""Exhaustive reference for tiny packing instances: every partition of the pods into nodes, each node
the cheapest type that really holds its pods (checked by trying every GPU assignment)."""

from __future__ import annotations

import itertools
import math

from optimizer.solver import SPOT, NodeType, PodSpec, mig_layout_fits, type_allows


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def block_fits(t: NodeType, block: list[PodSpec]) -> bool:
    if not all(type_allows(t, p) for p in block):
        return False
    if t.max_pods is not None and len(block) > t.max_pods:
        return False
    if sum(p.cpu_m for p in block) > t.cpu_m or sum(p.mem_mib for p in block) > t.mem_mib:
        return False
    whole = sum(p.gpus for p in block)
    parts = [p for p in block if p.gpu_milli or p.mig_profile]
    if whole > t.gpus:
        return False
    for assign in itertools.product(range(t.gpus), repeat=len(parts)):
        gpus: dict[int, list[PodSpec]] = {}
        for p, g in zip(parts, assign, strict=True):
            gpus.setdefault(g, []).append(p)
        ok = whole + len(gpus) <= t.gpus
        for members in gpus.values():
            if not ok:
                break
            shares = [p for p in members if p.gpu_milli]
            migs = [p for p in members if p.mig_profile]
            if shares and migs:
                ok = False
            elif shares:
                ok = sum(p.gpu_milli for p in shares) <= 1000
            else:
                ok = mig_layout_fits(tuple(sorted((t.mig_slice(p.mig_profile) for p in migs),
                                                  key=lambda s: (s.name, s.mem_slots))))
        if ok:
            return True
    return False


def brute_force_cost(pods: list[PodSpec], types: list[NodeType]) -> float:
    """Optimal $/h, or inf. Spot share caps: floor(max_spot_fraction × pods of the group) on spot."""
    caps: dict[str, int] = {}
    for p in pods:
        if p.spot_ok and p.max_spot_fraction < 1 and p.group:
            caps[p.group] = caps.get(p.group, 0) + 1
    caps = {g: math.floor(next(p.max_spot_fraction for p in pods if p.group == g) * n + 1e-9)
            for g, n in caps.items()}
    best = math.inf
    for part in _partitions(list(pods)):
        options = []
        for block in part:
            fitting = [t for t in types if block_fits(t, block)]
            if not fitting:
                options = None
                break
            per_market = {}
            for t in fitting:
                if t.market not in per_market or t.hourly < per_market[t.market].hourly:
                    per_market[t.market] = t
            options.append(list(per_market.values()))
        if options is None:
            continue
        for choice in itertools.product(*options):
            cost = sum(t.hourly for t in choice)
            if cost >= best:
                continue
            on_spot: dict[str, int] = {}
            for block, t in zip(part, choice, strict=True):
                if t.market == SPOT:
                    for p in block:
                        if p.group in caps:
                            on_spot[p.group] = on_spot.get(p.group, 0) + 1
            if all(on_spot.get(g, 0) <= k for g, k in caps.items()):
                best = cost
    return best

"""The two-stage solver (docs/solver.md): classes → stage 1 (CP-SAT node counts + bound) → stage 2 (FFD
per type, CP-SAT where FFD misses the count) → exact mode for small inputs → never worse than FFD."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from optimizer.solver.bins import NodeBin, type_allows
from optimizer.solver.classes import PodClass, assign_candidates, build_classes, prune_dominated
from optimizer.solver.ffd import UNPLACEABLE, dot_product_pack, ffd_pack
from optimizer.solver.gpufirst import gpu_first_pack
from optimizer.solver.model import SPOT, NodePlan, NodeType, PodSpec, SolveResult
from optimizer.solver.patterns import gpu_free_component, solve_patterns
from optimizer.solver.slots import solve_slots
from optimizer.solver.stage1 import lp_bound, lp_relaxation, solve_stage1
from optimizer.solver.typepatterns import pattern_pack

EXPENSIVE_NODE_HOURLY = 5.0  # $/h per node above which stage 2's slot model gets proportionally more time (up to 4×)


@dataclass(frozen=True)
class SolverOptions:
    """Limits and knobs. ``num_workers=1`` with a fixed ``seed`` makes runs repeatable (tests)."""

    stage1_time_s: float = 20.0
    stage2_time_s: float = 2.0  # per node type whose FFD packing misses the stage-1 count
    stage2_max_pods: int = 400  # larger per-type packings keep FFD (the slot model would not help in time)
    exact_max_pods: int = 40  # below this, a full slot model over all types proves optimality
    exact_time_s: float = 10.0
    max_candidates_per_class: int | None = None  # cutting lists speeds stage 1 but leaves only the LP bound
    relative_gap: float = 0.002
    second_pass_share: float = 0.35  # of stage1_time_s, for the derated second pass ...
    time_budget_s: float = 55.0  # ... which runs only if the whole solve stays within this
    tail_repack_s: float = 6.0  # per stage-2 run: CP-SAT re-packs the emptiest nodes of large types
    pattern_time_s: float = 10.0  # pattern model for pods without GPUs on nodes without GPUs (0 = off)
    slots_recheck_gap: float = 0.01  # pattern answer this far above its bound, pod slots binding: stages 1-2 too
    num_workers: int = 8
    seed: int = 0


def _cost(bins: list[NodeBin]) -> float:
    return sum(b.node_type.hourly for b in bins)


def solve(pods: list[PodSpec], node_types: list[NodeType], options: SolverOptions | None = None, *,
          reuse: dict | None = None) -> SolveResult:
    """Cheapest set of nodes (from ``node_types``) holding every pod; pods that fit no type are reported
    by name in ``unplaced`` and the rest are still solved.

    ``reuse``: a dict kept across calls on related inputs (the node plan, then the plan without one action
    type): the pattern model's answer for the pods without GPUs is a problem of its own, and when those
    pods, their candidate types and the options are the same as in an earlier call, that answer is taken
    again instead of being searched for anew (the same answer for the same sub-problem, not a new one
    found in another time slice)."""
    opt = options or SolverOptions()
    started = time.perf_counter()
    names = [p.name for p in pods]
    if len(set(names)) != len(names):
        raise ValueError("pod names must be unique")
    types = prune_dominated(node_types)
    classes = build_classes(pods)
    restricted = assign_candidates(classes, types, opt.max_candidates_per_class)
    unplaced: dict[str, str] = {}
    placeable: list[PodClass] = []
    for c in classes:
        if c.candidates:
            placeable.append(c)
        else:
            unplaced.update({n: UNPLACEABLE for n in c.names})
    # FFD baseline over every type (not just candidates): the yardstick and the fallback.
    ffd_bins, _ = ffd_pack(placeable, types)
    ffd_cost = _cost(ffd_bins)
    if not placeable:
        return SolveResult([], 0.0, 0.0, 0.0, time.perf_counter() - started, "empty", "EMPTY", unplaced)

    # Pods without GPUs, when only nodes without GPUs take them, are a problem of their own: the
    # pattern model packs them and bounds them more tightly than aggregate rows do.
    full = [_full_candidates(c, types) for c in placeable] if restricted else placeable
    alone = gpu_free_component(full, types) if opt.pattern_time_s > 0 else []
    best: list[NodeBin] = []
    bound, method, status = 0.0, "two-stage", "EMPTY"
    rest = placeable
    if alone:
        component = [full[i] for i in alone]
        found = _patterns_answer(component, types, opt, started, reuse)
        if found is not None:
            best, bound, status = list(found[0]), found[1], found[2]
            taken = set(alone)
            rest = [c for i, c in enumerate(placeable) if i not in taken]
    if rest:
        # the FFD baseline above is the same packing when no pattern component was split off
        rest_ffd = ffd_bins if rest is placeable else ffd_pack(rest, types)[0]
        bins, rest_bound, rest_method, s1_status = _two_stage(rest, types, opt, started, restricted, rest_ffd)
        best, bound = best + bins, bound + rest_bound
        status = s1_status if status == "EMPTY" else f"{s1_status}+{status}"
        if rest_method == "ffd" and rest is placeable:
            method = "ffd"
    if _cost(ffd_bins) < _cost(best) - 1e-9:
        best, method = ffd_bins, "ffd"
    total = sum(c.count for c in placeable)
    if total <= opt.exact_max_pods and _cost(best) > bound + 1e-9:
        exact, exact_status = _exact(placeable, types, best, opt)
        if exact is not None and _cost(exact) <= _cost(best) + 1e-9:
            if _cost(exact) < _cost(best) - 1e-9:
                best, method = exact, "exact"
            if exact_status == "OPTIMAL":
                bound = max(bound, _cost(exact) - 1e-9)
    bound = min(bound, _cost(best))
    return SolveResult(
        nodes=[NodePlan(b.node_type, list(b.pods)) for b in best], cost=_cost(best), lower_bound=bound,
        ffd_cost=ffd_cost, solve_seconds=time.perf_counter() - started, method=method, stage1_status=status,
        unplaced=unplaced, classes=len(placeable), candidate_types=len({i for c in placeable for i in c.candidates}),
    )


def _patterns_answer(component: list[PodClass], types: list[NodeType], opt: SolverOptions, started: float,
                     reuse: dict | None) -> tuple[list[NodeBin], float, str] | None:
    """The pattern model's packing of the pods without GPUs, its lower bound and status; None if it found
    none. Taken from ``reuse`` when the same component was solved before with the same types and options."""
    key = None
    if reuse is not None:
        key = ("patterns", tuple(types), opt,
               tuple((c.spec, tuple(c.names), tuple(c.candidates)) for c in component))
        if key in reuse:
            if reuse[key] is None:
                return None
            bins, bound, status = reuse[key]
            return [b.copy() for b in bins], bound, status
    pr = solve_patterns(component, types, time_limit_s=opt.pattern_time_s, num_workers=opt.num_workers,
                        seed=opt.seed)
    if pr.bins is None:
        answer = None
    else:
        best, bound = list(pr.bins), pr.bound
        status = f"patterns:{pr.status}"
        if _cost(best) > bound * (1 + opt.slots_recheck_gap) and slots_can_bind(component, types):
            # pod slots make the pricing problem flat (many patterns tie at a full node), and the
            # patterns generated may not mix shapes well; the general stages count slots in their
            # rows: take their packing if cheaper, and the better of the two valid bounds
            bins, other, _, _ = _two_stage(component, types, opt, started, False, ffd_pack(component, types)[0])
            if _cost(bins) < _cost(best) - 1e-9:
                best = bins
            bound = max(bound, other)
            status += "+slots"
        answer = best, bound, status
    if key is not None:
        reuse[key] = None if answer is None else ([b.copy() for b in answer[0]], answer[1], answer[2])
    return answer


def slots_can_bind(classes: list[PodClass], types: list[NodeType]) -> bool:
    """Whether some candidate node could run out of pod slots before CPU and memory: its max pods is
    below how many of the smallest pod its CPU and memory hold."""
    min_cpu = min(max(1, c.spec.cpu_m) for c in classes)
    min_mem = min(max(1, c.spec.mem_mib) for c in classes)
    return any(t.max_pods is not None and min(t.cpu_m // min_cpu, t.mem_mib // min_mem) > t.max_pods
               for t in (types[ti] for ti in {ti for c in classes for ti in c.candidates}))


def _full_candidates(c: PodClass, types: list[NodeType]) -> PodClass:
    return PodClass(spec=c.spec, names=c.names,
                    candidates=[i for i, t in enumerate(types) if type_allows(t, c.spec) and c.fit_count(t) > 0])


def _two_stage(placeable: list[PodClass], types: list[NodeType], opt: SolverOptions, started: float,
               restricted: bool, ffd_bins: list[NodeBin]) -> tuple[list[NodeBin], float, str, str]:
    """Stage 1, stage 2 and the derated second pass over these classes, starting from their FFD packing
    ``ffd_bins``: (nodes, lower bound, method, stage-1 status)."""
    lp_cand, hint = lp_relaxation(placeable, types)
    first = opt.stage1_time_s * (1 - opt.second_pass_share)
    s1 = solve_stage1(placeable, types, time_limit_s=first, num_workers=opt.num_workers,
                      seed=opt.seed, relative_gap=opt.relative_gap, hint=hint)
    if restricted:
        # stage 1 saw cut candidate lists: only the LP over every candidate bounds the real problem
        bound = lp_bound([_full_candidates(c, types) for c in placeable], types)
    else:
        bound = max(s1.bound, lp_cand)

    best, method = ffd_bins, "ffd"
    if s1.counts:
        t2 = time.perf_counter()
        bins, packed = _stage2(placeable, types, s1, opt)
        t2 = time.perf_counter() - t2
        if bins is not None and _cost(bins) < _cost(best) - 1e-9:
            best, method = bins, "two-stage"
        # second pass: types whose packing needed more nodes than stage 1 counted get their capacity
        # derated by that ratio, stage 1 re-solves from its first answer, and the cheaper packing wins
        over = {ti: s1.counts[ti] / k for ti, k in packed.items() if k > s1.counts.get(ti, 0) > 0}
        second = opt.stage1_time_s * opt.second_pass_share
        fits_budget = time.perf_counter() - started + second + t2 <= opt.time_budget_s
        if over and second > 0 and fits_budget and _cost(best) > bound * (1 + opt.relative_gap):
            s1b = solve_stage1(placeable, types, time_limit_s=second,
                               num_workers=opt.num_workers, seed=opt.seed, relative_gap=opt.relative_gap,
                               hint=s1.assign, derate=over)
            if s1b.counts:
                bins2, _ = _stage2(placeable, types, s1b, opt)
                if bins2 is not None and _cost(bins2) < _cost(best) - 1e-9:
                    best, method = bins2, "two-stage"
    return best, bound, method, s1.status


def _fill(b: NodeBin) -> float:
    t = b.node_type
    parts = [1 - b.cpu / max(1, t.cpu_m), 1 - b.mem / max(1, t.mem_mib)]
    if t.gpus:
        parts.append(b.gpu_milli_used() / (1000 * t.gpus))
    return max(parts)


def _stage2(classes: list[PodClass], types: list[NodeType], s1, opt: SolverOptions
            ) -> tuple[list[NodeBin] | None, dict[int, int]]:
    """Pack each type's share of pods; where FFD (and the slot model, if small) needs more nodes than
    stage 1 counted, the emptiest surplus nodes are dissolved and their pods re-placed first into free
    room anywhere, then onto the cheapest new node (the better of that repair and no repair is kept)."""
    per_type: dict[int, list[PodClass]] = {}
    taken = [0] * len(classes)
    for (ci, ti), k in sorted(s1.assign.items()):
        c = classes[ci]
        per_type.setdefault(ti, []).append(PodClass(spec=c.spec, names=c.names[taken[ci]: taken[ci] + k],
                                                    candidates=[ti]))
        taken[ci] += k
    if taken != [c.count for c in classes]:
        return None, {}
    spec_of = {n: c.spec for c in classes for n in c.names}
    lns_deadline = time.perf_counter() + opt.tail_repack_s
    plain: list[NodeBin] = []
    kept: list[NodeBin] = []
    packed: dict[int, int] = {}
    surplus: list[tuple[str, str]] = []  # (pod, market it was given)
    for ti, sub in sorted(per_type.items()):
        t = types[ti]
        bins, lost = ffd_pack(sub, [t], spot_caps=False)
        if lost:
            return None, {}
        want = s1.counts.get(ti, 0)
        proven = False  # the packing has the fewest nodes this type's pods allow
        for other in (dot_product_pack, gpu_first_pack):
            if len(bins) > want:
                found = other(sub, t)
                if found is not None and len(found) < len(bins):
                    bins = found
        if len(bins) > want:
            found, proven = pattern_pack(sub, t, time_limit_s=opt.stage2_time_s, num_workers=opt.num_workers,
                                         seed=opt.seed)
            if found is not None and len(found) < len(bins):
                bins = found
            proven = proven and found is not None and len(found) <= len(bins)
        n_pods = sum(c.count for c in sub)
        short = len(bins) > want and not proven
        if short and n_pods <= opt.stage2_max_pods:
            # first exactly the stage-1 count (a feasibility question, found far sooner than by
            # minimising over one node fewer than the packing), then one node fewer; a node of an
            # 8-GPU type costs as much as dozens of small ones, so its packing gets more time
            limit = opt.stage2_time_s * min(4.0, max(1.0, t.hourly / EXPENSIVE_NODE_HOURLY))
            for slots in sorted({max(1, want), len(bins) - 1}):
                better, _ = solve_slots(sub, [t] * slots, hint=None, time_limit_s=limit,
                                        num_workers=opt.num_workers, seed=opt.seed, spot_caps=False)
                if better is not None and len(better) < len(bins):
                    bins = better
                    break
        elif short and time.perf_counter() < lns_deadline:
            bins = _repack_tail(bins, t, spec_of, opt, lns_deadline)
        plain.extend(bins)
        packed[ti] = len(bins)
        if len(bins) > want:
            bins = sorted(bins, key=_fill, reverse=True)
            kept.extend(bins[:want])
            surplus.extend((p, t.market) for b in bins[want:] for p in b.pods)
        else:
            kept.extend(bins)
    if not surplus:
        return plain, packed
    groups: dict[tuple, PodClass] = {}
    for name, market in surplus:
        spec = spec_of[name]
        if market == SPOT:
            spec = replace(spec, spot_ok=True)
        else:
            spec = replace(spec, spot_ok=False, on_demand_ok=True)
        key = (id(spec_of[name]), market)
        groups.setdefault(key, PodClass(spec=spec)).names.append(name)
    repaired, lost = ffd_pack(list(groups.values()), types, bins=[b.copy() for b in kept], spot_caps=False)
    if lost or _cost(repaired) >= _cost(plain):
        return plain, packed
    return repaired, packed


def _repack_tail(bins: list[NodeBin], t: NodeType, spec_of: dict, opt: SolverOptions, deadline: float,
                 max_pods: int = 120) -> list[NodeBin]:
    """Large neighbourhood step for a type too big for the slot model: the emptiest nodes whose pods
    number at most ``max_pods`` are re-packed by CP-SAT into one node fewer, while that succeeds."""
    bins = sorted(bins, key=_fill, reverse=True)
    while time.perf_counter() < deadline:
        tail, pods = [], 0
        for b in reversed(bins):
            if pods + len(b.pods) > max_pods:
                break
            tail.append(b)
            pods += len(b.pods)
        if len(tail) < 2:
            return bins
        groups: dict[int, PodClass] = {}
        for b in tail:
            for name in b.pods:
                groups.setdefault(id(spec_of[name]), PodClass(spec=spec_of[name])).names.append(name)
        budget = min(opt.stage2_time_s, deadline - time.perf_counter())
        better, _ = solve_slots(list(groups.values()), [t] * (len(tail) - 1), hint=None, time_limit_s=max(0.1, budget),
                                num_workers=opt.num_workers, seed=opt.seed, spot_caps=False)
        if better is None or len(better) >= len(tail):
            return bins
        bins = sorted(bins[: len(bins) - len(tail)] + better, key=_fill, reverse=True)
    return bins



def _exact(classes: list[PodClass], types: list[NodeType], best: list[NodeBin], opt: SolverOptions):
    budget = _cost(best)
    used = sorted({i for c in classes for i in c.candidates})
    slot_types: list[NodeType] = []
    for ti in used:
        t = types[ti]
        pods_here = sum(c.count for c in classes if ti in c.candidates)
        k = min(pods_here, int(budget // t.hourly) if t.hourly > 0 else pods_here)
        slot_types.extend([t] * k)
    if not slot_types:
        return None, "EMPTY"
    return solve_slots(classes, slot_types, hint=best, time_limit_s=opt.exact_time_s,
                       num_workers=opt.num_workers, seed=opt.seed)

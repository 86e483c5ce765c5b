"""consolidate-nodes: the cheapest node mix for every pod that stays, right-sized as proposed, from the
two-stage solver; compared with the nodes running at the end of the window.

Pods keep to their architectures and every node keeps room for the DaemonSets (decisions/placement.py);
burstable families are candidates only with ``solver.allow_burstable``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from optimizer.decisions.base import Candidate, Context
from optimizer.decisions.placement import DAEMONSET, daemonset_reserve, workload_archs
from optimizer.inventory import Workload
from optimizer.solver import PodSpec, SolverOptions, solve
from optimizer.solver.adapter import node_types_from_catalog

ACTION = "consolidate-nodes"


def _steady_pods(w: Workload, ctx: Context, nodes: set[str] | None = None) -> int:
    """Pods of ``w`` the plan must hold; with ``nodes``, only those running on them (a region's priced nodes)."""
    inv = ctx.inventory
    pods = [p for p in w.pods if nodes is None or p.node in nodes]
    if nodes is not None and not pods:
        return 0
    alive = sum(1 for p in pods if inv.alive_at_end(p))
    if alive or w.kind not in ("Job", "CronJob"):
        return alive
    # batch pods come and go: keep room for one run if the workload ran during the last day
    day_ms = inv.end.timestamp() * 1000 - 86400_000
    return 1 if any(p.last_ms and p.last_ms >= day_ms for p in pods) else 0


def pod_specs(ctx: Context, shapes: dict, skip: set, nodes: set[str] | None = None) -> list[PodSpec]:
    out = []
    for key, w in ctx.inventory.workloads.items():
        if key in skip or w.kind == DAEMONSET:  # DaemonSets are room kept on every node, not pods to pack
            continue
        n = _steady_pods(w, ctx, nodes)
        archs = workload_archs(w, ctx) if n else None
        shape = shapes.get(key) or ctx.base_shape(w)
        uses_gpu = shape.gpus or shape.gpu_milli or shape.mig_profile
        models = frozenset({shape.gpu_model}) if uses_gpu and shape.gpu_model else None
        frac = ctx.config.decisions.max_spot_fraction_replicated if n > 1 and w.kind not in ("Job", "CronJob") \
            and not ctx.policy(w).spot_preferred else 1.0
        for i in range(n):
            out.append(PodSpec(f"{w.namespace}/{w.kind}/{w.name}#{i}", cpu=max(shape.cpu, 0.001), mem=max(shape.mem, 1),
                               gpus=shape.gpus, gpu_milli=shape.gpu_milli, mig_profile=shape.mig_profile,
                               gpu_models=models, spot_ok=shape.spot_ok and ctx.config.solver.allow_spot_in_consolidation,
                               group=f"{w.namespace}/{w.kind}/{w.name}", max_spot_fraction=frac, archs=archs))
    return out


def _pods_by_arch(pods: list[PodSpec]) -> dict[str, int]:
    """How many pods of the solve may go where: "x86_64", "arm64", "any" (several or no restriction)."""
    out: Counter = Counter()
    for p in pods:
        out["any" if p.archs is None or len(p.archs) > 1 else next(iter(p.archs))] += 1
    return dict(sorted(out.items()))


@dataclass
class Plan:
    """The node mix for the steady pods of the priced nodes, solved per region (pods stay in their
    region; node types are priced there). Nodes without a price are left out with the pods on them."""

    nodes: list  # the observed nodes running at the window's end that have a price
    current_hourly: float  # what those nodes cost now
    cost: float = 0.0  # the solver's node mix, $/h (inf when some pod found no node)
    lower_bound: float = 0.0
    ffd_cost: float = 0.0
    results: list = field(default_factory=list)  # (region, SolveResult)
    pods: int = 0
    node_types: int = 0
    regions: list = field(default_factory=list)
    pod_list: list = field(default_factory=list)  # every PodSpec solved, all regions
    reserve: object = None  # placement.DaemonSetReserve the node types were reduced by

    @property
    def unplaced(self) -> dict:
        return {k: v for _, r in self.results for k, v in r.unplaced.items()}


def solve_plan(ctx: Context, shapes: dict, skip: set, cache: dict | None = None) -> Plan:
    """``shapes``: workload key -> proposed Shape; ``skip``: workloads that leave the steady cluster.
    ``cache`` (region and pods -> result) reuses a solve whose region and pods are exactly the same: the
    plans without one action type often differ from the full plan in a few regions only, or in none;
    within a region, the packing of the pods without GPUs is reused when those pods are the same (an
    action type that changes only GPU pods leaves it as it is; optimizer/solver/solve.py)."""
    inv = ctx.inventory
    priced = [n for n in inv.nodes.values() if inv.node_alive_at_end(n) and ctx.pricing.node_hourly(n) is not None]
    plan = Plan(priced, sum(ctx.pricing.node_hourly(n) for n in priced))
    by_region: dict[str, set[str]] = {}
    for n in priced:
        by_region.setdefault(n.region or ctx.config.region, set()).add(n.name)
    cfg = ctx.config.solver
    plan.reserve = reserve = daemonset_reserve(ctx, shapes)
    for region, names in sorted(by_region.items()):
        pods = pod_specs(ctx, shapes, skip, names)
        types = node_types_from_catalog(ctx.catalog, region=region, cfg=cfg,
                                        checkpoint_interval_h=ctx.config.decisions.default_checkpoint_interval_h,
                                        daemonsets=reserve)
        key = (region, tuple(pods))
        if cache is not None and key in cache:
            result = cache[key]
        else:
            result = solve(pods, types, SolverOptions(
                stage1_time_s=cfg.stage1_time_s, num_workers=cfg.num_workers, seed=cfg.seed,
                max_candidates_per_class=cfg.max_candidates_per_class, pattern_time_s=cfg.pattern_time_s),
                reuse=cache)
            if cache is not None:
                cache[key] = result
        plan.results.append((region, result))
        plan.pods += len(pods)
        plan.pod_list += pods
        plan.node_types += len(types)
        plan.cost += result.cost if not result.unplaced else float("inf")
        plan.lower_bound += result.lower_bound
        plan.ffd_cost += result.ffd_cost
        plan.regions.append(region)
    return plan


def decide(ctx: Context, shapes: dict, skip: set, plan: Plan | None = None) -> tuple[Candidate | None, dict]:
    """``shapes``: workload key -> proposed Shape; ``skip``: workloads that leave the steady cluster
    (scaled to zero). Returns the candidate (or None) and the solver's numbers."""
    plan = plan or solve_plan(ctx, shapes, skip)
    nodes, current_h = plan.nodes, plan.current_hourly
    results = [r for _, r in plan.results]
    first = results[0] if results else None
    stats = {"pods": plan.pods, "classes": sum(r.classes for r in results), "node_types": plan.node_types,
             "cost_hourly": round(plan.cost, 4) if plan.cost != float("inf") else None,
             "lower_bound_hourly": round(plan.lower_bound, 4),
             "gap": round(max((r.gap for r in results), default=0.0), 5), "ffd_cost_hourly": round(plan.ffd_cost, 4),
             "solve_seconds": round(sum(r.solve_seconds for r in results), 2),
             "method": first.method if first else None, "stage1_status": first.stage1_status if first else None,
             "unplaced": plan.unplaced, "regions": plan.regions,
             "daemonset_reserve": {kind: {"cpu": round(load.cpu, 3), "mem_bytes": load.mem, "pods": load.pods}
                                   for kind, load in (("gpu_nodes", plan.reserve.gpu_nodes),
                                                      ("cpu_nodes", plan.reserve.cpu_nodes))} if plan.reserve else {},
             "pods_by_arch": _pods_by_arch(plan.pod_list), "burstable_allowed": ctx.config.solver.allow_burstable}
    if not results or plan.unplaced or plan.cost >= current_h:
        return None, stats
    now = Counter(f"{n.instance_type} ({n.capacity_type})" for n in nodes)
    new = Counter(f"{p.node_type.name} ({p.node_type.market})" for r in results for p in r.nodes)
    placed = sum(len(r.nodes) for r in results)

    def mix(c: Counter) -> str:
        return ", ".join(f"{k}× {t}" for t, k in sorted(c.items(), key=lambda x: (-x[1], x[0])))

    rationale = (f"All {plan.pods} steady pods, at their proposed sizes, fit on {placed} nodes costing "
                 f"${plan.cost:,.2f}/h instead of {len(nodes)} nodes at ${current_h:,.2f}/h (solver gap "
                 f"{100 * stats['gap']:.2f} % to its lower bound; first-fit-decreasing would cost "
                 f"${plan.ffd_cost:,.2f}/h).")
    current = {"instance_type": mix(now), "node_count": len(nodes)}
    proposed = {"instance_type": mix(new), "node_count": placed}
    stats["placement"] = {p.node_type.key + f"#{i}": p.pods for i, p in enumerate(n for r in results for n in r.nodes)}
    # risk is rated where the plan's confidence is known (optimizer/recommend.py, decisions/risk.py)
    cand = Candidate(ACTION, current, proposed, current_h, plan.cost, rationale, "high", frozenset({"cluster"}),
                     None, {"solver": {k: v for k, v in stats.items() if k != "placement"},
                            "node_counts_current": dict(now), "node_counts_proposed": dict(new)})
    return cand, stats

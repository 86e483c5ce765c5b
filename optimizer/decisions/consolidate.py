"""consolidate-nodes: the cheapest node mix for every pod that stays, right-sized as proposed, from the
two-stage solver; compared with the nodes running at the end of the window.

Pods keep to their architectures and every node keeps room for the DaemonSets (decisions/placement.py);
burstable families are candidates only with ``solver.allow_burstable``."""

from __future__ import annotations

from collections import Counter

from optimizer.decisions.base import Candidate, Context
from optimizer.decisions.placement import DAEMONSET, daemonset_reserve, workload_archs
from optimizer.inventory import Workload
from optimizer.solver import PodSpec, SolverOptions, solve
from optimizer.solver.adapter import node_types_from_catalog

ACTION = "consolidate-nodes"


def _steady_pods(w: Workload, ctx: Context) -> int:
    inv = ctx.inventory
    alive = sum(1 for p in w.pods if inv.alive_at_end(p))
    if alive or w.kind not in ("Job", "CronJob"):
        return alive
    # batch pods come and go: keep room for one run if the workload ran during the last day
    day_ms = inv.end.timestamp() * 1000 - 86400_000
    return 1 if any(p.last_ms and p.last_ms >= day_ms for p in w.pods) else 0


def pod_specs(ctx: Context, shapes: dict, skip: set) -> list[PodSpec]:
    out = []
    for key, w in ctx.inventory.workloads.items():
        if key in skip or w.kind == DAEMONSET:  # DaemonSets are room kept on every node, not pods to pack
            continue
        n = _steady_pods(w, ctx)
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


def decide(ctx: Context, shapes: dict, skip: set) -> tuple[Candidate | None, dict]:
    """``shapes``: workload key -> proposed Shape; ``skip``: workloads that leave the steady cluster
    (scaled to zero). Returns the candidate (or None) and the solver's numbers."""
    inv = ctx.inventory
    nodes = [n for n in inv.nodes.values() if inv.node_alive_at_end(n)]
    current_h = 0.0
    for n in nodes:
        h = ctx.pricing.node_hourly(n)
        if h is None:
            return None, {"skipped": f"no price for instance type {n.instance_type}"}
        current_h += h
    pods = pod_specs(ctx, shapes, skip)
    cfg = ctx.config.solver
    reserve = daemonset_reserve(ctx, shapes)
    types = node_types_from_catalog(ctx.catalog, region=ctx.config.region, cfg=cfg,
                                    checkpoint_interval_h=ctx.config.decisions.default_checkpoint_interval_h,
                                    daemonsets=reserve)
    result = solve(pods, types, SolverOptions(stage1_time_s=cfg.stage1_time_s, num_workers=cfg.num_workers,
                                              seed=cfg.seed, max_candidates_per_class=cfg.max_candidates_per_class,
                                              pattern_time_s=cfg.pattern_time_s))
    stats = {"pods": len(pods), "classes": result.classes, "node_types": len(types),
             "cost_hourly": round(result.cost, 4), "lower_bound_hourly": round(result.lower_bound, 4),
             "gap": round(result.gap, 5), "ffd_cost_hourly": round(result.ffd_cost, 4),
             "solve_seconds": round(result.solve_seconds, 2), "method": result.method,
             "stage1_status": result.stage1_status, "unplaced": result.unplaced,
             "daemonset_reserve": {kind: {"cpu": round(load.cpu, 3), "mem_bytes": load.mem, "pods": load.pods}
                                   for kind, load in (("gpu_nodes", reserve.gpu_nodes), ("cpu_nodes", reserve.cpu_nodes))},
             "pods_by_arch": _pods_by_arch(pods), "burstable_allowed": cfg.allow_burstable}
    if result.unplaced or result.cost >= current_h:
        return None, stats
    now = Counter(f"{n.instance_type} ({n.capacity_type})" for n in nodes)
    new = Counter(f"{p.node_type.name} ({p.node_type.market})" for p in result.nodes)

    def mix(c: Counter) -> str:
        return ", ".join(f"{k}× {t}" for t, k in sorted(c.items(), key=lambda x: (-x[1], x[0])))

    rationale = (f"All {len(pods)} steady pods, at their proposed sizes, fit on {len(result.nodes)} nodes costing "
                 f"${result.cost:,.2f}/h instead of {len(nodes)} nodes at ${current_h:,.2f}/h (solver gap "
                 f"{100 * result.gap:.2f} % to its lower bound; first-fit-decreasing would cost ${result.ffd_cost:,.2f}/h).")
    current = {"instance_type": mix(now), "node_count": len(nodes)}
    proposed = {"instance_type": mix(new), "node_count": len(result.nodes)}
    stats["placement"] = {p.node_type.key + f"#{i}": p.pods for i, p in enumerate(result.nodes)}
    # risk is rated where the plan's confidence is known (optimizer/recommend.py, decisions/risk.py)
    cand = Candidate(ACTION, current, proposed, current_h, result.cost, rationale, "high", frozenset({"cluster"}),
                     None, {"solver": {k: v for k, v in stats.items() if k != "placement"},
                            "node_counts_current": dict(now), "node_counts_proposed": dict(new)})
    return cand, stats


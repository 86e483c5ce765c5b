"""reclaim-idle-gpu: GPUs held by pods that leave them idle almost all the time, and GPUs no pod holds."""

from __future__ import annotations

from dataclasses import replace

from optimizer.decisions import risk
from optimizer.decisions.base import Candidate, Context, pct
from optimizer.demand import Demand
from optimizer.inventory import NodeInfo, Workload

ACTION = "reclaim-idle-gpu"


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    cfg = ctx.config.decisions
    if not w.gpus_per_pod or d.idle_fraction is None or not d.enough_history:
        return None
    if d.idle_fraction < cfg.idle_gpu_fraction or not ctx.policy(w).reclaim_idle_allowed:
        return None
    shape = replace(ctx.base_shape(w), gpus=0, gpu_milli=0, mig_profile=None, gpu_model=None)
    current_h, proposed_h = ctx.current_hourly(w), ctx.shape_hourly(w, shape)
    if current_h is None or proposed_h is None:
        return None
    gpus = int(w.gpus_per_pod)
    held = f"{gpus} {w.gpu_model} GPU{'s were' if gpus > 1 else ' was'}"
    rationale = (f"Each pod's {held} idle {pct(d.idle_fraction)} of {d.history_hours:.0f} h (peak activity "
                 f"{pct(d.activity_max)}, {d.burst_count} short sessions): release it and request a GPU only while "
                 f"working, for example from a GPU profile started on demand.")
    current = {"gpu_model": w.gpu_model, "gpu_count": gpus, "gpu_memory_bytes": w.gpu_memory_bytes}
    proposed = {"gpu_model": None, "gpu_count": 0, "gpu_memory_bytes": 0}
    # the GPU taken from work that (rarely) uses it: that work fails until it gets one back
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, risk.FAILURE), frozenset({"release"}), shape,
                     {"consequence": risk.FAILURE})


def unallocated(ctx: Context) -> list[tuple[NodeInfo, Candidate]]:
    """One candidate per node with GPUs that no pod held for at least ``idle_gpu_fraction`` of the time."""
    cfg = ctx.config.decisions
    by_node: dict[str, list] = {}
    for g in ctx.inventory.gpus.values():
        if g.seconds > 0 and g.unallocated_seconds >= cfg.idle_gpu_fraction * g.seconds:
            by_node.setdefault(g.node, []).append(g)
    out = []
    for name, gpus in sorted(by_node.items()):
        node = ctx.inventory.nodes.get(name)
        if node is None:
            continue
        hourly = ctx.pricing.node_hourly(node)
        it = ctx.pricing.instance(node.instance_type)
        if hourly is None or it is None:
            continue
        observed = max(g.seconds for g in gpus)
        share = observed / ctx.inventory.window_seconds
        idle_h = ctx.pricing.pod_hourly(node, 0, 0, len(gpus)) * share
        free = min(g.unallocated_seconds / g.seconds for g in gpus)
        rationale = (f"{len(gpus)} of the {node.gpu_count} {node.gpu_model} GPUs on {name} ({node.instance_type}) were "
                     f"allocated to no pod {pct(free)} of the time: ${idle_h * 730:,.0f}/month paid for nothing; "
                     f"schedule pending GPU work there or move its pods and drop the node.")
        current = {"instance_type": node.instance_type, "capacity_type": node.capacity_type,
                   "gpu_model": node.gpu_model, "gpu_count": len(gpus)}
        proposed = {"instance_type": node.instance_type, "capacity_type": node.capacity_type,
                    "gpu_model": node.gpu_model, "gpu_count": 0}
        # confidence from how long the GPUs were watched; wrong, pending GPU work waits for a node: slower
        hours = observed / 3600
        confidence = risk.history_confidence(hours, ctx.config.demand.full_confidence_days)
        out.append((node, Candidate(ACTION, current, proposed, idle_h, 0.0, rationale,
                                    risk.rate(confidence, risk.SLOWER, ctx.config.risk), frozenset({"release"}),
                                    None, {"gpu_uuids": sorted(g.uuid for g in gpus), "consequence": risk.SLOWER,
                                           "observed_hours": round(hours, 1)})))
    return out

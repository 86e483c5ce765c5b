"""One coherent proposal per workload out of the candidates its decision modules produced.

Rules (a careful engineer's, in order):
1. candidates saving less than ``min_monthly_savings`` are dropped;
2. releasing the GPU (reclaim) and scaling to zero exclude everything else; when both apply, a service
   (a kind scale-to-zero can drive) keeps serving through scale-to-zero, anything else is reclaimed;
3. otherwise the candidate saving most leads, and the others whose kind of change is compatible are
   folded into it: a GPU shape (MIG slice, share, cheaper type) with spot only where the class allows
   spot (the spot candidate exists only then), and right-sized requests with either;
4. moving a model server's tokens to a managed API (``use-managed-api``) replaces the pods, so it merges with
   nothing: it is weighed against the proposal rules 2 and 3 made (a KV-aware downsizing, say) and the one
   that costs less a month wins (for the API, its spend); the other is kept in ``details.alternatives``
   with its cost, so the engineer sees both.
"""

from __future__ import annotations

from dataclasses import replace

from optimizer.decisions.base import RISKS, Candidate, Context
from optimizer.decisions.risk import worst
from optimizer.inventory import Workload

EXCLUSIVE = ("release", "replicas")
COMPATIBLE = {frozenset({"gpu-shape", "market"}), frozenset({"gpu-shape", "requests"}),
              frozenset({"market", "requests"})}


def resolve(w: Workload, candidates: list[Candidate], ctx: Context) -> Candidate | None:
    cfg = ctx.config.decisions
    cands = [c for c in candidates if c is not None and c.hourly_savings * 730 >= cfg.min_monthly_savings]
    managed = [c for c in cands if "managed" in c.tags]
    best = _on_cluster(w, [c for c in cands if "managed" not in c.tags], ctx)
    if not managed:
        return best
    api = min(managed, key=lambda c: c.hourly_proposed)
    if best is None:
        return api
    winner, other = (api, best) if api.hourly_proposed < best.hourly_proposed else (best, api)
    winner.extra.setdefault("alternatives", []).append(_alternative(other))
    return winner


def _alternative(c: Candidate) -> dict:
    return {"action": c.action, "proposed": c.proposed, "monthly_cost_proposed": round(c.hourly_proposed * 730, 2),
            "monthly_savings": round(c.hourly_savings * 730, 2), "risk": c.risk, "rationale": c.rationale}


def _on_cluster(w: Workload, cands: list[Candidate], ctx: Context) -> Candidate | None:
    """Rules 2 and 3: one proposal out of the candidates that keep the workload on the cluster."""
    cfg = ctx.config.decisions
    if not cands:
        return None
    exclusive = [c for c in cands if c.tags & set(EXCLUSIVE)]
    if exclusive:
        by_tag = {t: c for c in exclusive for t in c.tags}
        if "replicas" in by_tag and "release" in by_tag:
            serving = w.kind in cfg.scale_to_zero_kinds
            return by_tag["replicas"] if serving else by_tag["release"]
        return max(exclusive, key=lambda c: c.hourly_savings)
    lead = max(cands, key=lambda c: c.hourly_savings)
    merged = lead
    used = set(lead.tags)
    for other in sorted(cands, key=lambda c: -c.hourly_savings):
        if other is lead or other.tags & used:
            continue
        if not all(frozenset({a, b}) in COMPATIBLE for a in used for b in other.tags):
            continue
        folded = _merge(merged, other, w, ctx)
        if folded is None:
            continue  # the combined shape has no price (a spot quote missing for the new type): keep the lead
        merged = folded
        used |= other.tags
    return merged


def _merge(a: Candidate, b: Candidate, w: Workload, ctx: Context) -> Candidate | None:
    """Fold ``b`` into ``a``: its proposed fields join, and the result is priced by the shape it produces
    (the new instance type's, the slice's or the share's price with the merged requests, in the merged
    market), never by multiplying the two savings' ratios."""
    proposed = {**a.proposed, **{k: v for k, v in b.proposed.items() if k not in a.proposed}}
    current = {**a.current, **{k: v for k, v in b.current.items() if k not in a.current}}
    shape = a.shape
    if shape is not None and b.shape is not None:
        if "market" in b.tags:
            shape = replace(shape, spot_ok=True)
        if "requests" in b.tags:
            shape = replace(shape, cpu=b.shape.cpu, mem=b.shape.mem)
        if "gpu-shape" in b.tags:
            shape = replace(shape, gpus=b.shape.gpus, gpu_milli=b.shape.gpu_milli, mig_profile=b.shape.mig_profile,
                            gpu_model=b.shape.gpu_model)
    market = a.market or b.market
    instance_type = a.instance_type or b.instance_type
    per_node = a.pods_per_node if a.instance_type else b.pods_per_node
    extra = {**b.extra, **a.extra, "merged": [*a.extra.get("merged", []), b.action]}
    if instance_type is not None and shape is not None:
        per_node = _pods_per_node(ctx, w, instance_type, shape, per_node)
    hourly = ctx.shape_hourly(w, shape, market=market, instance_type=instance_type, pods_per_node=per_node,
                              checkpoint_h=extra.get("checkpoint_interval_h")) if shape is not None else None
    if hourly is None:
        return None
    risk = RISKS[max(RISKS.index(a.risk), RISKS.index(b.risk))]
    rationale = a.rationale.rstrip(".") + "; also " + b.rationale[0].lower() + b.rationale[1:]
    if "consequence" in a.extra and "consequence" in b.extra:  # the merged change fails the worst way either can
        extra["consequence"] = worst(a.extra["consequence"], b.extra["consequence"])
    return Candidate(a.action, current, proposed, a.hourly_current, hourly, rationale, risk, a.tags | b.tags, shape,
                     extra, market=market, instance_type=instance_type, pods_per_node=per_node)


def _pods_per_node(ctx: Context, w: Workload, instance_type: str, shape, was: int) -> int:
    """Pods per node of the new type with the merged requests (smaller requests may fit more, never fewer;
    never more than the workload runs)."""
    import math

    from optimizer.solver.adapter import allocatable

    it = ctx.pricing.instance(instance_type)
    if it is None:
        return was
    cpu, mem, _ = allocatable(it)
    gpus = int(it.gpu_count or 0) // max(1, shape.gpus) if shape.gpus else was
    fit = min(gpus, int(cpu // max(shape.cpu, 1e-9)), int(mem // max(shape.mem, 1)))
    want = max(1, math.ceil(ctx.replicas(w) - 1e-9))
    return max(was, min(fit, want))

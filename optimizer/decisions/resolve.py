"""One coherent proposal per workload out of the candidates its decision modules produced.

Rules (a careful engineer's, in order):
1. candidates saving less than ``min_monthly_savings`` are dropped;
2. releasing the GPU (reclaim) and scaling to zero exclude everything else; when both apply, a service
   (a kind scale-to-zero can drive) keeps serving through scale-to-zero, anything else is reclaimed;
3. otherwise the candidate saving most leads, and the others whose kind of change is compatible are
   folded into it: a GPU shape (MIG slice, share, cheaper type) with spot only where the class allows
   spot (the spot candidate exists only then), and right-sized requests with either.
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
        merged = _merge(merged, other)
        used |= other.tags
    return merged


def _merge(a: Candidate, b: Candidate) -> Candidate:
    """Fold ``b`` into ``a``: its proposed fields join, its saving applies as a ratio on top."""
    ratio = b.hourly_proposed / b.hourly_current if b.hourly_current > 0 else 1.0
    proposed = {**a.proposed, **{k: v for k, v in b.proposed.items() if k not in a.proposed}}
    current = {**a.current, **{k: v for k, v in b.current.items() if k not in a.current}}
    shape = a.shape
    if shape is not None and b.shape is not None:
        if "market" in b.tags:
            shape = replace(shape, spot_ok=True)
        if "requests" in b.tags:
            shape = replace(shape, cpu=b.shape.cpu, mem=b.shape.mem)
    risk = RISKS[max(RISKS.index(a.risk), RISKS.index(b.risk))]
    rationale = a.rationale.rstrip(".") + "; also " + b.rationale[0].lower() + b.rationale[1:]
    extra = {**b.extra, **a.extra, "merged": [*a.extra.get("merged", []), b.action]}
    if "consequence" in a.extra and "consequence" in b.extra:  # the merged change fails the worst way either can
        extra["consequence"] = worst(a.extra["consequence"], b.extra["consequence"])
    return Candidate(a.action, current, proposed, a.hourly_current, a.hourly_proposed * ratio, rationale, risk,
                     a.tags | b.tags, shape, extra)

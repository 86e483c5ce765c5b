"""change-instance-type, use-mig-slice and share-gpu: a smaller or cheaper GPU shape for a workload whose
memory and compute need fit it (memory need = max(percentile × (1 + headroom), observed max × (1 + peak
margin)); compute need = activity × current throughput ÷ target utilization, a MIG slice's compute its
share of the GPU's SMs; for classes with the peak check the busiest interval must fit too; margins.py)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

from optimizer.decisions import margins, risk
from optimizer.decisions.base import Candidate, Context, gib, pct
from optimizer.decisions.placement import workload_archs
from optimizer.demand import Demand
from optimizer.inventory import Workload
from optimizer.solver.adapter import allocatable


def _eligible(w: Workload, d: Demand) -> bool:
    return (d.enough_history and d.gpu_mem_need is not None and d.compute_need is not None
            and w.gpus_per_pod >= 1 and not w.mig_profile)


def _capacity_type(ctx: Context, w: Workload) -> str:
    types = Counter(ctx.node_of(p).capacity_type for p in w.pods if ctx.node_of(p))
    return types.most_common(1)[0][0] if types else "on-demand"


def _enough_savings(ctx: Context, current: float, proposed: float) -> bool:
    cfg = ctx.config.decisions
    return current > 0 and (current - proposed) >= cfg.change_min_savings_fraction * current


def _need_text(w: Workload, d: Demand, ctx: Context) -> str:
    policy = ctx.policy(w)
    src = {"sm_active": "SM activity", "gpu_util": "GPU utilization"}.get(d.activity_source or "", "GPU activity")
    return (f"{policy.mem_percentile} GPU memory {gib(d.gpu_mem_observed)} (max {gib(d.gpu_mem_max)}) and "
            f"{policy.activity_percentile} {src} {pct(d.activity)} of {int(w.gpus_per_pod)} {w.gpu_model}")


def mig_slice(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    from optimizer.catalog import canonical_gpu_model, mig_profiles

    if not _eligible(w, d) or w.gpus_per_pod != 1:
        return None
    model = canonical_gpu_model(w.gpu_model)
    if model not in ctx.config.decisions.mig_models:
        return None
    policy = ctx.policy(w)
    # a slice's compute is its share of the GPU's SMs, the same share it is priced at (optimizer/costing.py)
    options = [p for p in mig_profiles(model) if "+" not in p.name and p.compute_slices < 7
               and p.memory_bytes >= d.gpu_mem_need and p.sm_share >= d.compute_need]
    options = [p for p in options if margins.fits_peak(policy, d, p.sm_share)]
    if not options:
        return None
    best = min(options, key=lambda p: (p.sm_share, p.memory_bytes))
    shape = replace(ctx.base_shape(w), gpus=0, mig_profile=best.name)
    current_h, proposed_h = ctx.current_hourly(w), ctx.shape_hourly(w, shape)
    if current_h is None or proposed_h is None or not _enough_savings(ctx, current_h, proposed_h):
        return None
    rationale = (f"{_need_text(w, d, ctx)} need {gib(d.gpu_mem_need)} and {d.compute_need:.2f} of a GPU at the "
                 f"{pct(policy.target_utilization)} target, which a MIG {best.name} slice ({gib(best.memory_bytes)}, "
                 f"{best.sm_count} of the GPU's {best.gpu_sm_count} SMs) provides.")
    rationale = margins.extend(rationale, margins.memory_text(policy, d),
                               margins.peak_text(policy, d, best.sm_share, f"the {best.name} slice"),
                               risk.short_history_note(w, d, ctx.config.risk))
    current = {"gpu_model": model, "gpu_count": 1, "gpu_memory_bytes": w.gpu_memory_bytes, "mig_profile": None}
    proposed = {"gpu_model": model, "gpu_count": 1, "gpu_memory_bytes": best.memory_bytes, "mig_profile": best.name}
    return Candidate("use-mig-slice", current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, risk.FAILURE), frozenset({"gpu-shape"}), shape,
                     {"resource": best.resource_name, "consequence": risk.FAILURE})


def share_gpu(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    from optimizer.catalog import canonical_gpu_model

    cfg = ctx.config.decisions
    if not _eligible(w, d) or w.gpus_per_pod != 1:
        return None
    model = canonical_gpu_model(w.gpu_model)
    if model in cfg.mig_models or (d.activity or 0) > cfg.share_gpu_max_activity or not w.gpu_memory_bytes:
        return None
    fits = [f for f in sorted(cfg.share_gpu_fractions) if f >= d.compute_need and f * w.gpu_memory_bytes >= d.gpu_mem_need
            and margins.fits_peak(ctx.policy(w), d, f)]
    if not fits:
        return None
    f = fits[0]
    shape = replace(ctx.base_shape(w), gpus=0, gpu_milli=int(round(f * 1000)))
    current_h, proposed_h = ctx.current_hourly(w), ctx.shape_hourly(w, shape)
    if current_h is None or proposed_h is None or not _enough_savings(ctx, current_h, proposed_h):
        return None
    policy = ctx.policy(w)
    rationale = (f"{_need_text(w, d, ctx)} need {gib(d.gpu_mem_need)} and {d.compute_need:.2f} of a GPU at the "
                 f"{pct(policy.target_utilization)} target, so a {f:g} time-sliced share of the GPU suffices.")
    rationale = margins.extend(rationale, margins.memory_text(policy, d),
                               margins.peak_text(policy, d, f, f"the {f:g} share"),
                               risk.short_history_note(w, d, ctx.config.risk))
    current = {"gpu_model": model, "gpu_count": 1, "gpu_fraction": 1.0, "gpu_memory_bytes": w.gpu_memory_bytes}
    proposed = {"gpu_model": model, "gpu_count": 1, "gpu_fraction": f, "gpu_memory_bytes": int(f * w.gpu_memory_bytes)}
    # time slicing isolates neither memory nor faults: a neighbour's peak can OOM this pod
    return Candidate("share-gpu", current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, risk.FAILURE), frozenset({"gpu-shape"}), shape,
                     {"consequence": risk.FAILURE})


def change_instance_type(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    from optimizer.catalog import canonical_gpu_model, relative_throughput

    if not _eligible(w, d):
        return None
    model = canonical_gpu_model(w.gpu_model)
    if model is None:
        return None
    gpus = int(w.gpus_per_pod)
    per_gpu_mem = d.gpu_mem_need / gpus
    market = _capacity_type(ctx, w)
    cpu_req, mem_req = w.cpu_request(), w.mem_request()
    replicas = ctx.replicas(w)
    want = max(1, math.ceil(replicas - 1e-9))
    best = None
    current_nodes = {ctx.node_of(p).instance_type for p in w.pods if ctx.node_of(p)}
    policy = ctx.policy(w)
    region = ctx.region_of(w)  # candidates are priced where the nodes they would replace run
    archs = workload_archs(w, ctx)  # an x86 image does not move to a Graviton GPU type (g5g)
    for it in ctx.catalog.instance_types(region=region):
        if not it.gpu_model or it.gpu_count != int(it.gpu_count) or int(it.gpu_count) < gpus:
            continue
        if archs is not None and it.arch not in archs:
            continue
        if it.gpu_memory_bytes < per_gpu_mem or it.name in current_nodes:
            continue
        rel = relative_throughput(model, it.gpu_model) if it.gpu_model != model else 1.0
        if rel * gpus < d.compute_need or not margins.fits_peak(policy, d, rel * gpus):
            continue
        if not margins.latency_allowed(policy, margins.latency_factor(rel)):
            continue  # each request would take too many times as long for this class
        price = ctx.pricing.type_hourly(it.name, market, region)
        if price is None:
            continue
        cpu_alloc, mem_alloc, _ = allocatable(it)
        per_node = min(int(it.gpu_count) // gpus, int(cpu_alloc // max(cpu_req, 1e-9)),
                       int(mem_alloc // max(mem_req, 1)), want)
        if per_node < 1:
            continue
        per_pod = price / per_node
        hourly = per_pod * replicas
        if best is None or hourly < best[0]:
            best = (hourly, it, rel, per_node, price)
    if best is None:
        return None
    _, it, rel, per_node, price = best
    shape = replace(ctx.base_shape(w), gpu_model=it.gpu_model)
    proposed_h = ctx.shape_hourly(w, shape, instance_type=it.name, pods_per_node=per_node, market=market)
    current_h = ctx.current_hourly(w)
    if proposed_h is None:
        return None
    if current_h is None or not _enough_savings(ctx, current_h, proposed_h):
        return None
    policy = ctx.policy(w)
    cur_types = ", ".join(sorted(t for t in current_nodes if t))
    rationale = (f"{_need_text(w, d, ctx)} need {gib(per_gpu_mem)} per GPU and {d.compute_need:.2f} {model} GPUs at the "
                 f"{pct(policy.target_utilization)} target; {it.name} ({int(it.gpu_count)}× {it.gpu_model}, "
                 f"{gib(it.gpu_memory_bytes)}, {rel:.2f}× the throughput) holds {per_node} pod(s) per node at "
                 f"${price:.2f}/h instead of a share of {cur_types}.")
    factor = margins.latency_factor(rel)
    latency = ""
    if it.gpu_model != model:
        limit = (f", within this class's limit of {policy.max_latency_factor:g}×" if policy.max_latency_factor
                 else "")
        latency = (f"{it.gpu_model} has {rel:.2f}× the throughput of {model}, so a compute-bound request takes "
                   f"about {factor:.1f}× as long{limit}")
    rationale = margins.extend(rationale, latency, margins.memory_text(policy, d),
                               margins.peak_text(policy, d, rel * gpus, it.name),
                               risk.short_history_note(w, d, ctx.config.risk))
    # less GPU memory per GPU than now: an estimate too low is an OOM; otherwise slower requests
    consequence = risk.FAILURE if it.gpu_memory_bytes < (w.gpu_memory_bytes or 0) else risk.SLOWER
    current = {"instance_type": cur_types, "capacity_type": market, "gpu_model": model, "gpu_count": gpus,
               "gpu_memory_bytes": w.gpu_memory_bytes}
    proposed = {"instance_type": it.name, "capacity_type": market, "gpu_model": it.gpu_model, "gpu_count": gpus,
                "gpu_memory_bytes": it.gpu_memory_bytes}
    return Candidate("change-instance-type", current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, consequence), frozenset({"gpu-shape"}), shape,
                     {"node_selector": it.name, "consequence": consequence, "throughput_ratio": round(rel, 3),
                      "latency_factor": round(factor, 2)},
                     instance_type=it.name, pods_per_node=per_node)

"""use-spot: restartable batch and training work of classes that allow it moves to spot capacity, priced
at the expected cost with rework (interruption band × checkpoint interval, catalog.cost)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

from optimizer.decisions import risk
from optimizer.decisions.base import Candidate, Context
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "use-spot"


def parse_interval_h(raw) -> float | None:
    """A checkpoint interval: "30m", "2h", "90s" or a bare number of minutes; None when it is not one."""
    text = str(raw or "").strip().lower()
    factor = {"s": 1 / 3600, "m": 1 / 60, "h": 1.0}.get(text[-1:])
    try:
        value = float(text[:-1]) * factor if factor else float(text) / 60
    except ValueError:
        return None
    return value if value > 0 else None


def checkpoint_hours(w: Workload, ctx: Context) -> tuple[float, str, bool]:
    """(interval hours, how it is known, whether it is stated) from the workload's annotation or label
    ``rightsizer.io/checkpoint-interval`` (or the older ``...-minutes``), else the assumed default."""
    cfg = ctx.config.decisions
    for key in (cfg.checkpoint_annotation, *cfg.checkpoint_annotation_aliases):
        hours = parse_interval_h(w.labels.get(key))
        if hours is not None:
            return hours, f"checkpoint every {hours * 60:g} min ({key})", True
    return (cfg.default_checkpoint_interval_h,
            f"checkpoint every {cfg.default_checkpoint_interval_h * 60:g} min assumed (no {cfg.checkpoint_annotation})",
            False)


def run_hours(w: Workload) -> float:
    """The observed run length of one pod (the median): a run shorter than the checkpoint interval loses at
    most what it ran, so rework is bounded by it."""
    runs = sorted(p.seconds for p in w.pods if p.seconds > 0)
    return runs[len(runs) // 2] / 3600 if runs else 0.0


def fallback_types(ctx: Context, current: str, region: str, on_demand_hourly: float) -> list[str]:
    """Instance types with the same GPU model and count per node as ``current`` whose spot price is known in
    the region and below today's on-demand price: where the scheduler may go when ``current`` has no spot
    capacity, each still cheaper than today."""
    it = ctx.pricing.instance(current)
    if it is None or not it.gpu_model:
        return [current]
    out = [current]
    for other in ctx.catalog.instance_types(region=region):
        if other.name == current or other.gpu_model != it.gpu_model or other.gpu_count != it.gpu_count:
            continue
        if other.vcpu < it.vcpu or other.memory_bytes < it.memory_bytes:
            continue  # the pods must still fit
        price = ctx.pricing.type_hourly(other.name, "spot", region)
        if price is not None and price < on_demand_hourly:
            out.append(other.name)
    return sorted(out)


def eligible(w: Workload, ctx: Context) -> bool:
    cfg = ctx.config.decisions
    if not ctx.policy(w).spot_allowed:
        return False
    text = " ".join(x or "" for x in (w.name, w.use_case, w.project))
    return w.kind in cfg.spot_kinds or bool(re.search(cfg.spot_training_pattern, text, re.IGNORECASE))


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    if not eligible(w, ctx):
        return None
    on_demand = [p for p in w.pods if ctx.node_of(p) and ctx.node_of(p).capacity_type != "spot"]
    if not on_demand or sum(p.seconds for p in on_demand) < 0.5 * w.pod_seconds:
        return None  # already (mostly) on spot
    hours, how, stated = checkpoint_hours(w, ctx)
    run_h = run_hours(w)
    if w.kind in ("Job", "CronJob") and 0 < run_h < hours:
        hours, how = run_h, f"{how}; runs last {run_h:.1f} h, so an interruption loses at most that"
    current_h = ctx.current_hourly(w)
    if current_h is None:
        return None
    bands, types = set(), set()
    for p in on_demand:
        node = ctx.node_of(p)
        region = node.region or ctx.config.region
        it = ctx.pricing.instance(node.instance_type)
        if it is None or ctx.spot_expected(node.instance_type, region, hours) is None:
            return None  # no spot price where the node runs: nothing to compare, never a guess
        bands.add(it.interruption_band.get(region) or "unknown")
        types.add(node.instance_type)
    shape = replace(ctx.base_shape(w), spot_ok=True)
    proposed_h = ctx.shape_hourly(w, shape, market="spot", checkpoint_h=hours)
    if proposed_h is None:
        return None
    if proposed_h >= current_h:
        return None
    policy = ctx.policy(w)
    replicated = ctx.replicas(w) > 1.5 and w.kind not in ("Job", "CronJob")
    fraction = 1.0 if policy.spot_preferred or not replicated else ctx.config.decisions.max_spot_fraction_replicated
    from optimizer.catalog.cost import hourly_interruption_rate

    region = ctx.region_of(w)
    allowed = sorted({t for cur in types
                      for t in fallback_types(ctx, cur, region,
                                              ctx.pricing.type_hourly(cur, "on-demand", region) or 0.0)})
    hazard = max(hourly_interruption_rate(b if b != "unknown" else None) for b in bands)
    span = run_h if run_h > 0 else hours
    rationale = (f"{w.kind} of class {w.value_class.name} on on-demand {', '.join(sorted(types))}: spot costs "
                 f"{100 * (1 - proposed_h / current_h):.0f} % less at the expected price with rework "
                 f"(interruption band {', '.join(sorted(bands))}: {hazard:.4f} interruptions per instance-hour, "
                 f"so a {span:.1f}-h run is interrupted with probability {1 - math.exp(-hazard * span):.0%}; {how}), "
                 f"preferring spot on {', '.join(allowed)} and falling back to on-demand when spot has no capacity.")
    current = {"capacity_type": "on-demand", "instance_type": ", ".join(sorted(types))}
    # every type the pods may use (same GPU model and count; each cheaper on spot than today's on-demand);
    # priced at today's types' expected spot price (the cost model's), the others only widen capacity
    proposed = {"capacity_type": "spot", "instance_type": ", ".join(allowed)}
    # an interruption restarts the job from its last checkpoint: bounded only when the interval is stated
    # (not assumed) and interruptions are rare (an Advisor band under 10 %)
    bounded = stated and all(b in ("<5%", "5-10%") for b in bands)
    rated = risk.for_workload(ctx, w, d, risk.RESTART, bounded=bounded, downsizing=False)
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale, rated, frozenset({"market"}),
                     shape, {"max_spot_fraction": fraction, "checkpoint_interval_h": hours,
                             "checkpoint_interval_stated": stated, "run_hours": round(run_h, 2),
                             "interruptions_per_instance_hour": round(hazard, 6), "consequence": risk.RESTART},
                     market="spot")

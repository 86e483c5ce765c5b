"""use-spot: restartable batch and training work of classes that allow it moves to spot capacity, priced
at the expected cost with rework (interruption band × checkpoint interval, catalog.cost)."""

from __future__ import annotations

import re
from dataclasses import replace

from optimizer.decisions import risk
from optimizer.decisions.base import Candidate, Context
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "use-spot"


def checkpoint_hours(w: Workload, ctx: Context) -> tuple[float, str]:
    cfg = ctx.config.decisions
    raw = w.labels.get(cfg.checkpoint_annotation)
    try:
        minutes = float(raw)
        if minutes > 0:
            return minutes / 60, f"checkpoint every {minutes:g} min ({cfg.checkpoint_annotation})"
    except (TypeError, ValueError):
        pass
    return cfg.default_checkpoint_interval_h, f"checkpoint every {cfg.default_checkpoint_interval_h * 60:g} min assumed"


def eligible(w: Workload, ctx: Context) -> bool:
    cfg = ctx.config.decisions
    if not ctx.policy(w).spot_allowed:
        return False
    text = " ".join(x or "" for x in (w.name, w.use_case, w.project))
    return w.kind in cfg.spot_kinds or bool(re.search(cfg.spot_training_pattern, text, re.IGNORECASE))


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    from optimizer.catalog.cost import spot_expected_hourly

    if not eligible(w, ctx):
        return None
    on_demand = [p for p in w.pods if ctx.node_of(p) and ctx.node_of(p).capacity_type != "spot"]
    if not on_demand or sum(p.seconds for p in on_demand) < 0.5 * w.pod_seconds:
        return None  # already (mostly) on spot
    hours, how = checkpoint_hours(w, ctx)
    current_h = ctx.current_hourly(w)
    if current_h is None:
        return None
    proposed_h = 0.0
    bands, types = set(), set()
    for p in w.pods:
        node = ctx.node_of(p)
        share = ctx.pricing.pod_hourly(node, w.cpu_request(), w.mem_request(), len(p.gpus))
        if share is None:
            return None
        weight = p.seconds / ctx.inventory.window_seconds
        if node.capacity_type == "spot":
            proposed_h += share * weight
            continue
        it = ctx.pricing.instance(node.instance_type)
        od = ctx.pricing.hourly(node.instance_type, "on-demand", node.region)
        spot = ctx.catalog.price(node.instance_type, region=node.region or ctx.config.region, capacity_type="spot")
        if it is None or not od or spot is None:
            return None
        band = it.interruption_band.get(node.region or ctx.config.region)
        expected = spot_expected_hourly(spot, band, hours)
        bands.add(band or "unknown")
        types.add(node.instance_type)
        proposed_h += share * expected / od * weight
    if proposed_h >= current_h:
        return None
    policy = ctx.policy(w)
    replicated = ctx.replicas(w) > 1.5 and w.kind not in ("Job", "CronJob")
    fraction = 1.0 if policy.spot_preferred or not replicated else ctx.config.decisions.max_spot_fraction_replicated
    rationale = (f"{w.kind} of class {w.value_class.name} on on-demand {', '.join(sorted(types))}: spot costs "
                 f"{100 * (1 - proposed_h / current_h):.0f} % less at the expected price with rework "
                 f"(interruption band {', '.join(sorted(bands))}, {how}).")
    current = {"capacity_type": "on-demand", "instance_type": ", ".join(sorted(types))}
    proposed = {"capacity_type": "spot", "instance_type": ", ".join(sorted(types))}
    # an interruption restarts the job from its last checkpoint: bounded only when the interval is stated
    # (not assumed) and interruptions are rare (an Advisor band under 10 %)
    stated = ctx.config.decisions.checkpoint_annotation in w.labels and "assumed" not in how
    bounded = stated and all(b in ("<5%", "5-10%") for b in bands)
    rated = risk.for_workload(ctx, w, d, risk.RESTART, bounded=bounded, downsizing=False)
    shape = replace(ctx.base_shape(w), spot_ok=True)
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale, rated, frozenset({"market"}),
                     shape, {"max_spot_fraction": fraction, "checkpoint_interval_h": hours,
                             "consequence": risk.RESTART})

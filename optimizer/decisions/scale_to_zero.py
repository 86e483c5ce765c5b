"""scale-to-zero: inference that is busy a small share of the time in bursts with long idle stretches
runs only when requests come (KEDA / Knative), paying a cold start per burst."""

from __future__ import annotations

from dataclasses import replace

from optimizer.decisions import risk
from optimizer.decisions.base import Candidate, Context, pct
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "scale-to-zero"


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    cfg = ctx.config.decisions
    if w.kind not in cfg.scale_to_zero_kinds or not ctx.policy(w).scale_to_zero_allowed:
        return None
    if not d.enough_history or d.duty_cycle is None or not w.gpus_per_pod:
        return None
    if d.duty_cycle > cfg.scale_to_zero_max_duty_cycle or d.max_idle_run_s < cfg.scale_to_zero_min_idle_run_h * 3600:
        return None
    current_h = ctx.current_hourly(w)
    if current_h is None or w.pod_seconds <= 0:
        return None
    per_burst = cfg.cold_start_s + cfg.scale_to_zero_idle_timeout_s
    active = min(1.0, d.duty_cycle + d.burst_count * per_burst / w.pod_seconds)
    proposed_h = current_h * active
    if proposed_h >= current_h:
        return None
    replicas = max(1, round(ctx.replicas(w)))
    rationale = (f"The GPU was busy {pct(d.duty_cycle)} of {d.history_hours:.0f} h in {d.burst_count} bursts "
                 f"(mean {d.mean_burst_s / 60:.0f} min) with idle stretches up to {d.max_idle_run_s / 3600:.1f} h; "
                 f"running only while requests arrive, with a {cfg.cold_start_s / 60:.0f}-min cold start and "
                 f"{cfg.scale_to_zero_idle_timeout_s / 60:.0f}-min cool-down per burst, keeps it up {pct(active)} of the time.")
    current = {"min_replicas": replicas}
    proposed = {"min_replicas": 0}
    shape = replace(ctx.base_shape(w), replicas=active)
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, risk.RESTART), frozenset({"replicas"}), shape,
                     {"active_fraction": active, "max_replicas": replicas, "consequence": risk.RESTART})

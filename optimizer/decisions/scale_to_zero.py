"""scale-to-zero: inference that is busy a small share of the time in bursts with long idle stretches
runs only when requests come, paying a cold start per burst (docs/recommendations.md, Scale to zero).

The trigger keeps the promise the saving makes:
- **request-driven** by default: the KEDA HTTP add-on's interceptor holds requests while the workload is
  at zero and scales it up on the first one; up = busy time + per burst (cold start + cool-down);
- **cron** only when the active hours are regular (every observed day busy in exactly the same hours of
  the day, UTC): up = those hours + one cool-down per window, exactly what the KEDA cron trigger does;
- **idle culling** for notebooks (by kind or a use-case/name/label match): a notebook has no request
  endpoint to wake it, so its platform's culler stops it after the cool-down and the user restarts it.
The cool-down is ``scale_to_zero_idle_timeout_s`` in the cost and in the YAML (``cooldownPeriod`` /
``scaledownPeriod``). The cold start is ``cold_start_s`` plus the model's weights (the observed GPU memory
maximum) loaded at ``model_load_bytes_per_s``, and stated."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from optimizer.decisions import risk
from optimizer.decisions.base import Candidate, Context, pct
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "scale-to-zero"
HTTP, CRON, CULL = "http", "cron", "idle-culling"


@dataclass
class Uptime:
    trigger: str
    active_fraction: float  # of the time the workload is up (paid) under this trigger
    cold_start_s: float
    windows: list[tuple[int, int]]  # cron: [start, end) UTC hours


def is_notebook(w: Workload, ctx: Context) -> bool:
    if w.kind in ("Notebook",):  # Kubeflow's notebook custom resource
        return True
    text = " ".join(str(x or "") for x in (w.name, w.use_case, *w.labels.values()))
    return bool(re.search(ctx.config.decisions.notebook_pattern, text, re.IGNORECASE))


def cold_start_s(d: Demand, ctx: Context) -> float:
    cfg = ctx.config.decisions
    return cfg.cold_start_s + (d.gpu_mem_max or 0) / cfg.model_load_bytes_per_s


def regular_windows(hour_of_week, idle_activity: float, max_hours: int) -> list[tuple[int, int]] | None:
    """Contiguous [start, end) UTC hour windows when every observed day was busy in exactly the same hours
    of the day (at most ``max_hours`` of them); None when the hours are irregular or unknown."""
    if hour_of_week is None:
        return None
    how = np.asarray(hour_of_week, dtype=float).reshape(7, 24)
    days = [row for row in how if not np.all(np.isnan(row))]
    if len(days) < 2:
        return None  # one day shows no regularity
    busy = [frozenset(int(h) for h in np.flatnonzero(np.nan_to_num(row, nan=0.0) >= idle_activity)) for row in days]
    hours = busy[0]
    if not hours or len(hours) > max_hours or any(b != hours for b in busy):
        return None
    return hour_windows(hours)


def hour_windows(hours) -> list[tuple[int, int]]:
    """Contiguous [start, end) windows of the given hours (not wrapping midnight)."""
    out: list[tuple[int, int]] = []
    for h in sorted(hours):
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + 1)
        else:
            out.append((h, h + 1))
    return out


def uptime(w: Workload, d: Demand, ctx: Context) -> Uptime:
    from optimizer.config import DEFAULT_PROFILE_CONFIG

    cfg = ctx.config.decisions
    cold = cold_start_s(d, ctx)
    per_burst = cold + cfg.scale_to_zero_idle_timeout_s
    request_driven = min(1.0, d.duty_cycle + d.burst_count * per_burst / w.pod_seconds)
    if is_notebook(w, ctx):
        return Uptime(CULL, request_driven, cold, [])
    windows = regular_windows(d.hour_of_week, DEFAULT_PROFILE_CONFIG.idle_threshold, cfg.cron_max_hours)
    if windows:
        up_s = sum(b - a for a, b in windows) * 3600 + len(windows) * cfg.scale_to_zero_idle_timeout_s
        return Uptime(CRON, min(1.0, up_s / 86400), cold, windows)
    return Uptime(HTTP, request_driven, cold, [])


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
    # the active fraction is the trigger's own (the hours its YAML keeps the workload up), priced by the
    # cost model in that shape
    plan = uptime(w, d, ctx)
    active = plan.active_fraction
    shape = replace(ctx.base_shape(w), replicas=active)
    proposed_h = ctx.shape_hourly(w, shape)
    if proposed_h is None or proposed_h >= current_h:
        return None
    replicas = max(1, round(ctx.replicas(w)))
    how = {HTTP: (f"running only while requests arrive (the KEDA HTTP add-on holds them while at zero), "
                  f"with a {plan.cold_start_s / 60:.1f}-min cold start ({cfg.cold_start_s / 60:.0f} min to start plus "
                  f"{(d.gpu_mem_max or 0) / 2**30:.1f} GiB of weights to load) and "
                  f"{cfg.scale_to_zero_idle_timeout_s / 60:.0f}-min cool-down per burst"),
           CRON: (f"running only in its regular busy hours {', '.join(f'{a:02d}-{b:02d}' for a, b in plan.windows)} "
                  f"UTC plus a {cfg.scale_to_zero_idle_timeout_s / 60:.0f}-min cool-down each (KEDA cron), requests "
                  f"outside them finding no pod, and a {plan.cold_start_s / 60:.1f}-min cold start at each start"),
           CULL: (f"stopping the notebook after {cfg.scale_to_zero_idle_timeout_s / 60:.0f} min idle with its "
                  f"platform's culler and restarting it on use (a {plan.cold_start_s / 60:.1f}-min cold start)")}
    rationale = (f"The GPU was busy {pct(d.duty_cycle)} of {d.history_hours:.0f} h in {d.burst_count} bursts "
                 f"(mean {d.mean_burst_s / 60:.0f} min) with idle stretches up to {d.max_idle_run_s / 3600:.1f} h; "
                 f"{how[plan.trigger]} keeps it up {pct(active)} of the time.")
    current = {"min_replicas": replicas}
    proposed = {"min_replicas": 0}
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, risk.RESTART), frozenset({"replicas"}), shape,
                     {"active_fraction": active, "max_replicas": replicas, "consequence": risk.RESTART,
                      "trigger": plan.trigger, "cooldown_s": cfg.scale_to_zero_idle_timeout_s,
                      "cold_start_s": round(plan.cold_start_s, 1),
                      "cron_windows_utc": [list(x) for x in plan.windows]})

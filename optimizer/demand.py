"""Demand per workload from profiles (docs/recommendations.md): what it needs of GPU memory, GPU compute, CPU and memory,
with the policy of its value class applied, and how much the history can be trusted."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.config import DemandConfig, ValueClassPolicy
from optimizer.inventory import Inventory, Workload


@dataclass
class ContainerDemand:
    name: str
    cpu_observed: float  # the CPU percentile (max over pods), cores
    mem_observed: int  # max working set over pods, bytes
    cpu_need: float  # proposed request
    mem_need: int


@dataclass
class Demand:
    history_hours: float
    samples: int
    confidence: float
    enough_history: bool
    activity_source: str | None = None  # sm_active | gpu_util | mixed
    activity: float | None = None  # the policy percentile of GPU activity (fraction of the pod's GPUs)
    activity_max: float | None = None
    idle_fraction: float | None = None
    duty_cycle: float | None = None
    burst_count: int = 0
    mean_burst_s: float = 0.0
    max_idle_run_s: float = 0.0
    gpu_mem_observed: int | None = None  # policy percentile of GPU memory per pod
    gpu_mem_max: int | None = None
    gpu_mem_need: int | None = None  # per pod: max(percentile × (1 + headroom), max × (1 + peak margin))
    compute_need: float | None = None  # in GPUs of the current model: activity × GPUs ÷ target
    peak_compute_need: float | None = None  # the busiest interval's: peak activity × GPUs (at 100 %)
    containers: dict[str, ContainerDemand] = field(default_factory=dict)
    hour_of_week: object = None  # 168 mean GPU activities, Monday 00:00 first (NaN: no data), or None
    # a model server's KV-cache-aware memory (optimizer/llm/kv_sizing.py): gpu_mem_* are its figures, not NVML's
    kv: object = None


def _round_up(x: float, step: float) -> float:
    return math.ceil(x / step - 1e-9) * step


def _pct(stats, name: str) -> float:
    return float(getattr(stats, name))


def workload_demand(w: Workload, inv: Inventory, profiles, container_stats: dict, policy: ValueClassPolicy,
                    cfg: DemandConfig) -> Demand:
    """``profiles`` is the workload-level ProfileSet; ``container_stats`` maps container name ->
    (cpu MetricStats list, mem MetricStats list) over the workload's pods."""
    firsts = [p.first_ms for p in w.pods if p.first_ms is not None]
    lasts = [p.last_ms for p in w.pods if p.last_ms is not None]
    span_h = (max(lasts) - min(firsts)) / 3.6e6 + inv.interval_s / 3600 if firsts else 0.0
    active_h = w.pod_seconds / 3600  # pod-hours
    cpu = profiles.stats(w.key, "cpu_cores")
    samples = cpu.samples if cpu else 0
    # history: how long the workload was observed running (wall hours with pods), capped by the span
    history_h = min(span_h, active_h) if w.kind in ("Job", "CronJob") else span_h
    confidence = max(0.0, min(1.0, history_h / (cfg.full_confidence_days * 24),
                              samples / max(1, cfg.full_confidence_samples)))
    d = Demand(history_hours=history_h, samples=samples, confidence=round(confidence, 3),
               enough_history=history_h >= cfg.min_history_hours)

    act = profiles.stats(w.key, "gpu_activity")
    if act is not None and act.samples:
        d.activity_source = profiles.activity_source(w.key)
        d.activity = _pct(act, policy.activity_percentile)
        d.activity_max = act.max
        d.idle_fraction = act.idle_fraction
        d.duty_cycle = act.duty_cycle
        d.burst_count = act.burst_count
        d.mean_burst_s = act.mean_burst_s
        d.max_idle_run_s = act.max_idle_run_s
        if hasattr(profiles, "hour_of_week"):
            d.hour_of_week = profiles.hour_of_week(w.key, "gpu_activity")
    mem = profiles.stats(w.key, "gpu_mem_bytes")
    if mem is not None and mem.samples:
        d.gpu_mem_observed = int(_pct(mem, policy.mem_percentile))
        d.gpu_mem_max = int(mem.max)
        d.gpu_mem_need = int(math.ceil(max(d.gpu_mem_observed * (1 + policy.mem_headroom),
                                           mem.max * (1 + policy.mem_peak_margin))))
    gpus = w.gpus_per_pod
    if d.activity is not None and gpus:
        d.compute_need = d.activity * gpus / policy.target_utilization
        if d.activity_max is not None:
            d.peak_compute_need = d.activity_max * gpus

    for name, (cpu_list, mem_list) in container_stats.items():
        cpu_obs = max((_pct(s, cfg.cpu_percentile) for s in cpu_list), default=0.0)
        mem_obs = int(max((s.max for s in mem_list), default=0))
        cpu_need = max(cfg.min_cpu_cores, _round_up(cpu_obs * (1 + cfg.cpu_margin), cfg.cpu_round_cores))
        mem_need = int(max(cfg.min_mem_bytes, _round_up(mem_obs * (1 + cfg.mem_margin), cfg.mem_round_bytes)))
        d.containers[name] = ContainerDemand(name, cpu_obs, mem_obs, round(cpu_need, 3), mem_need)
    return d


# The decisions read the container level for CPU and memory only: its profiles need not carry GPU metrics
# (``compute_profiles_many(tables=...)``; a quarter of the profile work of a recommend run).
CONTAINER_PROFILE_TABLES = {"container": ("container",)}


def container_stats_by_workload(inv: Inventory, container_profiles) -> dict:
    """{workload key: {container: ([cpu stats per pod], [mem stats per pod])}} from a container ProfileSet."""
    out: dict = {}
    keys = container_profiles.keys()
    for key in keys:
        ns, pod, container = key
        wk = inv.pod_workload.get((ns, pod))
        if wk is None:
            continue
        cpu = container_profiles.stats(key, "cpu_cores")
        mem = container_profiles.stats(key, "mem_bytes")
        slot = out.setdefault(wk, {}).setdefault(container, ([], []))
        if cpu is not None and cpu.samples:
            slot[0].append(cpu)
        if mem is not None and mem.samples:
            slot[1].append(mem)
    return out


def risk_from_confidence(confidence: float, low: float = 0.7, medium: float = 0.35) -> str:
    """The confidence band of the risk rule (optimizer.decisions.risk; thresholds in RiskConfig)."""
    return "low" if confidence >= low else "medium" if confidence >= medium else "high"

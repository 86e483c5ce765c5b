"""rightsize-requests: CPU and memory requests down to what the containers use (KRR/VPA-style), and the
GPU count of pods that hold GPUs they never use."""

from __future__ import annotations

import math
from dataclasses import replace

from optimizer.decisions import margins, risk
from optimizer.decisions.base import Candidate, Context, gib
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "rightsize-requests"


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    cfg = ctx.config.decisions
    if not d.enough_history or not d.containers:
        return None
    proposal = {}
    for c in w.containers:
        need = d.containers.get(c.name)
        # only downward: an under-requested container is a reliability issue, not a saving
        cpu = min(c.cpu_request, need.cpu_need) if need and c.cpu_request else c.cpu_request
        mem = min(c.mem_request, need.mem_need) if need and c.mem_request else c.mem_request
        proposal[c.name] = (cpu, mem)
    cur_cpu, cur_mem = w.cpu_request(), w.mem_request()
    new_cpu = sum(v[0] or 0.0 for v in proposal.values())
    new_mem = sum(v[1] or 0 for v in proposal.values())
    cpu_cut, mem_cut = cur_cpu - new_cpu, cur_mem - new_mem
    cpu_ok = cur_cpu > 0 and cpu_cut >= cfg.rightsize_min_cpu_cores and cpu_cut / cur_cpu >= cfg.rightsize_min_reduction
    mem_ok = cur_mem > 0 and mem_cut >= cfg.rightsize_min_mem_bytes and mem_cut / cur_mem >= cfg.rightsize_min_reduction
    gpus = int(w.gpus_per_pod or 0)
    new_gpus = gpus
    if gpus >= 2 and d.compute_need is not None and d.gpu_mem_need and w.gpu_memory_bytes:
        new_gpus = max(1, math.ceil(d.compute_need - 1e-9), math.ceil(d.gpu_mem_need / w.gpu_memory_bytes))
        while not margins.fits_peak(ctx.policy(w), d, new_gpus) and new_gpus < gpus:
            new_gpus += 1  # the busiest interval must fit too (classes with the peak check)
    gpu_ok = new_gpus < gpus
    if not (cpu_ok or mem_ok or gpu_ok):
        return None
    per_container = {c.name: {"cpu_request": proposal[c.name][0] if cpu_ok else c.cpu_request,
                              "mem_request": proposal[c.name][1] if mem_ok else c.mem_request}
                     for c in w.containers}
    new_cpu = sum(v["cpu_request"] or 0.0 for v in per_container.values())
    new_mem = sum(v["mem_request"] or 0 for v in per_container.values())
    shape = replace(ctx.base_shape(w), cpu=new_cpu, mem=int(new_mem))
    if gpu_ok:
        shape = replace(shape, gpus=new_gpus)
    current_h, proposed_h = ctx.current_hourly(w), ctx.shape_hourly(w, shape)
    if current_h is None or proposed_h is None:
        return None
    cpu_obs = sum(x.cpu_observed for x in d.containers.values())
    mem_obs = sum(x.mem_observed for x in d.containers.values())
    parts = []
    if cpu_ok:
        parts.append(f"CPU {cur_cpu:g} → {new_cpu:g} cores (p95 use {cpu_obs:.2f} cores + 15 %)")
    if mem_ok:
        parts.append(f"memory {gib(cur_mem)} → {gib(new_mem)} (peak working set {gib(mem_obs)} + 15 %)")
    if gpu_ok:
        parts.append(f"GPUs {gpus} → {new_gpus} (p95 activity {d.activity:.0%} of {gpus} GPUs, memory need {gib(d.gpu_mem_need)})")
    rationale = (f"Over {d.history_hours:.0f} h the containers used far less than requested: "
                 + "; ".join(parts) + ".")
    if gpu_ok:
        rationale = margins.extend(rationale, margins.memory_text(ctx.policy(w), d),
                                   margins.peak_text(ctx.policy(w), d, new_gpus, f"{new_gpus} GPUs"))
    rationale = margins.extend(rationale, risk.short_history_note(w, d, ctx.config.risk))
    # memory below need is an OOM kill; fewer GPUs hold less GPU memory; CPU below need only slows
    consequence = risk.FAILURE if mem_ok or gpu_ok else risk.SLOWER
    current = {"cpu_request": round(cur_cpu, 3), "mem_request": int(cur_mem)}
    proposed = {"cpu_request": round(new_cpu, 3), "mem_request": int(new_mem),
                # per container (an extension of the contract), so a patch sets each one exactly
                "containers": {k: {"cpu_request": v["cpu_request"], "mem_request": v["mem_request"]}
                               for k, v in per_container.items()}}
    if gpu_ok:
        current["gpu_count"], proposed["gpu_count"] = gpus, new_gpus
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, consequence), frozenset({"requests"}), shape,
                     {"consequence": consequence})

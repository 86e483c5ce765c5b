"""truth.json: what the simulated cluster really is and what a correct optimizer should propose for it."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from simulator.facts import WorkloadFacts
from simulator.manifests import manifest_path, replicas
from simulator.plan import DAY_S, Plan, PodPlan
from simulator.shapes import SHAPES

TRUTH_FORMAT = 1
BUDGET_HEADROOM = 1.10  # budgets hinted 10 % above each team's normal run-rate; the spike team gets none
DAYS_PER_MONTH = 730 / 24
TOKEN_BUDGET_HEADROOM = 1.30  # token budgets: a steady month projects to 77 % of them, under the warning line


def _iso(ts: datetime | int) -> str:
    if isinstance(ts, int):
        ts = datetime.fromtimestamp(ts, tz=UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_hourly_cost(pod: PodPlan) -> float:
    """The pod's share of its node's price: GPUs held, else the larger of its CPU and memory shares."""
    shape = pod.node.shape
    price = shape.hourly(pod.node.capacity_type)
    w = pod.workload
    if w.gpus_per_pod:
        return price * w.gpus_per_pod / shape.gpu_count
    cpu = sum(c.cpu_request for c in w.template.containers) / shape.vcpu
    mem = sum(c.mem_request for c in w.template.containers) / shape.memory_bytes
    return price * max(cpu, mem)


def team_days(plan: Plan) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per team and day: GPU-hours allocated and cost (USD) of the pods' shares of their nodes."""
    gpu_h: dict[str, list[float]] = defaultdict(lambda: [0.0] * plan.days)
    cost: dict[str, list[float]] = defaultdict(lambda: [0.0] * plan.days)
    for w in plan.workloads:
        for pod in w.pods:
            hourly = pod_hourly_cost(pod)
            for day in range(plan.days):
                d0 = plan.start_s + day * DAY_S
                hours = max(0, min(pod.end_s, d0 + DAY_S) - max(pod.start_s, d0)) / 3600
                gpu_h[w.team][day] += hours * w.gpus_per_pod
                cost[w.team][day] += hours * hourly
    return dict(gpu_h), dict(cost)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def build_truth(plan: Plan, facts: dict[int, WorkloadFacts]) -> dict:
    gpu_h, cost = team_days(plan)
    spike = None
    spike_team = None
    if plan.spike_day is not None:
        spike_w = next(w for w in plan.workloads if w.template.use_case == "hyperparameter-search")
        spike_team = spike_w.team
        others = [d for d in range(plan.days) if d != plan.spike_day]
        base_h = _median([gpu_h[spike_team][d] for d in others])
        base_c = _median([cost[spike_team][d] for d in others])
        spike = {
            "team": spike_team,
            "date": (plan.start + timedelta(days=plan.spike_day)).strftime("%Y-%m-%d"),
            "factor": round(cost[spike_team][plan.spike_day] / base_c, 3),
            "gpu_hours_factor": round(gpu_h[spike_team][plan.spike_day] / base_h, 3),
            "cost_spike_day": round(cost[spike_team][plan.spike_day], 2),
            "cost_baseline_median": round(base_c, 2),
            "gpu_hours_spike_day": round(gpu_h[spike_team][plan.spike_day], 2),
            "gpu_hours_baseline_median": round(base_h, 2),
            "workload": {"namespace": spike_w.namespace, "kind": spike_w.kind, "name": spike_w.name},
            "extra_nodes": sorted({p.node.name for p in spike_w.pods}),
        }
    budgets = {}
    for team, daily in sorted(cost.items()):
        normal = [c for d, c in enumerate(daily) if d != plan.spike_day] or daily
        monthly = _median(normal) * DAYS_PER_MONTH * (1.0 if team == spike_team else BUDGET_HEADROOM)
        budgets[team] = int(math.ceil(monthly / 100.0) * 100)
    unallocated = [
        {"node": n.name, "gpu_uuid": u, "instance_type": n.shape.name, "gpu_model": n.shape.gpu.nvml_name}
        for n in plan.nodes for u, p in zip(n.gpu_uuids, n.gpu_pods, strict=True) if p is None
    ]
    return {
        "format": TRUTH_FORMAT,
        "seed": plan.seed,
        "start": _iso(plan.start),
        "end": _iso(plan.end),
        "interval_s": plan.interval_s,
        "nodes": [
            {"node": n.name, "instance_type": n.shape.name, "capacity_type": n.capacity_type, "zone": n.zone,
             "gpu_model": n.shape.gpu.nvml_name if n.shape.gpu else None, "gpu_count": n.shape.gpu_count,
             "start": _iso(max(n.start_s, plan.start_s)), "end": _iso(min(n.end_s, plan.end_s)),
             "hourly_usd": SHAPES[n.shape.name].hourly(n.capacity_type), "role": n.recipe}
            for n in plan.nodes
        ],
        "workloads": [_workload(w, facts[w.index], plan) for w in plan.workloads],
        "unallocated_gpus": unallocated,
        "unallocated_expected_actions": ["reclaim-idle-gpu"],
        "cluster": {"expected_actions": ["consolidate-nodes"]},
        "spike": spike,
        "region": plan.region,
        # recipes of the behaviour cycle a small --nodes had no room for (empty from min_nodes on)
        "left_out": [x.to_dict() for x in plan.left_out],
        "team_daily": {
            team: {"gpu_hours": [round(x, 2) for x in gpu_h[team]], "cost_usd": [round(x, 2) for x in cost[team]]}
            for team in sorted(cost)
        },
        "budgets_hint": {"currency": "USD", "period": "month", "teams": budgets,
                         "note": "10% above each team's median daily cost x 730/24; the spike team's budget "
                                 "has no headroom, so its spike day pushes the month-end projection over",
                         **({"tokens": token_budgets} if (token_budgets := _token_budgets(plan, facts)) else {})},
    }


def _token_budgets(plan: Plan, facts: dict[int, WorkloadFacts]) -> dict | None:
    """Monthly token budgets per served model, 30 % above the window's tokens per day x 730/24 (under the
    80 % warning line for a steady month)."""
    per_model: dict[str, int] = defaultdict(int)
    for w in plan.workloads:
        f = facts[w.index].tokens
        if w.template.llm is not None and w.template.llm.exports_model and f is not None:
            per_model[w.template.llm.model.name] += f.prompt_tokens + f.generation_tokens
    if not per_model or not plan.days:
        return None
    models = {m: int(math.ceil(n / plan.days * DAYS_PER_MONTH * TOKEN_BUDGET_HEADROOM / 1e6) * 1e6)
              for m, n in sorted(per_model.items())}
    return {"models": models, "note": "30% above each served model's tokens per day x 730/24"}


def _workload(w, facts: WorkloadFacts, plan: Plan) -> dict:
    t = w.template
    shape = w.pods[0].node.shape
    gpu = shape.gpu if w.gpus_per_pod else None
    return {
        "namespace": w.namespace, "kind": w.kind, "name": w.name,
        "behaviour": t.behaviour, "expected_actions": list(t.expected_actions),
        "team": w.team, "project": t.project, "use_case": t.use_case,
        "value_class": w.value_class, "value_class_source": "label" if w.value_class_label else "inferred",
        "gpu_model": gpu.nvml_name if gpu else None, "gpus_per_pod": w.gpus_per_pod,
        "instance_type": w.instance_type, "capacity_type": w.capacity_type,
        "replicas": replicas(w), "pods": sorted(p.name for p in w.pods),
        "containers": [{"name": c.name, "cpu_request": c.cpu_request, "cpu_limit": c.cpu_limit,
                        "mem_request": c.mem_request, "mem_limit": c.mem_limit or c.mem_request, "gpu": c.gpu}
                       for c in t.containers],
        "manifest": manifest_path(w),
        "facts": facts.as_dict(plan.interval_s),
        **({"requires": t.requires} if t.requires else {}),
        **({"llm": _llm(t.llm, gpu, facts)} if t.llm else {}),
    }


def _llm(spec, gpu, facts: WorkloadFacts) -> dict:
    """What an LLM server's pods served, and how its GPU memory is laid out (simulator/llm.py)."""
    return {
        "server": spec.server, "model": spec.model.name if spec.exports_model else None,
        "gpu_memory_utilization": spec.gpu_memory_utilization,
        "weights_bytes": spec.model.weights_bytes, "kv_bytes_per_token": spec.model.kv_bytes_per_token,
        "kv_capacity_tokens": spec.kv_capacity_tokens(gpu.memory_bytes) if gpu else None,
        "peak_requests_per_s": spec.peak_requests_per_s, "prefill_tokens_per_s": spec.prefill_tokens_per_s,
        "decode_tokens_per_s": spec.decode_tokens_per_s, "prefix_cache_share": spec.prefix_cache_share,
        **(facts.tokens.as_dict() if facts.tokens else {}),
    }

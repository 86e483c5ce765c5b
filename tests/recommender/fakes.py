"""A hand-made dataset and typed recommendations (``make_recommendation``, ``make_result``) for the
recommender tests.

The dataset is written with the real ``store.writer.DatasetWriter`` (so the reader validates it like real
data) on instance types of the bundled catalog.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from optimizer.inventory import Inventory, Workload
from optimizer.recommend import NodeBill, Recommendation, RecommendationSet
from optimizer.valueclass import ValueClass
from store.records import ContainerSpec
from store.writer import DatasetWriter

GIB = 1024**3


START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


@dataclass
class PodSpec:
    namespace: str
    name: str
    kind: str
    workload: str
    node: str
    labels: dict
    containers: dict  # container -> (cpu_request, mem_request_bytes)
    cpu_use: float = 0.5
    mem_use: int = 1 * GIB
    gpu: dict | None = None  # {"uuid", "model", "mig_profile", "util"(float or callable(ts)), "mem"}
    gpu_resource: str | None = None
    alive: object = None  # callable(ts) -> bool: the pod has samples only then (an autoscaler's extra replicas)


def default_pods() -> list[PodSpec]:
    a100 = "NVIDIA A100-SXM4-80GB"
    return [
        PodSpec("ml", "chat-0", "Deployment", "chat", "gpu-1", {"team": "ml-platform", "project": "assistant",
                "use-case": "inference", "rightsizer.io/value-class": "production"}, {"server": (2.0, 4 * GIB)},
                gpu={"uuid": "GPU-a10g-1", "model": "NVIDIA A10G", "util": 0.6, "mem": 6 * GIB},
                gpu_resource="nvidia.com/gpu"),
        PodSpec("ml", "embed-0", "Deployment", "embed", "gpu-1", {"team": "ml-platform", "project": "search",
                "use-case": "inference"}, {"server": (1.0, 2 * GIB)},
                gpu={"uuid": "GPU-a10g-1", "model": "NVIDIA A10G", "util": 0.2, "mem": 3 * GIB},
                gpu_resource="nvidia.com/gpu"),
        PodSpec("research", "train-0", "Job", "train", "gpu-2", {"team": "research", "use-case": "training",
                "app.kubernetes.io/part-of": "llm"}, {"trainer": (8.0, 60 * GIB)}, cpu_use=6.0, mem_use=50 * GIB,
                gpu={"uuid": "MIG-3g-a", "model": a100, "mig_profile": "3g.40gb", "util": 0.9, "mem": 30 * GIB},
                gpu_resource="nvidia.com/mig-3g.40gb"),
        PodSpec("research-dev", "nb-0", "StatefulSet", "notebook", "gpu-2", {"team": "research"},
                {"notebook": (1.0, 4 * GIB)}, cpu_use=0.1,
                gpu={"uuid": "MIG-1g-b", "model": a100, "mig_profile": "1g.10gb", "util": 0.0, "mem": 1 * GIB},
                gpu_resource="nvidia.com/mig-1g.10gb"),
        PodSpec("web", "api-0", "Deployment", "api", "cpu-1", {"team": "web", "project": "shop", "use-case": "api"},
                {"api": (1.0, 2 * GIB), "sidecar": (0.1, 256 * 1024**2)}, cpu_use=1.5, mem_use=1 * GIB),
        PodSpec("default", "legacy-0", "Deployment", "legacy", "cpu-1", {}, {"app": (0.5, 1 * GIB)}, cpu_use=0.2),
    ]


# node -> (instance type, market, NVML GPU model, GPUs). gpu-2 has 8 A100s; one runs MIG, the others are idle.
NODES = {"gpu-1": ("g5.xlarge", "on-demand", "NVIDIA A10G", 1), "gpu-2": ("p4de.24xlarge", "on-demand",
         "NVIDIA A100-SXM4-80GB", 8), "cpu-1": ("m5.xlarge", "on-demand", None, 0)}


def build_dataset(root, *, days: int = 2, interval_s: float = 600.0, pods: list[PodSpec] | None = None,
                  nodes: dict | None = None, start: datetime = START, unallocated_mig: bool = True,
                  cost_factor=None, region: str = "us-east-1") -> str:
    """Write a small cluster: a time-shared A10G, a MIG A100 (one slice free), a CPU node.

    ``cost_factor(pod, day)`` scales a pod's CPU use on a day (used to plant spikes).
    """
    pods = pods if pods is not None else default_pods()
    nodes = nodes if nodes is not None else NODES
    writer = DatasetWriter(str(root))
    n = int(days * 86400 / interval_s)
    ts = [start + timedelta(seconds=interval_s * (i + 1)) for i in range(n)]
    writer.write("nodes", {
        "ts": [start] * len(nodes), "node": list(nodes), "instance_type": [v[0] for v in nodes.values()],
        "capacity_type": [v[1] for v in nodes.values()], "zone": [f"{region}a"] * len(nodes),
        "region": [region] * len(nodes), "cpu_capacity": [4.0] * len(nodes),
        "mem_capacity": [16 * GIB] * len(nodes), "gpu_count": [v[3] for v in nodes.values()],
        "gpu_model": [v[2] for v in nodes.values()], "labels": ["{}"] * len(nodes)})
    prow = {k: [] for k in ("ts", "node", "namespace", "pod", "pod_uid", "workload_kind", "workload_name",
                            "labels", "container", "cpu_request", "mem_request", "gpu_resource", "gpu_request")}
    crow = {k: [] for k in ("ts", "node", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes")}
    grow = {k: [] for k in ("ts", "node", "interval_s", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod",
                            "container", "gpu_util", "mem_used_bytes", "mem_total_bytes")}
    for p in pods:
        for c, (cpu, mem) in p.containers.items():
            for k, v in (("ts", start), ("node", p.node), ("namespace", p.namespace), ("pod", p.name),
                         ("pod_uid", f"uid-{p.name}"), ("workload_kind", p.kind), ("workload_name", p.workload),
                         ("labels", json.dumps(p.labels)), ("container", c), ("cpu_request", cpu),
                         ("mem_request", mem), ("gpu_resource", p.gpu_resource if p.gpu else None),
                         ("gpu_request", 1.0 if p.gpu else None)):
                prow[k].append(v)
    for t in ts:
        day = (t - start).days
        for p in pods:
            if p.alive is not None and not p.alive(t):
                continue
            factor = cost_factor(p, day) if cost_factor else 1.0
            for c in p.containers:
                crow["ts"].append(t), crow["node"].append(p.node), crow["interval_s"].append(interval_s)
                crow["namespace"].append(p.namespace), crow["pod"].append(p.name), crow["container"].append(c)
                crow["cpu_cores"].append(p.cpu_use * factor / len(p.containers))
                crow["mem_bytes"].append(int(p.mem_use / len(p.containers)))
            if p.gpu:
                g = p.gpu
                total = 10 * GIB * int(g["mig_profile"][0]) if g.get("mig_profile") else 24 * GIB
                for k, v in (("ts", t), ("node", p.node), ("interval_s", interval_s), ("gpu_uuid", g["uuid"]),
                             ("gpu_model", g["model"]), ("mig_profile", g.get("mig_profile")),
                             ("namespace", p.namespace), ("pod", p.name), ("container", next(iter(p.containers))),
                             ("gpu_util", float(np.clip(g["util"](t) if callable(g["util"]) else g["util"], 0, 1))),
                             ("mem_used_bytes", g["mem"]), ("mem_total_bytes", total)):
                    grow[k].append(v)
        if unallocated_mig and "gpu-2" in nodes:
            for k, v in (("ts", t), ("node", "gpu-2"), ("interval_s", interval_s), ("gpu_uuid", "MIG-1g-free"),
                         ("gpu_model", "NVIDIA A100-SXM4-80GB"), ("mig_profile", "1g.10gb"), ("namespace", None),
                         ("pod", None), ("container", None), ("gpu_util", 0.0), ("mem_used_bytes", 0),
                         ("mem_total_bytes", 10 * GIB)):
                grow[k].append(v)
    writer.write("pods", prow)
    writer.write("container", crow)
    if grow["ts"]:
        writer.write("gpu", grow)
    return str(root)


def container_spec(name: str, **fields) -> ContainerSpec:
    """A container's observed spec; fields not given (cpu_request, mem_limit, gpu_resource, ...) are unset."""
    return ContainerSpec(name, *(fields.get(f.name) for f in dataclasses.fields(ContainerSpec)[1:]))


def observed_cluster(containers: dict) -> Inventory:
    """An observed cluster holding only each workload's container specs (what the suggestions read):
    ``{(namespace, kind, name): {container: {cpu_request: ..., gpu_resource: ...}}}``."""
    workloads = {key: Workload(key[0], key[1], key[2], {}, ValueClass("production", True, "test"),
                               [container_spec(n, **f) for n, f in specs.items()], [])
                 for key, specs in containers.items()}
    return Inventory(START, START + timedelta(days=2), 60.0, workloads, {}, {}, {})


def make_recommendation(**fields) -> Recommendation:
    """A typed Recommendation: every field not given has a default (an id made like the optimizer's)."""
    values = {"namespace": "ml", "kind": "Deployment", "name": "w", "team": None, "project": None, "use_case": None,
              "value_class": "production", "value_class_inferred": False, "action": "rightsize-requests",
              "current": {}, "proposed": {}, "monthly_cost_current": 0.0, "monthly_cost_proposed": 0.0,
              "confidence": 0.9, "risk": "low", "rationale": ""}
    values.update(fields)
    values.setdefault("id", f"{values['action']}/{values['namespace'] or '-'}/{values['kind']}/{values['name']}".lower())
    return Recommendation(**values)


def make_result(recommendations: list[Recommendation], *, not_evaluated=(), monthly_cost: float = 0.0,
                today_monthly: float = 0.0, plan_monthly: float = 0.0, priced: tuple[int, int] = (0, 0),
                prices: dict | None = None, inventory=None) -> RecommendationSet:
    """A typed RecommendationSet over the fake window, its node bill given per month."""
    bill = NodeBill(today_monthly / 730, plan_monthly / 730, priced_nodes=priced[0], nodes=priced[1],
                    prices=prices or {})
    return RecommendationSet(START + timedelta(days=2), START, START + timedelta(days=2), list(recommendations),
                             monthly_cost, bill=bill, not_evaluated=list(not_evaluated), inventory=inventory)


def fake_recommendations() -> RecommendationSet:
    """The typed result for the default pods: five recommendations, a node bill saving of $912 a month."""
    def rec(i, ns, kind, name, team, vc, action, cur, prop, cost, new, risk, conf, why):
        return make_recommendation(id=f"rec-{i:03d}", namespace=ns, kind=kind, name=name, team=team, value_class=vc,
                                   action=action, current=cur, proposed=prop, monthly_cost_current=cost,
                                   monthly_cost_proposed=new, confidence=conf, risk=risk, rationale=why)
    recs = [
        rec(1, "ml", "Deployment", "embed", "ml-platform", "production", "use-mig-slice",
            {"gpu_model": "A10G", "gpu_count": 1, "gpu_memory_bytes": 24 * GIB},
            {"mig_profile": "1g.10gb", "gpu_memory_bytes": 10 * GIB}, 300.0, 120.0, "medium", 0.8,
            "embed holds at most 3.0 GiB of GPU memory (p99 3.0 GiB) and is active 20% of the time: "
            "a 1g.10gb slice fits with 3x headroom."),
        rec(2, "research", "Job", "train", "research", "background", "use-spot", {"capacity_type": "on-demand"},
            {"capacity_type": "spot"}, 1600.0, 700.0, "medium", 0.7,
            "train is a checkpointing Job; spot in us-east-1 is 61% cheaper with <5% interruptions."),
        rec(3, "research-dev", "StatefulSet", "notebook", "research", "experimental", "reclaim-idle-gpu",
            {"gpu_count": 1}, {"gpu_count": 0}, 540.0, 0.0, "low", 0.95,
            "notebook's GPU slice was idle 100% of the week."),
        rec(4, "web", "Deployment", "api", "web", "production", "rightsize-requests",
            {"cpu_request": 1.1, "mem_request": 2.25 * GIB}, {"cpu_request": 0.9, "mem_request": 1.5 * GIB},
            30.0, 22.0, "low", 0.9, "api uses 0.75 cores at p95 against 1.1 requested."),
        rec(5, "", "Node", "gpu-2", "unallocated", "production", "reclaim-idle-gpu", {"gpu_count": 1},
            {"gpu_count": 0}, 200.0, 0.0, "low", 0.9, "A 1g.10gb slice on gpu-2 was allocated to no pod all week."),
    ]
    return make_result(recs, monthly_cost=3700.0, today_monthly=3700.0, plan_monthly=2788.0, priced=(3, 3),
                       prices={"snapshot_date": "2025-11-30", "source": "bundled", "regions": ["us-east-1"]})


@dataclass
class ServingSpec:
    """Tokens rows a serving pod writes each interval (constant, except on ``spike_day`` × ``spike``)."""

    namespace: str
    pod: str
    node: str
    server: str
    model: str | None
    prompt: int
    generation: int
    requests: int = 10
    prefill_s: float | None = None  # per interval; None: the server exports no prefill/decode times
    decode_s: float | None = None
    cached: int | None = None
    kv_usage: float | None = None
    spike_day: int | None = None
    spike: float = 1.0


def write_tokens(root, specs: list[ServingSpec], *, days: int, interval_s: float, start: datetime = START) -> None:
    """The tokens table for ``specs`` over the same samples as ``build_dataset`` (ts = start + k × interval)."""
    cols = {k: [] for k in ("ts", "node", "interval_s", "namespace", "pod", "container", "server", "model",
                            "prompt_tokens", "generation_tokens", "cached_prompt_tokens", "requests",
                            "kv_cache_usage", "prefill_seconds", "decode_seconds", "prompt_tokens_hist")}
    n = int(days * 86400 / interval_s)
    for i in range(n):
        t = start + timedelta(seconds=interval_s * (i + 1))
        for s in specs:
            f = s.spike if s.spike_day is not None and t.date() == (start + timedelta(days=s.spike_day)).date() else 1.0
            for k, v in (("ts", t), ("node", s.node), ("interval_s", interval_s), ("namespace", s.namespace),
                         ("pod", s.pod), ("container", "server"), ("server", s.server), ("model", s.model),
                         ("prompt_tokens", int(s.prompt * f)), ("generation_tokens", int(s.generation * f)),
                         ("cached_prompt_tokens", None if s.cached is None else int(s.cached * f)),
                         ("requests", int(s.requests * f)), ("kv_cache_usage", s.kv_usage),
                         ("prefill_seconds", s.prefill_s), ("decode_seconds", s.decode_s),
                         ("prompt_tokens_hist", json.dumps({"100": 2, "1000": 9, "5000": 10, "+Inf": 10}))):
                cols[k].append(v)
    DatasetWriter(str(root)).write("tokens", cols)

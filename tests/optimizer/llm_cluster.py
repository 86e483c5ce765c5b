"""A hand-made cluster of model servers for the LLM sizing tests, written with the real DatasetWriter.

Each server is one pod of a Deployment alone on a p5.4xlarge (one H100 80GB, $6.88/h on demand in the
bundled us-east-1 snapshot) holding 90 % of the GPU, as vLLM does with its default
``--gpu-memory-utilization 0.9``, whatever its load; its tokens rows say how much of the KV pool it uses
and how many tokens it served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from store.writer import DatasetWriter

GIB = 1024**3
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
INTERVAL_S = 600.0
H100_BYTES = 80 * GIB
USED_BYTES = 72 * GIB  # 90 % of the 80 GiB pre-allocated
NODE_TYPE = "p5.4xlarge"
NODE_HOURLY = 6.88  # bundled snapshot, us-east-1 on demand


@dataclass
class Server:
    name: str
    node: str
    model: str | None = "meta-llama/Llama-3.1-8B-Instruct"
    kv: tuple[float, float] = (0.05, 0.15)  # KV usage swings between these over each day
    kv_later: tuple[float, float] | None = None  # ... and between these from the second day on
    prompt_tokens: int = 18_000  # per interval
    generation_tokens: int = 4_000
    capacity_tokens: int | None = 450_000
    gpu_util: tuple[float, float] = (0.05, 0.15)
    labels: dict = field(default_factory=lambda: {"team": "assistant", "rightsizer.io/value-class": "production"})
    server: str = "vllm"


def intervals(days: int) -> int:
    return int(days * 86400 / INTERVAL_S)


def build(root, servers: list[Server], *, days: int = 2, tokens: bool = True) -> str:
    w = DatasetWriter(str(root))
    nodes = sorted({s.node for s in servers})
    w.write("nodes", {"ts": [START] * len(nodes), "node": nodes, "instance_type": [NODE_TYPE] * len(nodes),
                      "capacity_type": ["on-demand"] * len(nodes), "zone": ["us-east-1a"] * len(nodes),
                      "region": ["us-east-1"] * len(nodes), "cpu_capacity": [16.0] * len(nodes),
                      "mem_capacity": [256 * GIB] * len(nodes), "gpu_count": [1] * len(nodes),
                      "gpu_model": ["NVIDIA H100 80GB HBM3"] * len(nodes), "labels": ["{}"] * len(nodes)})
    w.write("pods", {"ts": [START] * len(servers), "node": [s.node for s in servers],
                     "namespace": ["llm"] * len(servers), "pod": [f"{s.name}-0" for s in servers],
                     "pod_uid": [f"uid-{s.name}" for s in servers], "workload_kind": ["Deployment"] * len(servers),
                     "workload_name": [s.name for s in servers], "labels": [json.dumps(s.labels) for s in servers],
                     "container": ["server"] * len(servers), "cpu_request": [4.0] * len(servers),
                     "mem_request": [32 * GIB] * len(servers), "gpu_resource": ["nvidia.com/gpu"] * len(servers),
                     "gpu_request": [1.0] * len(servers)})
    n = intervals(days)
    crow = {k: [] for k in ("ts", "node", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes")}
    grow = {k: [] for k in ("ts", "node", "interval_s", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod",
                            "container", "gpu_util", "mem_used_bytes", "mem_total_bytes")}
    trow = {k: [] for k in ("ts", "node", "interval_s", "namespace", "pod", "container", "server", "model",
                            "prompt_tokens", "generation_tokens", "requests", "kv_cache_usage",
                            "kv_cache_capacity_tokens", "gpu_memory_utilization")}
    for i in range(n):
        t = START + timedelta(seconds=INTERVAL_S * (i + 1))
        load = (i % 144) / 143  # a daily ramp from 0 to 1
        for s in servers:
            pod = f"{s.name}-0"
            for k, v in (("ts", t), ("node", s.node), ("interval_s", INTERVAL_S), ("namespace", "llm"), ("pod", pod),
                         ("container", "server"), ("cpu_cores", 2.0), ("mem_bytes", 20 * GIB)):
                crow[k].append(v)
            util = s.gpu_util[0] + (s.gpu_util[1] - s.gpu_util[0]) * load
            for k, v in (("ts", t), ("node", s.node), ("interval_s", INTERVAL_S), ("gpu_uuid", f"GPU-{s.node}"),
                         ("gpu_model", "NVIDIA H100 80GB HBM3"), ("mig_profile", None), ("namespace", "llm"),
                         ("pod", pod), ("container", "server"), ("gpu_util", util), ("mem_used_bytes", USED_BYTES),
                         ("mem_total_bytes", H100_BYTES)):
                grow[k].append(v)
            lo, hi = s.kv_later if s.kv_later and i >= 144 else s.kv
            kv = lo + (hi - lo) * load
            for k, v in (("ts", t), ("node", s.node), ("interval_s", INTERVAL_S), ("namespace", "llm"), ("pod", pod),
                         ("container", "server"), ("server", s.server), ("model", s.model),
                         ("prompt_tokens", s.prompt_tokens), ("generation_tokens", s.generation_tokens),
                         ("requests", 20), ("kv_cache_usage", kv), ("kv_cache_capacity_tokens", s.capacity_tokens),
                         ("gpu_memory_utilization", 0.9)):
                trow[k].append(v)
    w.write("container", crow)
    w.write("gpu", grow)
    if tokens:
        w.write("tokens", trow)
    return str(root)


def recommend(root, catalog, config=None) -> dict:
    """The recommendations.json document of the cluster at ``root``."""
    return recommend_result(root, catalog, config).to_json_dict()


def recommend_result(root, catalog, config=None):
    """The typed RecommendationSet of the cluster at ``root`` (what the writers take)."""
    from optimizer.config import OptimizerConfig, SolverConfig
    from optimizer.profiles import compute_profiles
    from optimizer.recommend import build_recommendations
    from store.reader import Dataset

    data = Dataset(str(root))
    cfg = config or OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=5))
    profiles = compute_profiles(data, entity="workload")
    containers = compute_profiles(data, entity="container")
    return build_recommendations(data, profiles, catalog, cfg, container_profiles=containers)

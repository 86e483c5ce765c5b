"""LLM serving pods added to the simulated cluster: their pods rows and the true tokens rows.

Five servers, each in the label dialect a real cluster would store (``llm_exposition.py`` writes them):

* ``chat-vllm-0``: vLLM, plain target labels, scraped by two monitors at once, its container restarted
  once (every counter starts again from 0), with prefix-cache hits, ``cache_config_info``, the prefill
  and decode time histograms and the prompt-length histogram;
* ``chat-vllm-1``: the same model through a collector (``exported_*`` labels), on another node, with a
  scrape gap of three steps;
* Triton's vLLM backend (label ``model``, not ``model_name``), started on the second day;
* Hugging Face TGI (token counts from its length histograms' ``_sum``; no model label);
* SGLang (``sglang:*``, ``tp_rank``).

Rows cover ``(ts - S, ts]`` like every other table of the simulated dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from store.schema import TS
from store.writer import DatasetWriter
from tests.prometheus.cluster import NODE

NS = "llm"
BUCKETS = ("128", "512", "2048", "8192", "+Inf")
BLOCKS, BLOCK_SIZE, GPU_MEMORY_UTILIZATION = 2810, 16, 0.9


@dataclass(frozen=True)
class Serving:
    pod: str
    workload_kind: str
    workload_name: str
    container: str
    node: str
    server: str  # the tokens table's server column
    model: str | None
    dialect: str = "plain"  # plain | exported (a collector's pod in namespace/pod)
    jobs: tuple[str, ...] = ("llm-servers",)  # one series per job: two = scraped twice
    first_row: int = 0  # index of the pod's first row on the window's grid
    reset_row: int | None = None  # the container restarted within this row's interval
    gap: tuple[int, ...] = ()  # rows without any sample (the server was not scraped)


def servings(other_node: str, rows: int) -> tuple[Serving, ...]:
    return (
        Serving("chat-vllm-0", "StatefulSet", "chat-vllm", "vllm", NODE, "vllm", "llama-3.1-8b-instruct",
                jobs=("llm/vllm-servicemonitor", "llm/vllm-podmonitor"), reset_row=rows // 3),
        Serving("chat-vllm-1", "StatefulSet", "chat-vllm", "vllm", other_node, "vllm", "llama-3.1-8b-instruct",
                dialect="exported", gap=(rows // 2, rows // 2 + 1, rows // 2 + 2)),
        Serving("triton-7c9d8b6f5-h2x8k", "Deployment", "triton", "triton", NODE, "triton", "mistral-7b",
                first_row=rows // 2),
        Serving("tgi-6d5f8c7b9-qw3er", "Deployment", "tgi", "tgi", other_node, "tgi", None),
        Serving("sglang-5b7c9d8f6-zx4cv", "Deployment", "sglang", "sglang", NODE, "sglang", "qwen2.5-7b-instruct"),
    )


def add_llm_servers(root: str, start: datetime, days: int, step_s: int, seed: int = 11) -> tuple[Serving, ...]:
    """Write the servers' pods rows and true tokens rows into the dataset at ``root``."""
    rng = np.random.default_rng(seed)
    t0 = int(start.timestamp())
    ts = np.arange(t0 + step_s, t0 + days * 86_400 + 1, step_s)
    nodes = ds.dataset(f"{root}/nodes", format="parquet", partitioning="hive").to_table(columns=["node"])
    other = sorted(set(nodes.column("node").to_pylist()) - {NODE})[0]
    pods = servings(other, len(ts))
    writer = DatasetWriter(root)
    pod_rows = {k: [] for k in ("ts", "node", "namespace", "pod", "pod_uid", "container", "workload_kind",
                                "workload_name", "labels", "gpu_resource")}
    tokens: dict[str, list] = {}
    for i, p in enumerate(pods):
        for k, v in (("ts", (t0 + p.first_row * step_s) * 1000), ("node", p.node), ("namespace", NS), ("pod", p.pod),
                     ("pod_uid", f"11a2c0de-0000-4000-8000-{i:012d}"), ("container", p.container),
                     ("workload_kind", p.workload_kind), ("workload_name", p.workload_name),
                     ("labels", json.dumps({"app.kubernetes.io/name": p.workload_name, "team": "assistants",
                                            "project": p.workload_name}, sort_keys=True)),
                     ("gpu_resource", "nvidia.com/gpu")):
            pod_rows[k].append(v)
        idx = np.array([r for r in range(p.first_row, len(ts)) if r not in p.gap])
        n = len(idx)
        prompt = rng.integers(0, 60_000, n)
        requests = rng.integers(0, 120, n)
        cols = {
            "ts": ts[idx] * 1000, "node": [p.node] * n, "interval_s": np.full(n, float(step_s)),
            "namespace": [NS] * n, "pod": [p.pod] * n, "container": [p.container] * n, "server": [p.server] * n,
            "model": [p.model] * n, "prompt_tokens": prompt, "generation_tokens": rng.integers(0, 25_000, n),
            "requests": requests,
            "cached_prompt_tokens": [None] * n, "kv_cache_usage": [None] * n, "kv_cache_capacity_tokens": [None] * n,
            "prefill_seconds": [None] * n, "decode_seconds": [None] * n, "prompt_tokens_hist": [None] * n,
            "gpu_memory_utilization": [None] * n,
        }
        if p.server in ("vllm", "sglang"):
            cols["cached_prompt_tokens"] = (prompt * rng.uniform(0, 0.8, n)).astype(np.int64)
        if p.server in ("vllm", "triton", "sglang"):
            cols["kv_cache_usage"] = rng.uniform(0, 1, n).astype(np.float32)
        if p.server == "vllm":
            cols["kv_cache_capacity_tokens"] = np.full(n, BLOCKS * BLOCK_SIZE)
            cols["gpu_memory_utilization"] = np.full(n, GPU_MEMORY_UTILIZATION, np.float32)
            # multiples of 1/64 s: their running sums are exact in binary floating point
            cols["prefill_seconds"] = rng.integers(0, 6_400, n) / 64
            cols["decode_seconds"] = rng.integers(0, 64_000, n) / 64
        if p.server in ("vllm", "tgi"):
            cols["prompt_tokens_hist"] = [_hist(rng, int(r)) for r in requests]
        for k, v in cols.items():
            tokens.setdefault(k, []).append(v)
    k = len(pods)
    writer.write("pods", {**pod_rows, "ts": pa.array(pod_rows["ts"]).view(TS), "cpu_request": [4.0] * k,
                          "cpu_limit": [8.0] * k, "mem_request": [32 << 30] * k, "mem_limit": [32 << 30] * k,
                          "gpu_request": [1.0] * k}, segment="llm")
    table = {c: [x for part in v for x in (part.tolist() if isinstance(part, np.ndarray) else part)]
             for c, v in tokens.items()}
    table["ts"] = pa.array(np.asarray(table["ts"], np.int64)).view(TS)
    writer.write("tokens", table, segment="llm")
    return pods


def _hist(rng, requests: int) -> str:
    """Cumulative bucket counts of ``requests`` prompt lengths."""
    counts = np.sort(rng.integers(0, requests + 1, len(BUCKETS) - 1)).tolist() + [requests]
    return json.dumps(dict(zip(BUCKETS, counts, strict=True)), separators=(",", ":"))

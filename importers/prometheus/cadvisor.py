"""container rows from the kubelet's cAdvisor series (docs/prometheus.md, "container").

``container=""`` (the pod's own cgroup, the sum of its containers) and ``container="POD"`` (the pause
sandbox) are not containers; ``image=""`` drops system cgroups. Duplicate records of one container
(nested cgroups, kubernetes/kubernetes#129253; several scrape jobs) are collapsed with ``max``, not summed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from importers.prometheus.series import Codes, Grid, dense, regex_union, strings, timestamps

CPU, MEM = "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"
KEY = ("namespace", "pod", "container", "node")


@dataclass(frozen=True)
class CadvisorDialect:
    job_selector: str = ""  # e.g. 'job="kubelet",metrics_path="/metrics/cadvisor"'
    node_label: bool = True  # the series carry `node` (kube-prometheus relabelling); else join kube_pod_info
    selector: str = ""


def _selector(d: CadvisorDialect, nodes: list[str] | None) -> str:
    parts = [p for p in (d.selector, d.job_selector) if p]
    parts += ['container!=""', 'container!="POD"', 'image!=""']
    if nodes is not None and d.node_label:
        parts.append(f"node=~{regex_union(nodes)}")
    return ",".join(parts)


def queries(d: CadvisorDialect, step_s: int, nodes: list[str] | None) -> dict[str, str]:
    sel = _selector(d, nodes)
    cpu = f"rate({CPU}{{{sel}}}[{step_s}s])"
    mem = f"max_over_time({MEM}{{{sel}}}[{step_s}s])"
    if not d.node_label:
        # the node from kube-state-metrics' pod info (the kubernetes-mixin recording rules do the same)
        info = "max by (namespace, pod, node) (kube_pod_info{node!=\"\"})"
        if nodes is not None:
            info = f"max by (namespace, pod, node) (kube_pod_info{{node=~{regex_union(nodes)}}})"
        cpu = f"max by (namespace, pod, container) ({cpu}) * on (namespace, pod) group_left (node) {info}"
        mem = f"max by (namespace, pod, container) ({mem}) * on (namespace, pod) group_left (node) {info}"
    return {"cpu": f"max by ({', '.join(KEY)}) ({cpu})", "mem": f"max by ({', '.join(KEY)}) ({mem})"}


def build(results: dict[str, list[dict]], grid: Grid, step_s: int) -> pa.Table:
    nan = np.full(grid.n, np.nan)
    series: dict[tuple, dict[str, np.ndarray]] = {}
    for name in ("cpu", "mem"):
        for s in dense(results.get(name, []), grid):
            key = tuple(s.labels.get(k, "") for k in KEY)
            if all(key):
                series.setdefault(key, {})[name] = s.values
    ts_ms = grid.ts_ms()
    idxs, cpus, mems = [], [], []
    codes = {k: [] for k in KEY}
    dicts = {k: Codes() for k in KEY}
    for key, m in series.items():
        cpu, mem = m.get("cpu", nan), m.get("mem", nan)
        idx = np.flatnonzero(~np.isnan(cpu) | ~np.isnan(mem))
        if not len(idx):
            continue
        idxs.append(idx)
        cpus.append(cpu[idx])
        mems.append(mem[idx])
        for k, v in zip(KEY, key, strict=True):
            codes[k].append(np.full(len(idx), dicts[k].code(v), dtype=np.int32))
    if not idxs:
        from store.schema import empty_table

        return empty_table("container")
    idx, cpu, mem = np.concatenate(idxs), np.concatenate(cpus), np.concatenate(mems)
    return pa.table({
        "ts": timestamps(ts_ms[idx]),
        "node": strings(np.concatenate(codes["node"]), dicts["node"].values),
        "interval_s": pa.array(np.full(len(idx), step_s, dtype=np.float32)),
        "namespace": strings(np.concatenate(codes["namespace"]), dicts["namespace"].values),
        "pod": strings(np.concatenate(codes["pod"]), dicts["pod"].values),
        "container": strings(np.concatenate(codes["container"]), dicts["container"].values),
        "cpu_cores": pa.array(np.maximum(cpu, 0).astype(np.float32), mask=np.isnan(cpu)),
        "mem_bytes": pa.array(np.rint(np.nan_to_num(np.maximum(mem, 0))).astype(np.int64), mask=np.isnan(mem)),
    })

"""A generated v1 week for benchmarks: N GPUs (8 per node) at a fixed interval, written with DatasetWriter.

Stands in for the cluster simulator in the benchmark (same tables and shapes, simpler behaviour): pods of
1, 2, 4 or 8 GPUs grouped into Deployments of up to 3 replicas, about 5 % of GPUs unallocated, H100
nodes with sm_active and A100 nodes without, diurnal utilization, two containers per pod.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.writer import DatasetWriter

START = datetime(2026, 1, 5, tzinfo=UTC)


def _strings(values: list[str], idx: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(values)).cast(pa.string())


def write_week(root, *, gpus: int = 1000, days: int = 7, interval_s: int = 10, seed: int = 7) -> int:
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(str(root))
    n_nodes = (gpus + 7) // 8
    per_day = 86_400 // interval_s
    start_ms = int(START.timestamp() * 1000)
    rows = 0
    pods_rows, node_rows = [], []
    layout = []  # per node: list of (pod name or None, gpu indexes)
    pod_no = 0
    for n in range(n_nodes):
        node_gpus = min(8, gpus - 8 * n)
        slots, g = [], 0
        while g < node_gpus:
            size = int(min(rng.choice([1, 1, 2, 4, 8]), node_gpus - g))
            pod = None if rng.random() < 0.05 else f"pod-{pod_no:05d}"
            pod_no += pod is not None
            slots.append((pod, list(range(g, g + size))))
            g += size
        layout.append(slots)
    for n, slots in enumerate(layout):
        node = f"gpu-node-{n:04d}"
        h100 = n % 2 == 0
        node_rows.append({"ts": START, "node": node, "instance_type": "p5.48xlarge" if h100 else "p4de.24xlarge",
                          "capacity_type": "on-demand", "zone": "us-east-1a", "region": "us-east-1",
                          "cpu_capacity": 192.0, "mem_capacity": 2 * 2**40, "gpu_count": 8,
                          "gpu_model": "NVIDIA H100 80GB HBM3" if h100 else "NVIDIA A100-SXM4-80GB", "labels": "{}"})
        for pod, _ in slots:
            if pod is None:
                continue
            no = int(pod[4:])
            for c in ("main", "sidecar"):
                pods_rows.append({"ts": START, "node": node, "namespace": f"team-{no % 7}", "pod": pod,
                                  "pod_uid": f"uid-{no}", "workload_kind": "Deployment",
                                  "workload_name": f"svc-{no // 3}", "labels": "{}", "container": c,
                                  "cpu_request": 4.0, "mem_request": 32 * 2**30,
                                  "gpu_resource": "nvidia.com/gpu", "gpu_request": 1.0})
    writer.write("nodes", pa.Table.from_pylist(node_rows))
    writer.write("pods", pa.Table.from_pylist(pods_rows))
    for day in range(days):
        ts = start_ms + (day * per_day + np.arange(1, per_day + 1, dtype=np.int64)) * interval_s * 1000
        hour = (ts // 3_600_000) % 24
        diurnal = 0.5 + 0.4 * np.sin((hour - 6) / 24 * 2 * np.pi)
        for n, slots in enumerate(layout):
            node = f"gpu-node-{n:04d}"
            h100 = n % 2 == 0
            g_idx = np.concatenate([np.asarray(s[1]) for s in slots])
            owner = np.concatenate([[i] * len(s[1]) for i, s in enumerate(slots)])
            k = len(g_idx)
            level = rng.uniform(0.05, 0.9, k)
            util = np.clip(level[None, :] * diurnal[:, None] + rng.normal(0, 0.05, (per_day, k)), 0, 1)
            util[rng.random((per_day, k)) < 0.1] = 0.0
            mem = (rng.uniform(4, 70, k)[None, :] * 2**30 * (0.8 + 0.2 * rng.random((per_day, k)))).astype(np.int64)
            pod_names = [s[0] or "" for s in slots]
            allocated = np.array([s[0] is not None for s in slots])[owner]
            tile = np.tile(np.arange(k), per_day)
            pod_idx = owner[tile]
            gpu = {
                "ts": pa.array(np.repeat(ts, k), pa.timestamp("ms", tz="UTC")),
                "node": pa.array([node] * (per_day * k)),
                "interval_s": pa.array(np.full(per_day * k, interval_s, np.float32)),
                "gpu_uuid": _strings([f"GPU-{n:04d}-{g}" for g in g_idx], tile),
                "gpu_model": pa.array(["NVIDIA H100 80GB HBM3" if h100 else "NVIDIA A100-SXM4-80GB"] * (per_day * k)),
                "namespace": pa.nulls(per_day * k, pa.string()),
                "pod": _strings(pod_names, pod_idx),
                "container": pa.array(np.full(per_day * k, "main"), pa.string()),
                "gpu_util": pa.array(util.astype(np.float32).ravel()),
                "sm_active": pa.array((util * 0.8).astype(np.float32).ravel()) if h100
                else pa.nulls(per_day * k, pa.float32()),
                "mem_used_bytes": pa.array(mem.ravel()),
                "mem_total_bytes": pa.array(np.full(per_day * k, 80 * 2**30, np.int64)),
            }
            ns = np.array([f"team-{int(p[4:]) % 7}" if p else "" for p in pod_names], object)
            gpu["namespace"] = _strings(list(ns), pod_idx)
            table = pa.table(gpu)
            mask = pa.array(np.repeat(allocated[None, :], per_day, 0).ravel())
            for c in ("namespace", "pod", "container"):  # unallocated GPUs: null pod, namespace, container
                table = table.set_column(table.schema.get_field_index(c), c,
                                         pc.if_else(mask, table.column(c), pa.scalar(None, pa.string())))
            writer.write("gpu", table)
            rows += table.num_rows
            live = [(i, s[0]) for i, s in enumerate(slots) if s[0]]
            if not live:
                continue
            m = len(live) * 2
            cpu = np.clip(rng.uniform(0.1, 6.0, m)[None, :] * diurnal[:, None] + rng.normal(0, 0.1, (per_day, m)), 0, None)
            cmem = (rng.uniform(1, 30, m)[None, :] * 2**30 * (0.9 + 0.1 * rng.random((per_day, m)))).astype(np.int64)
            names = [p for _, p in live for _ in (0, 1)]
            tile = np.tile(np.arange(m), per_day)
            cont = pa.table({
                "ts": pa.array(np.repeat(ts, m), pa.timestamp("ms", tz="UTC")),
                "node": pa.array([node] * (per_day * m)),
                "interval_s": pa.array(np.full(per_day * m, interval_s, np.float32)),
                "namespace": _strings([f"team-{int(p[4:]) % 7}" for p in names], tile),
                "pod": _strings(names, tile),
                "container": _strings(["main", "sidecar"] * len(live), tile),
                "cpu_cores": pa.array(cpu.astype(np.float32).ravel()),
                "mem_bytes": pa.array(cmem.ravel()),
            })
            writer.write("container", cont)
            rows += cont.num_rows
    return rows

"""A simulated cluster plus one node the simulator does not make: a MIG-partitioned and a time-sliced GPU.

p4d.24xlarge ``ip-10-0-200-1.ec2.internal``: GPU 0 split into two ``1g.5gb`` MIG slices, one per pod of the
Deployment ``vision/mig-ocr``; GPU 1 time-sliced between the two pods of ``research/ts-notebook``; GPUs
2–7 allocated to nobody. Written with the store's writer into the simulator's root.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pyarrow as pa

from store.schema import TS
from store.writer import DatasetWriter

NODE = "ip-10-0-200-1.ec2.internal"
MODEL = "NVIDIA A100-SXM4-40GB"
GIB = 1 << 30
PARENT = "GPU-5a1c9e7e-0000-4000-8000-00000000a100"
SHARED = "GPU-5a1c9e7e-0000-4000-8000-00000000a101"
MIG_SLICES = {"MIG-0f0e0d0c-0000-4000-8000-000000000001": (PARENT, "7"),
              "MIG-0f0e0d0c-0000-4000-8000-000000000002": (PARENT, "8")}
MIG_TOTAL = 4864 << 20  # 1g.5gb


def add_mig_and_shared(root: str, start: datetime, days: int, step_s: int, seed: int = 5) -> dict:
    """Append the node's rows to the dataset at ``root``; returns the MIG UUID → (parent, GI id) map."""
    rng = np.random.default_rng(seed)
    t0 = int(start.timestamp())
    ts = np.arange(t0, t0 + days * 86_400, step_s)  # as the simulator: rows at [start, end)
    n = len(ts)
    writer = DatasetWriter(root)
    labels = {"karpenter.sh/capacity-type": "on-demand", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": NODE, "node.kubernetes.io/instance-type": "p4d.24xlarge",
              "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "nvidia.com/gpu.count": "8",
              "topology.kubernetes.io/region": "us-east-1", "topology.kubernetes.io/zone": "us-east-1a"}
    writer.write("nodes", {"ts": _ts([t0]), "node": [NODE], "instance_type": ["p4d.24xlarge"],
                           "capacity_type": ["on-demand"], "zone": ["us-east-1a"], "region": ["us-east-1"],
                           "cpu_capacity": [96.0], "mem_capacity": [1152 * GIB], "gpu_count": [8],
                           "gpu_model": [MODEL], "labels": [json.dumps(labels, sort_keys=True)]})
    pods = [("vision", "mig-ocr-5d8f7c9b4d-x2k9p", "mig-ocr", "server", "nvidia.com/mig-1g.5gb", "production"),
            ("vision", "mig-ocr-5d8f7c9b4d-q7w4z", "mig-ocr", "server", "nvidia.com/mig-1g.5gb", "production"),
            ("research", "ts-notebook-7b9c6d5f8-m3n4b", "ts-notebook", "jupyter", "nvidia.com/gpu", "experimental"),
            ("research", "ts-notebook-7b9c6d5f8-r5t6y", "ts-notebook", "jupyter", "nvidia.com/gpu", "experimental")]
    rows = {k: [] for k in ("namespace", "pod", "workload_name", "container", "gpu_resource", "labels", "pod_uid")}
    for i, (ns, pod, name, c, res, _vc) in enumerate(pods):
        for k, v in (("namespace", ns), ("pod", pod), ("workload_name", name), ("container", c), ("gpu_resource", res),
                     ("pod_uid", f"7e57c0de-0000-4000-8000-{i:012d}"),
                     ("labels", json.dumps({"app.kubernetes.io/name": name, "team": ns, "project": name}, sort_keys=True))):
            rows[k].append(v)
    k = len(pods)
    writer.write("pods", {"ts": _ts([t0] * k), "node": [NODE] * k, **rows, "workload_kind": ["Deployment"] * k,
                          "cpu_request": [2.0] * k, "cpu_limit": [4.0] * k, "mem_request": [8 * GIB] * k,
                          "mem_limit": [8 * GIB] * k, "gpu_request": [1.0] * k})
    gpu = []
    # the two MIG slices, one per mig-ocr pod
    for (uuid, _), (ns, pod, _, c, _, _) in zip(MIG_SLICES.items(), pods[:2], strict=True):
        gpu.append(dict(gpu_uuid=uuid, mig_profile="1g.5gb", namespace=ns, pod=pod, container=c,
                        gpu_util=rng.uniform(0.2, 0.6, n), mem_used_bytes=rng.integers(1 << 30, 3 << 30, n),
                        mem_total_bytes=np.full(n, MIG_TOTAL), power_w=None))
    # the time-sliced GPU: one row per sharing pod, per-pod util and memory, device power
    power = rng.uniform(80, 250, n)
    for ns, pod, _, c, _, _ in pods[2:]:
        gpu.append(dict(gpu_uuid=SHARED, mig_profile=None, namespace=ns, pod=pod, container=c,
                        gpu_util=rng.uniform(0.0, 0.3, n), mem_used_bytes=rng.integers(2 << 30, 9 << 30, n),
                        mem_total_bytes=np.full(n, 40 * GIB), power_w=power))
    for g in range(2, 8):  # allocated to nobody
        gpu.append(dict(gpu_uuid=f"GPU-5a1c9e7e-0000-4000-8000-00000000a10{g}", mig_profile=None, namespace=None,
                        pod=None, container=None, gpu_util=np.zeros(n), mem_used_bytes=np.full(n, 512 << 20),
                        mem_total_bytes=np.full(n, 40 * GIB), power_w=rng.uniform(50, 60, n)))
    cols = {c: [] for c in ("ts", "gpu_uuid", "mig_profile", "namespace", "pod", "container", "gpu_util",
                            "mem_used_bytes", "mem_total_bytes", "power_w")}
    for g in gpu:
        cols["ts"].append(ts * 1000)
        for name in ("gpu_uuid", "mig_profile", "namespace", "pod", "container"):
            cols[name] += [g[name]] * n
        cols["gpu_util"].append(np.asarray(g["gpu_util"], np.float32))
        cols["mem_used_bytes"].append(np.asarray(g["mem_used_bytes"], np.int64))
        cols["mem_total_bytes"].append(np.asarray(g["mem_total_bytes"], np.int64))
        cols["power_w"].append(np.full(n, np.nan, np.float32) if g["power_w"] is None
                               else np.asarray(g["power_w"], np.float32))
    m = n * len(gpu)
    power_all = np.concatenate(cols["power_w"])
    writer.write("gpu", {"ts": pa.array(np.concatenate(cols["ts"])).view(TS), "node": [NODE] * m,
                         "interval_s": np.full(m, step_s, np.float32), "gpu_uuid": cols["gpu_uuid"],
                         "gpu_model": [MODEL] * m, "mig_profile": cols["mig_profile"], "namespace": cols["namespace"],
                         "pod": cols["pod"], "container": cols["container"],
                         "gpu_util": np.concatenate(cols["gpu_util"]),
                         "mem_used_bytes": np.concatenate(cols["mem_used_bytes"]),
                         "mem_total_bytes": np.concatenate(cols["mem_total_bytes"]),
                         "power_w": pa.array(power_all, mask=np.isnan(power_all))}, segment="added")
    c_rows = len(pods) * n
    writer.write("container", {"ts": pa.array(np.tile(ts * 1000, len(pods))).view(TS), "node": [NODE] * c_rows,
                               "interval_s": np.full(c_rows, step_s, np.float32),
                               "namespace": [p[0] for p in pods for _ in range(n)],
                               "pod": [p[1] for p in pods for _ in range(n)],
                               "container": [p[3] for p in pods for _ in range(n)],
                               "cpu_cores": rng.uniform(0.2, 1.5, c_rows).astype(np.float32),
                               "mem_bytes": rng.integers(1 << 30, 6 << 30, c_rows)}, segment="added")
    return MIG_SLICES


def _ts(seconds) -> pa.Array:
    return pa.array(np.asarray(seconds, np.int64) * 1000).view(TS)

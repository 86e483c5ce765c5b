"""Small, fully specified v1 tables for the store tests (every value is chosen here, not by the code under test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from store.schema import SCHEMAS

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC


def table(name: str, rows: list[dict]) -> pa.Table:
    """Rows (dicts; missing keys are null) as a table with the exact v1 schema."""
    schema = SCHEMAS[name]
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def gpu_rows(node: str, start: datetime, count: int, interval_s: float = 60.0, *,
             gpus=(("GPU-a", "NVIDIA L4"),), pod: str | None = "web-1", namespace: str = "shop",
             skip: tuple[int, ...] = ()) -> list[dict]:
    """``count`` samples of every GPU in ``gpus`` on ``node``; samples whose index is in ``skip`` are missing."""
    rows = []
    for i in range(count):
        if i in skip:
            continue
        ts = start + timedelta(seconds=interval_s * i)
        for k, (uuid, model) in enumerate(gpus):
            rows.append({
                "ts": ts, "node": node, "interval_s": interval_s, "gpu_uuid": uuid, "gpu_model": model,
                "namespace": namespace if pod else None, "pod": pod, "container": "server" if pod else None,
                "gpu_util": (i % 10) / 10, "sm_active": None if k else 0.25, "mem_used_bytes": 1_000_000 * (i + 1),
                "mem_total_bytes": 24_000_000_000, "power_w": 70.5,
            })
    return rows


def container_rows(node: str, start: datetime, count: int, interval_s: float = 60.0, *,
                   pod: str = "web-1", namespace: str = "shop") -> list[dict]:
    return [{"ts": start + timedelta(seconds=interval_s * i), "node": node, "interval_s": interval_s,
             "namespace": namespace, "pod": pod, "container": "server", "cpu_cores": 0.5 + i / 100,
             "mem_bytes": 2**30 + i} for i in range(count)]


def pod_row(node: str, ts: datetime, pod: str = "web-1", *, namespace: str = "shop", kind: str = "Deployment",
            name: str = "web", labels: dict | None = None) -> dict:
    return {"ts": ts, "node": node, "namespace": namespace, "pod": pod, "pod_uid": f"uid-{pod}",
            "workload_kind": kind, "workload_name": name, "labels": json.dumps(labels or {"team": "search"}),
            "container": "server", "cpu_request": 2.0, "cpu_limit": None, "mem_request": 4 * 2**30,
            "mem_limit": None, "gpu_resource": "nvidia.com/gpu", "gpu_request": 1.0}


def node_row(node: str, ts: datetime, *, instance_type: str = "g6.xlarge", capacity_type: str = "on-demand",
             gpu_count: int = 1, gpu_model: str | None = "NVIDIA L4") -> dict:
    return {"ts": ts, "node": node, "instance_type": instance_type, "capacity_type": capacity_type,
            "zone": "us-east-1a", "region": "us-east-1", "cpu_capacity": 4.0, "mem_capacity": 16 * 2**30,
            "gpu_count": gpu_count, "gpu_model": gpu_model,
            "labels": json.dumps({"node.kubernetes.io/instance-type": instance_type})}


def sort_rows(t: pa.Table) -> list[dict]:
    """Rows of ``t`` as dicts in a canonical order (readers return partitions in their own order)."""
    return sorted(t.to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))

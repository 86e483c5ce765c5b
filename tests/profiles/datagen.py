"""Small v1 datasets for profile tests, written with the real DatasetWriter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from store.schema import SCHEMAS
from store.writer import DatasetWriter

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def table(name: str, rows: list[dict]) -> pa.Table:
    schema = SCHEMAS[name]
    full = [{f.name: r.get(f.name) for f in schema} for r in rows]
    return pa.Table.from_pylist(full, schema=schema)


def write(root, name: str, rows: list[dict], **kw) -> list[str]:
    return DatasetWriter(str(root)).write(name, table(name, rows), **kw)


def gpu_row(t: float, node: str, uuid: str, *, pod=None, ns="ml", container="main", util=None, sm=None,
            mem=0, interval=10.0, model="NVIDIA H100 80GB HBM3") -> dict:
    return {"ts": at(t), "node": node, "interval_s": interval, "gpu_uuid": uuid, "gpu_model": model,
            "namespace": ns if pod else None, "pod": pod, "container": container if pod else None,
            "gpu_util": util, "sm_active": sm, "mem_used_bytes": int(mem), "mem_total_bytes": 80 * 2**30}


def container_row(t: float, node: str, pod: str, container: str, *, ns="ml", cpu=None, mem=None,
                  interval=10.0) -> dict:
    return {"ts": at(t), "node": node, "interval_s": interval, "namespace": ns, "pod": pod,
            "container": container, "cpu_cores": cpu, "mem_bytes": None if mem is None else int(mem)}


def pod_row(node: str, pod: str, kind: str, name: str, *, ns="ml", container="main", t: float = 0.0) -> dict:
    return {"ts": at(t), "node": node, "namespace": ns, "pod": pod, "workload_kind": kind,
            "workload_name": name, "container": container, "labels": "{}"}

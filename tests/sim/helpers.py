"""Recompute, from the data as read back, the numbers truth.json claims (the reference for the tests)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def pods_of(truth_workload: dict) -> list[str]:
    return truth_workload["pods"]


def gpu_rows(data, workload: dict) -> pa.Table:
    table = data.read("gpu")
    return table.filter(pc.is_in(table.column("pod"), pa.array(workload["pods"])))


def pod_instants(rows: pa.Table) -> pa.Table:
    """Per (pod, ts): mean gpu_util and sm_active over the pod's GPUs, summed memory (the profile contract)."""
    return rows.group_by(["pod", "ts"]).aggregate([
        ("gpu_util", "mean"), ("sm_active", "mean"), ("mem_used_bytes", "sum"),
    ])


def container_pod_instants(data, workload: dict) -> pa.Table:
    table = data.read("container")
    rows = table.filter(pc.is_in(table.column("pod"), pa.array(workload["pods"])))
    return rows.group_by(["pod", "ts"]).aggregate([("cpu_cores", "sum"), ("mem_bytes", "sum")])


def quantile(values, q: float) -> float:
    """The sample quantile as the simulator's facts define it (inverted CDF: smallest x with F(x) >= q)."""
    return float(np.quantile(np.asarray(values, dtype=np.float64), q, method="inverted_cdf"))

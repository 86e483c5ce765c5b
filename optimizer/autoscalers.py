"""Autoscalers of the workloads (the ``autoscalers`` table, docs/data-format.md) and what a request change
does under one: a cut under a CPU- or memory-utilization autoscaler makes it run more replicas."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

NODE = "cluster"  # every table is partitioned by node; autoscalers belong to the cluster
HPA = "HorizontalPodAutoscaler"
SCALED_OBJECT = "ScaledObject"


@dataclass(frozen=True)
class Autoscaler:
    namespace: str
    kind: str  # HorizontalPodAutoscaler | ScaledObject
    name: str
    target_kind: str
    target_name: str
    min_replicas: int | None
    max_replicas: int | None
    metrics: list  # HPA spec.metrics, or ScaledObject spec.triggers, as the API returns them

    def row(self, ts: datetime) -> dict:
        return {"ts": ts, "node": NODE, "namespace": self.namespace, "autoscaler_kind": self.kind,
                "autoscaler_name": self.name, "target_kind": self.target_kind, "target_name": self.target_name,
                "min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "metrics": json.dumps(self.metrics, sort_keys=True)}

    def cpu_or_memory_target(self) -> dict[str, float]:
        """{"cpu" | "memory": target average utilization %} of Resource metrics (an HPA's, or a ScaledObject's
        as imported from its HPA) or cpu/memory triggers (KEDA): the ones a request change moves."""
        out: dict[str, float] = {}
        for m in self.metrics:
            # HPA-shaped entries also for a ScaledObject: the Prometheus import has its metrics in the shape of
            # the HPA KEDA made for it (importers/prometheus/hpa.py)
            if m.get("type") == "Resource":
                res = m.get("resource") or {}
                target = (res.get("target") or {}).get("averageUtilization")
                if res.get("name") in ("cpu", "memory") and target:
                    out[res["name"]] = float(target)
            elif self.kind == SCALED_OBJECT and m.get("type") in ("cpu", "memory"):
                value = (m.get("metadata") or {}).get("value")
                if value and (m.get("metricType") or "Utilization") == "Utilization":
                    out[m["type"]] = float(value)
        return out


def read_autoscalers(dataset, start=None, end=None) -> dict[tuple[str, str, str], Autoscaler]:
    """The latest listing's autoscaler per target (namespace, kind, name); {} without the table."""
    if "autoscalers" not in dataset.tables():
        return {}
    data = dataset.read("autoscalers", start, end).to_pylist()
    if not data:
        return {}
    last = max(r["ts"] for r in data)
    out = {}
    for r in data:
        if r["ts"] == last:
            out[(r["namespace"], r["target_kind"], r["target_name"])] = Autoscaler(
                r["namespace"], r["autoscaler_kind"], r["autoscaler_name"], r["target_kind"], r["target_name"],
                r["min_replicas"], r["max_replicas"], json.loads(r["metrics"]) if r["metrics"] else [])
    return out


def replica_effect(a: Autoscaler, resource: str, current_request: float, new_request: float) -> str | None:
    """What a request cut does under a utilization autoscaler on that resource: the same load reads
    current ÷ new times the utilization, so the autoscaler runs about that many times the replicas."""
    target = a.cpu_or_memory_target().get(resource)
    if not target or new_request <= 0 or new_request >= current_request:
        return None
    factor = current_request / new_request
    bound = f", up to its maximum of {a.max_replicas}" if a.max_replicas else ""
    return (f"{a.kind} {a.name} scales this workload on {resource} at {target:g} % of requests: the request cut "
            f"makes the same load read {factor:.1f}× the utilization, so it would run about {factor:.1f}× the "
            f"replicas{bound}, each holding its GPUs; lower its target by the same factor or keep the {resource} "
            f"request")

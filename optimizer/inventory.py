"""What runs where: workloads, their pods, requests, GPUs and nodes, from the pods/nodes/gpu/container tables.

One pass over each table, one partition at a time (pyarrow group-bys), so a week of a large cluster
stays within memory: the sample tables contribute only per-pod and per-GPU sums.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from optimizer.config import LabelConfig, ValueClassConfig
from optimizer.valueclass import ValueClass, resolve_value_class
from store.reader import Dataset
from store.records import ContainerSpec

WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)


@dataclass
class PodInfo:
    namespace: str
    name: str
    node: str
    seconds: float = 0.0  # observed pod time (container samples)
    first_ms: int | None = None
    last_ms: int | None = None
    gpus: set[str] = field(default_factory=set)  # GPU (or MIG instance) UUIDs it held
    gpu_model: str | None = None  # NVML name
    mig_profile: str | None = None
    gpu_memory_bytes: int = 0  # capacity of one of its GPUs / slices


@dataclass
class NodeInfo:
    name: str
    instance_type: str | None
    capacity_type: str | None
    region: str | None
    zone: str | None
    cpu_capacity: float | None
    mem_capacity: int | None
    gpu_count: int
    gpu_model: str | None
    first_ms: int | None = None
    last_ms: int | None = None
    arch: str | None = None  # the node's kubernetes.io/arch label as recorded (amd64, arm64), if any

    @property
    def seconds(self) -> float:
        return 0.0 if self.first_ms is None else (self.last_ms - self.first_ms) / 1000


@dataclass
class GpuInfo:
    node: str
    uuid: str
    model: str
    mig_profile: str | None
    seconds: float = 0.0
    unallocated_seconds: float = 0.0


@dataclass
class Workload:
    namespace: str
    kind: str
    name: str
    labels: dict
    value_class: ValueClass
    containers: list[ContainerSpec]
    pods: list[PodInfo]
    label_keys: LabelConfig = field(default_factory=LabelConfig)

    @property
    def key(self) -> WorkloadKey:
        return (self.namespace, self.kind, self.name)

    @property
    def team(self) -> str | None:
        return self.label_keys.attribution(self.labels)[0]

    @property
    def project(self) -> str | None:
        return self.label_keys.attribution(self.labels)[1]

    @property
    def use_case(self) -> str | None:
        return self.label_keys.attribution(self.labels)[2]

    @property
    def pod_seconds(self) -> float:
        return sum(p.seconds for p in self.pods)

    @property
    def gpu_pods(self) -> list[PodInfo]:
        return [p for p in self.pods if p.gpus]

    @property
    def gpus_per_pod(self) -> float:
        held = [len(p.gpus) for p in self.pods if p.gpus]
        if held:
            return max(held)
        return sum(c.gpu_request or 0 for c in self.containers)

    @property
    def gpu_model(self) -> str | None:
        models = Counter(p.gpu_model for p in self.pods if p.gpu_model)
        return models.most_common(1)[0][0] if models else None

    @property
    def mig_profile(self) -> str | None:
        profiles = Counter(p.mig_profile for p in self.pods if p.mig_profile)
        return profiles.most_common(1)[0][0] if profiles else None

    @property
    def gpu_memory_bytes(self) -> int:
        return max((p.gpu_memory_bytes for p in self.pods), default=0)

    def cpu_request(self) -> float:
        return sum(c.cpu_request or 0.0 for c in self.containers)

    def mem_request(self) -> int:
        return sum(c.mem_request or 0 for c in self.containers)


@dataclass
class Inventory:
    start: datetime
    end: datetime
    interval_s: float
    workloads: dict[WorkloadKey, Workload]
    nodes: dict[str, NodeInfo]
    gpus: dict[tuple[str, str], GpuInfo]
    pod_workload: dict[tuple[str, str], WorkloadKey]

    @property
    def window_seconds(self) -> float:
        return max(1.0, (self.end - self.start).total_seconds())

    def alive_at_end(self, pod: PodInfo) -> bool:
        end_ms = self.end.timestamp() * 1000
        return pod.last_ms is not None and pod.last_ms >= end_ms - 3 * self.interval_s * 1000

    def node_alive_at_end(self, node: NodeInfo) -> bool:
        end_ms = self.end.timestamp() * 1000
        return node.last_ms is not None and node.last_ms >= end_ms - 3 * self.interval_s * 1000


def _ms(v) -> int:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else int(v)


def _latest(table: pa.Table, keys: list[str]) -> list[dict]:
    """Rows of a change-log table, keeping the newest per key."""
    rows = table.sort_by([("ts", "ascending")]).to_pylist()
    latest: dict[tuple, dict] = {}
    for r in rows:
        latest[tuple(r[k] for k in keys)] = r
    return list(latest.values())


def build_inventory(dataset: Dataset, start: datetime | None = None, end: datetime | None = None,
                    vc_cfg: ValueClassConfig | None = None, label_cfg: LabelConfig | None = None) -> Inventory:
    vc_cfg = vc_cfg or ValueClassConfig()
    label_cfg = label_cfg or LabelConfig()
    pods_t = dataset.read("pods", None, end)
    nodes_t = dataset.read("nodes", None, end)

    pods: dict[tuple[str, str], PodInfo] = {}
    specs: dict[WorkloadKey, dict[str, ContainerSpec]] = {}
    labels: dict[WorkloadKey, dict] = {}
    pod_workload: dict[tuple[str, str], WorkloadKey] = {}
    for r in _latest(pods_t, ["namespace", "pod", "container"]):
        wk = (r["namespace"], r["workload_kind"], r["workload_name"])
        pk = (r["namespace"], r["pod"])
        pod_workload[pk] = wk
        pods.setdefault(pk, PodInfo(r["namespace"], r["pod"], r["node"]))
        specs.setdefault(wk, {})[r["container"]] = ContainerSpec(
            r["container"], r["cpu_request"], r["cpu_limit"], r["mem_request"], r["mem_limit"],
            r["gpu_resource"], r["gpu_request"])
        try:
            labels[wk] = json.loads(r["labels"]) if r["labels"] else {}
        except json.JSONDecodeError:
            labels[wk] = {}

    nodes = {r["node"]: NodeInfo(r["node"], r["instance_type"], r["capacity_type"], r["region"], r["zone"],
                                 r["cpu_capacity"], r["mem_capacity"], int(r["gpu_count"] or 0), r["gpu_model"],
                                 arch=_label(r["labels"], "kubernetes.io/arch"))
             for r in _latest(nodes_t, ["node"])}

    interval = 0.0
    lo = hi = None
    for part in dataset.iter_partitions("container", start, end, columns=["ts", "interval_s", "namespace", "pod", "container"]):
        t = part.data
        if t.num_rows == 0:
            continue
        # one row per sample and container: a pod's time is its rows' time over its container count
        per_pod = t.group_by(["namespace", "pod"]).aggregate(
            [("interval_s", "sum"), ("ts", "min"), ("ts", "max"), ("container", "count_distinct")])
        for ns, pod, secs, first, last, ncont in zip(*(per_pod.column(c).to_pylist() for c in
                                                       ("namespace", "pod", "interval_s_sum", "ts_min", "ts_max",
                                                        "container_count_distinct")), strict=True):
            p = pods.setdefault((ns, pod), PodInfo(ns, pod, part.node))
            p.seconds += secs / max(1, ncont)
            f, la = _ms(first), _ms(last)
            p.first_ms = f if p.first_ms is None else min(p.first_ms, f)
            p.last_ms = la if p.last_ms is None else max(p.last_ms, la)
        a, b = pc.min_max(t.column("ts")).values()
        _node_span(nodes, part.node, a.as_py(), b.as_py())
        interval = max(interval, float(pc.max(t.column("interval_s")).as_py()))
        lo = a.as_py() if lo is None or a.as_py() < lo else lo
        hi = b.as_py() if hi is None or b.as_py() > hi else hi

    gpus: dict[tuple[str, str], GpuInfo] = {}
    cols = ["ts", "interval_s", "node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod", "mem_total_bytes"]
    for part in dataset.iter_partitions("gpu", start, end, columns=cols):
        t = part.data
        if t.num_rows == 0:
            continue
        a, b = pc.min_max(t.column("ts")).values()
        _node_span(nodes, part.node, a.as_py(), b.as_py())
        lo = a.as_py() if lo is None or a.as_py() < lo else lo
        hi = b.as_py() if hi is None or b.as_py() > hi else hi
        interval = max(interval, float(pc.max(t.column("interval_s")).as_py()))
        # GPU time: rows of a GPU shared by several pods repeat the instant, so divide by the pods seen
        per_gpu = t.group_by(["node", "gpu_uuid", "gpu_model", "mig_profile"]).aggregate(
            [("interval_s", "sum"), ("pod", "count_distinct")])
        for node, uuid, model, mig, secs, npods in zip(*(per_gpu.column(c).to_pylist() for c in
                                                         ("node", "gpu_uuid", "gpu_model", "mig_profile",
                                                          "interval_s_sum", "pod_count_distinct")), strict=True):
            g = gpus.setdefault((node, uuid), GpuInfo(node, uuid, model, mig))
            g.seconds += secs / max(1, npods)
        free = t.filter(pc.is_null(t.column("pod")))
        if free.num_rows:
            agg = free.group_by(["node", "gpu_uuid"]).aggregate([("interval_s", "sum")])
            for node, uuid, secs in zip(*(agg.column(c).to_pylist() for c in ("node", "gpu_uuid", "interval_s_sum")),
                                        strict=True):
                gpus[(node, uuid)].unallocated_seconds += secs
        held = t.filter(pc.is_valid(t.column("pod"))).group_by(
            ["namespace", "pod", "gpu_uuid", "gpu_model", "mig_profile"]).aggregate([("mem_total_bytes", "max")])
        for ns, pod, uuid, model, mig, cap in zip(*(held.column(c).to_pylist() for c in
                                                    ("namespace", "pod", "gpu_uuid", "gpu_model", "mig_profile",
                                                     "mem_total_bytes_max")), strict=True):
            p = pods.setdefault((ns, pod), PodInfo(ns, pod, part.node))
            p.gpus.add(uuid)
            p.gpu_model, p.mig_profile = model, mig
            p.gpu_memory_bytes = max(p.gpu_memory_bytes, int(cap or 0))

    window_start = start or (datetime.fromtimestamp(_ms(lo) / 1000 - interval, UTC) if lo is not None else None)
    window_end = end or (datetime.fromtimestamp(_ms(hi) / 1000, UTC) if hi is not None else None)
    if window_start is None or window_end is None:
        now = datetime.now(UTC)
        window_start, window_end = window_start or now, window_end or now

    by_workload: dict[WorkloadKey, list[PodInfo]] = {}
    for pk, p in pods.items():
        wk = pod_workload.get(pk)
        if wk is not None:
            by_workload.setdefault(wk, []).append(p)
    workloads = {}
    for wk, plist in sorted(by_workload.items()):
        ns, kind, name = wk
        lab = labels.get(wk, {})
        workloads[wk] = Workload(ns, kind, name, lab, resolve_value_class(lab, kind, ns, vc_cfg),
                                 list(specs.get(wk, {}).values()), sorted(plist, key=lambda p: p.name), label_cfg)
    return Inventory(window_start, window_end, interval or 60.0, workloads, nodes, gpus, pod_workload)


def _label(labels: str | None, key: str) -> str | None:
    """One label of a row's ``labels`` JSON (the reader checked it is JSON), None if absent."""
    doc = json.loads(labels) if labels else {}
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _node_span(nodes: dict[str, NodeInfo], node: str, first, last) -> None:
    n = nodes.get(node)
    if n is None:
        return
    f, la = _ms(first), _ms(last)
    n.first_ms = f if n.first_ms is None else min(n.first_ms, f)
    n.last_ms = la if n.last_ms is None else max(n.last_ms, la)

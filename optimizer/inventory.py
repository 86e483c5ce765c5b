"""The observed cluster: what ran where. Workloads, their pods, requests, GPUs and nodes, from the
pods/nodes/gpu/container tables.

Pods with samples but no row in the ``pods`` table are kept with what is known (node, running time, GPUs)
as bare pods, workload ``(namespace, "Pod", pod)`` with no known requests, the same key the allocation
charges them to; they are counted in ``pods_without_spec`` and stay in the node plan.

One pass over each table, one partition at a time (pyarrow group-bys), so a week of a large cluster
stays within memory: the sample tables contribute only per-pod and per-GPU sums.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from optimizer.config import LabelConfig
from optimizer.valueclass import ValueClass
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
    # its own containers' specs (the pods table's newest row per container of this pod): after a rollout
    # the new pods carry the new requests and the old pods the old ones
    containers: dict[str, ContainerSpec] = field(default_factory=dict)


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
    labels: dict = field(default_factory=dict)

    covered_s: float | None = None  # the one uptime rule (optimizer/uptime.py), once the samples are in

    @property
    def seconds(self) -> float:
        """How long the node ran in the window: the union of its sample intervals (optimizer/uptime.py)."""
        if self.covered_s is not None:
            return self.covered_s
        return 0.0 if self.first_ms is None else (self.last_ms - self.first_ms) / 1000


@dataclass
class GpuInfo:
    node: str
    uuid: str
    model: str
    mig_profile: str | None
    seconds: float = 0.0
    unallocated_seconds: float = 0.0


SpecHistory = list[tuple[int, dict[str, ContainerSpec]]]


@dataclass
class Workload:
    """A workload as its pods show it.

    ``containers``: the latest spec per container name (the newest pod's, the pod first seen last in the
    pods change log). ``spec_history``: every distinct spec its pods had, as (epoch ms it was first seen in
    the pods change log, container name -> spec), oldest first; a workload whose requests changed in the
    window (a rollout) has more than one entry, and each pod keeps its own (``PodInfo.containers``).
    ``labels``: those of the workload's newest pods row (the newest pod carries its current labels), the
    same labels the cost allocation charges the workload's owner by.
    """

    namespace: str
    kind: str
    name: str
    labels: dict
    value_class: ValueClass
    containers: list[ContainerSpec]
    pods: list[PodInfo]
    label_keys: LabelConfig = field(default_factory=LabelConfig)
    spec_known: bool = True  # False for a bare pod seen only in the samples (no pods-table row)
    spec_history: SpecHistory = field(default_factory=list)

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
    pods_without_spec: int = 0  # pods with samples but no pods-table row (kept as bare pods)

    def daemonset_requests(self, node: str) -> tuple[float, int]:
        """CPU cores and memory bytes requested on ``node`` by DaemonSet pods running there at the window's
        end: what a node of the plan must keep free besides the pods it packs."""
        cpu, mem = 0.0, 0
        for w in self.workloads.values():
            if w.kind != "DaemonSet":
                continue
            for p in w.pods:
                if p.node == node and self.alive_at_end(p):
                    cpu += w.cpu_request()
                    mem += w.mem_request()
        return cpu, mem

    def node_arches(self) -> dict[str, str | None]:
        """Node name -> CPU architecture (``kubernetes.io/arch`` label; None when unlabelled)."""
        return {name: n.arch for name, n in self.nodes.items()}

    @property
    def window_seconds(self) -> float:
        return max(1.0, (self.end - self.start).total_seconds())

    def alive_at_end(self, pod: PodInfo) -> bool:
        end_ms = self.end.timestamp() * 1000
        return pod.last_ms is not None and pod.last_ms >= end_ms - 3 * self.interval_s * 1000

    def node_alive_at_end(self, node: NodeInfo) -> bool:
        end_ms = self.end.timestamp() * 1000
        return node.last_ms is not None and node.last_ms >= end_ms - 3 * self.interval_s * 1000


# the observed cluster is built by one pass over the dataset (optimizer/observed_scan.py)
from optimizer.observed_scan import InventoryScan, build_inventory  # noqa: E402

__all__ = ["ContainerSpec", "GpuInfo", "Inventory", "InventoryScan", "NodeInfo", "PodInfo", "SpecHistory", "Workload",
           "WorkloadKey", "build_inventory"]

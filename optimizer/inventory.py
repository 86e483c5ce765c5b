"""The observed cluster: what ran where. Workloads, their pods, requests, GPUs and nodes, from the
pods/nodes/gpu/container tables.

Pods with samples but no row in the ``pods`` table are kept with what is known (node, running time, GPUs)
as bare pods, workload ``(namespace, "Pod", pod)`` with no known requests, the same key the allocation
charges them to; they are counted in ``pods_without_spec`` and stay in the node plan.

One pass over each table, one partition at a time (pyarrow group-bys), so a week of a large cluster
stays within memory: the sample tables contribute only per-pod and per-GPU sums.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.config import LabelConfig, ValueClassConfig
from optimizer.scan import column_codes
from optimizer.uptime import covered_seconds, partition_runs
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
    spec_known: bool = True  # False for a bare pod seen only in the samples (no pods-table row)

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
    """The observed cluster of the window, reading the sample tables itself (``InventoryScan`` takes
    partitions another reader already read)."""
    scan = InventoryScan(dataset, start, end, vc_cfg, label_cfg)
    for table in ("container", "gpu"):
        for part in dataset.iter_partitions(table, start, end, columns=InventoryScan.columns[table]):
            scan.add(table, part.date, part.node, part.data)
    return scan.finish()


class InventoryScan:
    """The observed cluster fed one partition of one sample table at a time (any table order): the
    pods and nodes change logs are read here, the sample tables contribute per-pod and per-GPU sums."""

    columns = {"container": ["ts", "interval_s", "namespace", "pod", "container"],
               "gpu": ["ts", "interval_s", "node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod",
                       "mem_total_bytes"]}

    def __init__(self, dataset: Dataset, start: datetime | None = None, end: datetime | None = None,
                 vc_cfg: ValueClassConfig | None = None, label_cfg: LabelConfig | None = None):
        self.start, self.end = start, end
        self.vc_cfg = vc_cfg or ValueClassConfig()
        self.label_cfg = label_cfg or LabelConfig()
        pods_t = dataset.read("pods", None, end)
        nodes_t = dataset.read("nodes", None, end)
        self.pods: dict[tuple[str, str], PodInfo] = {}
        self.specs: dict[WorkloadKey, dict[str, ContainerSpec]] = {}
        self.labels: dict[WorkloadKey, dict] = {}
        self.pod_workload: dict[tuple[str, str], WorkloadKey] = {}
        for r in _latest(pods_t, ["namespace", "pod", "container"]):
            wk = (r["namespace"], r["workload_kind"], r["workload_name"])
            pk = (r["namespace"], r["pod"])
            self.pod_workload[pk] = wk
            self.pods.setdefault(pk, PodInfo(r["namespace"], r["pod"], r["node"]))
            self.specs.setdefault(wk, {})[r["container"]] = ContainerSpec(
                r["container"], r["cpu_request"], r["cpu_limit"], r["mem_request"], r["mem_limit"],
                r["gpu_resource"], r["gpu_request"])
            try:
                self.labels[wk] = json.loads(r["labels"]) if r["labels"] else {}
            except json.JSONDecodeError:
                self.labels[wk] = {}
        self.nodes = {r["node"]: NodeInfo(r["node"], r["instance_type"], r["capacity_type"], r["region"], r["zone"],
                                          r["cpu_capacity"], r["mem_capacity"], int(r["gpu_count"] or 0),
                                          r["gpu_model"], arch=_label(r["labels"], "kubernetes.io/arch"),
                                          labels=_labels(r.get("labels")))
                      for r in _latest(nodes_t, ["node"])}
        self.gpus: dict[tuple[str, str], GpuInfo] = {}
        self.runs: dict[str, dict[str, list]] = {}  # node -> date -> covered runs of its partitions
        self.interval = 0.0
        self.lo = self.hi = None

    def _span(self, node: str, ts_ms: np.ndarray, interval_s: np.ndarray) -> None:
        a, b = int(ts_ms.min()), int(ts_ms.max())
        _node_span(self.nodes, node, a, b)
        self.interval = max(self.interval, float(interval_s.max()))
        self.lo = a if self.lo is None or a < self.lo else self.lo
        self.hi = b if self.hi is None or b > self.hi else self.hi

    def add(self, table: str, date: str, node: str, data: pa.Table) -> None:
        if data is None or data.num_rows == 0:
            return
        ts_ms = data.column("ts").cast(pa.int64()).to_numpy()
        interval_s = data.column("interval_s").to_numpy()
        self.runs.setdefault(node, {}).setdefault(date, []).append(partition_runs(data))
        self._span(node, ts_ms, interval_s)
        # numpy sums over dictionary codes: a pyarrow group-by per partition costs more in setting up
        # its plan than in summing a node-day's rows
        if table == "container":
            self._add_containers(node, data, ts_ms, interval_s)
        else:
            self._add_gpus(node, data, interval_s)

    def _add_containers(self, node: str, t: pa.Table, ts_ms: np.ndarray, interval_s: np.ndarray) -> None:
        # one row per sample and container: a pod's time is its rows' time over its container count
        (ns, ns_v), (pod, pod_v), (cont, _) = (_codes(t, c) for c in ("namespace", "pod", "container"))
        group, first = _groups(ns, pod)
        k = len(first)
        secs = np.bincount(group, interval_s, minlength=k)
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, np.iinfo(np.int64).min)
        np.minimum.at(lo, group, ts_ms)
        np.maximum.at(hi, group, ts_ms)
        named = cont >= 0  # a distinct count of containers counts named ones only
        _, cfirst = _groups(group[named], cont[named])
        ncont = np.bincount(group[named][cfirst], minlength=k)
        for j, i in enumerate(first.tolist()):
            key = (_value(ns_v, ns[i]), _value(pod_v, pod[i]))
            p = self.pods.setdefault(key, PodInfo(key[0], key[1], node))
            p.seconds += float(secs[j]) / max(1, int(ncont[j]))
            f, la = int(lo[j]), int(hi[j])
            p.first_ms = f if p.first_ms is None else min(p.first_ms, f)
            p.last_ms = la if p.last_ms is None else max(p.last_ms, la)

    def _add_gpus(self, node: str, t: pa.Table, interval_s: np.ndarray) -> None:
        (gn, gn_v), (uuid, uuid_v), (model, model_v), (mig, mig_v), (ns, ns_v), (pod, pod_v) = (
            _codes(t, c) for c in ("node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod"))
        # GPU time: rows of a GPU shared by several pods repeat the instant, so divide by the pods seen
        group, first = _groups(gn, uuid, model, mig)
        k = len(first)
        secs = np.bincount(group, interval_s, minlength=k)
        held = pod >= 0
        _, pfirst = _groups(group[held], ns[held], pod[held])
        npods = np.bincount(group[held][pfirst], minlength=k)
        for j, i in enumerate(first.tolist()):
            key = (_value(gn_v, gn[i]), _value(uuid_v, uuid[i]))
            g = self.gpus.setdefault(key, GpuInfo(key[0], key[1], _value(model_v, model[i]), _value(mig_v, mig[i])))
            g.seconds += float(secs[j]) / max(1, int(npods[j]))
        free = ~held
        if free.any():
            fgroup, ffirst = _groups(gn[free], uuid[free])
            fsecs = np.bincount(fgroup, interval_s[free], minlength=len(ffirst))
            rows = np.flatnonzero(free)[ffirst]
            for j, i in enumerate(rows.tolist()):
                self.gpus[(_value(gn_v, gn[i]), _value(uuid_v, uuid[i]))].unallocated_seconds += float(fsecs[j])
        if not held.any():
            return
        rows = np.flatnonzero(held)
        hgroup, hfirst = _groups(ns[rows], pod[rows], uuid[rows], model[rows], mig[rows])
        cap = np.zeros(len(hfirst), np.int64)  # a capacity not recorded counts as 0
        np.maximum.at(cap, hgroup, pc.fill_null(t.column("mem_total_bytes"), 0).to_numpy()[rows])
        for j, i in enumerate(rows[hfirst].tolist()):
            key = (_value(ns_v, ns[i]), _value(pod_v, pod[i]))
            p = self.pods.setdefault(key, PodInfo(key[0], key[1], node))
            p.gpus.add(_value(uuid_v, uuid[i]))
            p.gpu_model, p.mig_profile = _value(model_v, model[i]), _value(mig_v, mig[i])
            p.gpu_memory_bytes = max(p.gpu_memory_bytes, int(cap[j]))

    def finish(self) -> Inventory:
        for name, by_date in self.runs.items():
            if name in self.nodes:
                self.nodes[name].covered_s = covered_seconds(by_date)
        lo, hi, interval = self.lo, self.hi, self.interval
        window_start = self.start or (datetime.fromtimestamp(_ms(lo) / 1000 - interval, UTC) if lo is not None
                                      else None)
        window_end = self.end or (datetime.fromtimestamp(_ms(hi) / 1000, UTC) if hi is not None else None)
        if window_start is None or window_end is None:
            now = datetime.now(UTC)
            window_start, window_end = window_start or now, window_end or now
        by_workload: dict[WorkloadKey, list[PodInfo]] = {}
        bare: set[WorkloadKey] = set()
        for pk, p in self.pods.items():
            wk = self.pod_workload.get(pk)
            if wk is None and p.seconds > 0:  # samples without a pods row: a bare pod, requests unknown
                wk = (pk[0], "Pod", pk[1])
                self.pod_workload[pk] = wk
                bare.add(wk)
            if wk is not None:
                by_workload.setdefault(wk, []).append(p)
        workloads = {}
        for wk, plist in sorted(by_workload.items()):
            ns, kind, name = wk
            lab = self.labels.get(wk, {})
            workloads[wk] = Workload(ns, kind, name, lab, resolve_value_class(lab, kind, ns, self.vc_cfg),
                                     list(self.specs.get(wk, {}).values()), sorted(plist, key=lambda p: p.name),
                                     self.label_cfg, spec_known=wk not in bare)
        return Inventory(window_start, window_end, interval or 60.0, workloads, self.nodes, self.gpus,
                         self.pod_workload, pods_without_spec=len(bare))


def _labels(raw) -> dict:
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _label(labels: str | None, key: str) -> str | None:
    """One label of a row's ``labels`` JSON (the reader checked it is JSON), None if absent."""
    doc = json.loads(labels) if labels else {}
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _codes(t: pa.Table, name: str) -> tuple[np.ndarray, list]:
    """A column's dictionary codes (-1 for null) and its distinct values (shared with the other
    consumers of the same partition)."""
    return column_codes(t, name)


def _value(values: list, code) -> str | None:
    return values[code] if code >= 0 else None


def _groups(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by equal codes (null, -1, is a value of its own): (group per row, first row of each
    group), groups numbered in the order they first appear, as a pyarrow group-by lists them."""
    n = len(codes[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = np.zeros(n, np.int64)
    for c in codes:
        key = key * (int(c.max()) + 2) + (c + 1)
    top = int(key.max()) + 1
    if top <= 4 * n + 65536:
        first_at = np.full(top, n, np.int64)
        np.minimum.at(first_at, key, np.arange(n, dtype=np.int64))
        first = np.sort(first_at[first_at < n])
    else:
        first = np.sort(np.unique(key, return_index=True)[1])
    number = np.empty(top if top <= 4 * n + 65536 else 0, np.int64)
    if len(number):
        number[key[first]] = np.arange(len(first))
        return number[key], first
    _, inverse = np.unique(key, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.unique(key[first], return_inverse=True)[1].reshape(-1)] = np.arange(len(first))
    return rank[inverse.reshape(-1)], first


def _node_span(nodes: dict[str, NodeInfo], node: str, first, last) -> None:
    n = nodes.get(node)
    if n is None:
        return
    f, la = _ms(first), _ms(last)
    n.first_ms = f if n.first_ms is None else min(n.first_ms, f)
    n.last_ms = la if n.last_ms is None else max(n.last_ms, la)

"""The observed cluster's one pass over the dataset: the pods and nodes change logs read whole, the sample
tables one partition at a time (``optimizer/inventory.py`` holds the model it builds).

``InventoryScan`` is a tap of the one read (``optimizer/scan.py``): ``prepare`` sums a partition's rows per
pod and per GPU (numpy over dictionary codes; it runs on the reader's threads, beside the profiles), and
``merge`` adds those sums to the model on the merging thread, in the partitions' fixed order, so the result
does not depend on the number of threads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer import group_kernels
from optimizer.config import LabelConfig, ValueClassConfig
from optimizer.inventory import GpuInfo, Inventory, NodeInfo, PodInfo, SpecHistory, Workload, WorkloadKey
from optimizer.scan import column_codes
from optimizer.uptime import covered_seconds, partition_runs
from optimizer.valueclass import resolve_value_class
from store.reader import Dataset
from store.records import ContainerSpec


def _ms(v) -> int:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else int(v)


def _latest(table: pa.Table, keys: list[str]) -> list[dict]:
    """Rows of a change-log table, keeping the newest per key."""
    rows = table.sort_by([("ts", "ascending")]).to_pylist()
    latest: dict[tuple, dict] = {}
    for r in rows:
        latest[tuple(r[k] for k in keys)] = r
    return list(latest.values())


class PodsLog:
    """What the pods change log says, read once; rows in time order (ties in the table's order).

    - ``pod_workload``: (namespace, pod) -> workload key; ``pod_nodes``: (namespace, pod) -> node.
    - ``pod_specs``: (namespace, pod) -> its own containers' specs, the newest row per container of the pod
      (what the pod requested: the allocation charges each pod by its own requests).
    - ``specs``: workload -> the latest spec per container name (the newest pod's: pods in the order they
      were first seen, a later pod's container replacing an earlier one's).
    - ``history``: workload -> [(epoch ms first seen, container name -> spec)], one entry per distinct spec
      a pod of the workload had, oldest first (a pod's spec is taken once all its rows of one instant are in).
    - ``labels``: workload -> the labels of its newest pods row (the newest pod carries the workload's
      current labels; the allocation's owner of the workload is read from these).
    """

    def __init__(self, table: pa.Table):
        self.pod_workload: dict[tuple[str, str], WorkloadKey] = {}
        self.pod_nodes: dict[tuple[str, str], str] = {}
        self.pod_specs: dict[tuple[str, str], dict[str, ContainerSpec]] = {}
        self.specs: dict[WorkloadKey, dict[str, ContainerSpec]] = {}
        self.history: dict[WorkloadKey, SpecHistory] = {}
        self.labels: dict[WorkloadKey, dict] = {}
        rows = table.sort_by([("ts", "ascending")]).to_pylist()
        latest: dict[tuple, dict] = {}
        touched: dict[tuple[str, str], WorkloadKey] = {}  # pods with rows at the instant being read
        instant = None
        for r in rows:
            if r["ts"] != instant:
                self._snapshot(touched, instant)
                instant = r["ts"]
            pk, wk = (r["namespace"], r["pod"]), (r["namespace"], r["workload_kind"], r["workload_name"])
            latest[(r["namespace"], r["pod"], r["container"])] = r
            self.pod_specs.setdefault(pk, {})[r["container"]] = _spec(r)
            self.labels[wk] = _labels(r["labels"])
            touched[pk] = wk
        self._snapshot(touched, instant)
        for r in latest.values():  # keys in the order first seen, each with its newest row
            pk = (r["namespace"], r["pod"])
            self.pod_workload[pk] = (r["namespace"], r["workload_kind"], r["workload_name"])
            self.pod_nodes.setdefault(pk, r["node"])
            self.specs.setdefault(self.pod_workload[pk], {})[r["container"]] = _spec(r)

    def _snapshot(self, touched: dict, instant) -> None:
        for pk, wk in touched.items():
            spec = dict(self.pod_specs[pk])
            seen = self.history.setdefault(wk, [])
            if all(spec != s for _, s in seen):
                seen.append((_ms(instant), spec))
        touched.clear()


def _spec(r: dict) -> ContainerSpec:
    return ContainerSpec(r["container"], r["cpu_request"], r["cpu_limit"], r["mem_request"], r["mem_limit"],
                         r["gpu_resource"], r["gpu_request"])


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
        log = PodsLog(pods_t)
        self.pod_workload: dict[tuple[str, str], WorkloadKey] = log.pod_workload
        self.pod_specs: dict[tuple[str, str], dict[str, ContainerSpec]] = log.pod_specs  # not changed later
        self.specs, self.spec_history, self.labels = log.specs, log.history, log.labels
        self.pods: dict[tuple[str, str], PodInfo] = {
            pk: PodInfo(pk[0], pk[1], node, containers=log.pod_specs[pk]) for pk, node in log.pod_nodes.items()}
        self.nodes = {r["node"]: NodeInfo(r["node"], r["instance_type"], r["capacity_type"], r["region"], r["zone"],
                                          r["cpu_capacity"], r["mem_capacity"], int(r["gpu_count"] or 0),
                                          r["gpu_model"], arch=_label(r["labels"], "kubernetes.io/arch"),
                                          labels=_labels(r.get("labels")))
                      for r in _latest(nodes_t, ["node"])}
        self.gpus: dict[tuple[str, str], GpuInfo] = {}
        self.runs: dict[str, dict[str, list]] = {}  # node -> date -> covered runs of its partitions
        self.interval = 0.0
        self.lo = self.hi = None

    def add(self, table: str, date: str, node: str, data: pa.Table) -> None:
        self.merge(self.prepare(table, date, node, data))

    def prepare(self, table: str, date: str, node: str, data: pa.Table) -> _PartitionSums | None:
        """A partition's sums (safe on any thread: reads nothing of the model)."""
        if data is None or data.num_rows == 0:
            return None
        ts_ms = data.column("ts").cast(pa.int64()).to_numpy()
        interval_s = data.column("interval_s").to_numpy()
        sums = _PartitionSums(table, date, node, partition_runs(data), int(ts_ms.min()), int(ts_ms.max()),
                              float(interval_s.max()))
        # numpy sums over dictionary codes: a pyarrow group-by per partition costs more in setting up
        # its plan than in summing a node-day's rows
        if table == "container":
            _container_sums(sums, data, ts_ms, interval_s)
        else:
            _gpu_sums(sums, data, interval_s)
        return sums

    def merge(self, sums: _PartitionSums | None) -> None:
        """Add a partition's sums to the model (on one thread, in the read's fixed order)."""
        if sums is None:
            return
        node = sums.node
        self.runs.setdefault(node, {}).setdefault(sums.date, []).append(sums.runs)
        _node_span(self.nodes, node, sums.lo, sums.hi)
        self.interval = max(self.interval, sums.interval)
        self.lo = sums.lo if self.lo is None or sums.lo < self.lo else self.lo
        self.hi = sums.hi if self.hi is None or sums.hi > self.hi else self.hi
        for key, seconds, first, last in sums.pod_time:
            p = self.pods.setdefault(key, PodInfo(key[0], key[1], node))
            p.seconds += seconds
            p.first_ms = first if p.first_ms is None else min(p.first_ms, first)
            p.last_ms = last if p.last_ms is None else max(p.last_ms, last)
        for key, model, mig, seconds in sums.gpu_time:
            g = self.gpus.setdefault(key, GpuInfo(key[0], key[1], model, mig))
            g.seconds += seconds
        for key, seconds in sums.gpu_free:
            self.gpus[key].unallocated_seconds += seconds
        for key, uuid, model, mig, capacity in sums.pod_gpus:
            p = self.pods.setdefault(key, PodInfo(key[0], key[1], node))
            p.gpus.add(uuid)
            p.gpu_model, p.mig_profile = model, mig
            p.gpu_memory_bytes = max(p.gpu_memory_bytes, capacity)

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
                                     self.label_cfg, spec_known=wk not in bare,
                                     spec_history=self.spec_history.get(wk, []))
        return Inventory(window_start, window_end, interval or 60.0, workloads, self.nodes, self.gpus,
                         self.pod_workload, pods_without_spec=len(bare))


@dataclass
class _PartitionSums:
    """What one partition adds to the observed cluster."""

    table: str
    date: str
    node: str
    runs: object  # the partition's covered runs (optimizer/uptime.py)
    lo: int
    hi: int
    interval: float
    pod_time: list = field(default_factory=list)  # ((namespace, pod), seconds, first ms, last ms)
    gpu_time: list = field(default_factory=list)  # ((node, uuid), model, mig profile, seconds)
    gpu_free: list = field(default_factory=list)  # ((node, uuid), seconds held by no pod)
    pod_gpus: list = field(default_factory=list)  # ((namespace, pod), uuid, model, mig profile, capacity bytes)


def _container_sums(out: _PartitionSums, t: pa.Table, ts_ms: np.ndarray, interval_s: np.ndarray) -> None:
    # one row per sample and container: a pod's time is its rows' time over its container count
    (ns, ns_v), (pod, pod_v), (cont, _) = (column_codes(t, c) for c in ("namespace", "pod", "container"))
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
        out.pod_time.append(((_value(ns_v, ns[i]), _value(pod_v, pod[i])), float(secs[j]) / max(1, int(ncont[j])),
                             int(lo[j]), int(hi[j])))


def _gpu_sums(out: _PartitionSums, t: pa.Table, interval_s: np.ndarray) -> None:
    (gn, gn_v), (uuid, uuid_v), (model, model_v), (mig, mig_v), (ns, ns_v), (pod, pod_v) = (
        column_codes(t, c) for c in ("node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod"))
    # GPU time: rows of a GPU shared by several pods repeat the instant, so divide by the pods seen
    group, first = _groups(gn, uuid, model, mig)
    k = len(first)
    secs = np.bincount(group, interval_s, minlength=k)
    held = pod >= 0
    _, pfirst = _groups(group[held], ns[held], pod[held])
    npods = np.bincount(group[held][pfirst], minlength=k)
    for j, i in enumerate(first.tolist()):
        out.gpu_time.append(((_value(gn_v, gn[i]), _value(uuid_v, uuid[i])), _value(model_v, model[i]),
                             _value(mig_v, mig[i]), float(secs[j]) / max(1, int(npods[j]))))
    free = ~held
    if free.any():
        fgroup, ffirst = _groups(gn[free], uuid[free])
        fsecs = np.bincount(fgroup, interval_s[free], minlength=len(ffirst))
        rows = np.flatnonzero(free)[ffirst]
        for j, i in enumerate(rows.tolist()):
            out.gpu_free.append(((_value(gn_v, gn[i]), _value(uuid_v, uuid[i])), float(fsecs[j])))
    if not held.any():
        return
    rows = np.flatnonzero(held)
    hgroup, hfirst = _groups(ns[rows], pod[rows], uuid[rows], model[rows], mig[rows])
    cap = np.zeros(len(hfirst), np.int64)  # a capacity not recorded counts as 0
    np.maximum.at(cap, hgroup, pc.fill_null(t.column("mem_total_bytes"), 0).to_numpy()[rows])
    for j, i in enumerate(rows[hfirst].tolist()):
        out.pod_gpus.append(((_value(ns_v, ns[i]), _value(pod_v, pod[i])), _value(uuid_v, uuid[i]),
                             _value(model_v, model[i]), _value(mig_v, mig[i]), int(cap[j])))


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
        return group_kernels.groups_by_first_row(key, top)
    first = np.sort(np.unique(key, return_index=True)[1])
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

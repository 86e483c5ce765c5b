"""pods and nodes rows from kube-state-metrics (docs/prometheus.md, "pods" and "nodes").

Presence (``kube_pod_info``, ``kube_node_info``) is read at the import step, so a pod's first row is at
the start of the first interval it was seen in: every sample of the pod finds its row. Owners, labels,
requests, limits and capacity are read on a coarser grid (``--state-step``); a row is written at first
sight in each chunk and whenever one of them changes.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from importers.prometheus.series import Grid, Series, dense, regex_union

# Label keys KSM turns into label_<sanitised> that the importer turns back (KSM's conversion is lossy:
# "app.kubernetes.io/name" and "app_kubernetes_io_name" look the same). Others keep KSM's form minus
# "label_"; --label-key adds keys to this list.
WELL_KNOWN_LABELS = (
    "app", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
    "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
    "team", "project", "use-case", "owner", "env", "environment", "rightsizer.io/value-class",
    "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type", "karpenter.sh/capacity-type",
    "karpenter.sh/nodepool", "eks.amazonaws.com/capacityType", "eks.amazonaws.com/nodegroup",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "kubernetes.io/hostname",
    "kubernetes.io/arch", "kubernetes.io/os", "nvidia.com/gpu.product", "nvidia.com/gpu.count",
    "nvidia.com/gpu.memory", "nvidia.com/mig.capable", "nvidia.com/mig.config", "cloud.google.com/gke-nodepool",
)
INSTANCE_TYPE = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
CAPACITY_TYPE = ("karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType")
ZONE, REGION = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
CONTROLLER = 'owner_is_controller="true"'
NONEMPTY = '!=""'
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_CAPS = re.compile(r"([a-z0-9])([A-Z])")
_MIG = re.compile(r"^nvidia_com_mig_(\d+)g_(\d+)gb$")
_AWS_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]$")
_PROVIDER_ZONE = re.compile(r"^aws:///([a-z0-9-]+)/")


def ksm_label_name(key: str) -> str:
    """kube-state-metrics' label name for a Kubernetes label key (internal/store/utils.go)."""
    return "label_" + _CAPS.sub(r"\1_\2", _INVALID.sub("_", key)).lower()


def label_restorer(extra: tuple[str, ...] = ()):
    table = {ksm_label_name(k): k for k in (*WELL_KNOWN_LABELS, *extra)}

    def restore(labels: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, value in labels.items():
            if name.startswith("label_") and value != "":
                out[table.get(name, name[len("label_"):])] = value
        return out

    return restore


def resource_name(ksm: str) -> str:
    """``nvidia_com_gpu`` → ``nvidia.com/gpu``; ``nvidia_com_mig_1g_10gb`` → ``nvidia.com/mig-1g.10gb``."""
    m = _MIG.match(ksm)
    if m:
        return f"nvidia.com/mig-{m.group(1)}g.{m.group(2)}gb"
    if ksm == "nvidia_com_gpu_shared":
        return "nvidia.com/gpu.shared"
    if ksm.startswith("nvidia_com_"):
        return "nvidia.com/" + ksm[len("nvidia_com_"):]
    return ksm


def aws_region(zone: str | None) -> str | None:
    m = _AWS_ZONE.match(zone or "")
    return m.group(1) if m else None


@dataclass(frozen=True)
class KsmOptions:
    selector: str = ""
    label_keys: tuple[str, ...] = ()
    instance_types: dict[str, dict[str, str]] = field(default_factory=dict)  # --node-instance-type-from


def _sel(*parts: str) -> str:
    return "{" + ",".join(p for p in parts if p) + "}"


def pod_queries(opts: KsmOptions, step_s: int, state_s: int, nodes: list[str] | None) -> dict[str, str]:
    node = f"node=~{regex_union(nodes)}" if nodes is not None else 'node!=""'
    s = opts.selector
    scope = f"last_over_time(kube_pod_info{_sel(s, node)}[{state_s}s])"

    def scoped(expr: str, by: str) -> str:
        return f"max by ({by}) ({expr} and on (namespace, pod) {scope})"

    return {
        "info": f"max by (namespace, pod, uid, node) (last_over_time(kube_pod_info{_sel(s, node)}[{step_s}s]))",
        "owner": scoped(f"last_over_time(kube_pod_owner{_sel(s, CONTROLLER)}[{state_s}s])",
                        "namespace, pod, owner_kind, owner_name"),
        "rs": f"max by (namespace, replicaset, owner_kind, owner_name) "
              f"(last_over_time(kube_replicaset_owner{_sel(s, CONTROLLER)}[{state_s}s]))",
        "job": f"max by (namespace, job_name, owner_kind, owner_name) "
               f"(last_over_time(kube_job_owner{_sel(s, CONTROLLER)}[{state_s}s]))",
        "labels": f"last_over_time(kube_pod_labels{_sel(s)}[{state_s}s]) and on (namespace, pod) {scope}",
        "containers": scoped(f"last_over_time(kube_pod_container_info{_sel(s)}[{state_s}s])",
                             "namespace, pod, container"),
        "requests": scoped(f"last_over_time(kube_pod_container_resource_requests{_sel(s)}[{state_s}s])",
                           "namespace, pod, container, resource"),
        "limits": scoped(f"last_over_time(kube_pod_container_resource_limits{_sel(s)}[{state_s}s])",
                         "namespace, pod, container, resource"),
    }


def node_queries(opts: KsmOptions, step_s: int, state_s: int, dcgm_node_labels: tuple[str, ...]) -> dict[str, str]:
    s = opts.selector
    q = {
        "info": f"max by (node, provider_id) (last_over_time(kube_node_info{_sel(s)}[{step_s}s]))",
        "labels": f"last_over_time(kube_node_labels{_sel(s)}[{state_s}s])",
        "capacity": f"max by (node, resource) (last_over_time(kube_node_status_capacity{_sel(s)}[{state_s}s]))",
    }
    gpus = [f"count by ({lab}, modelName) (max by ({lab}, modelName, UUID, uuid) "
            f"(last_over_time(DCGM_FI_DEV_FB_USED{_sel(s, lab + NONEMPTY)}[{state_s}s])))" for lab in dcgm_node_labels]
    if gpus:
        q["gpus"] = " or ".join(gpus)
    return q


class _State:
    """Per-entity values on the coarse grid: the value in force at a time, and the times it changed."""

    def __init__(self, grid: Grid):
        self.grid = grid
        self.values: dict[tuple, list[tuple[int, object]]] = {}
        self._sorted: dict[tuple, tuple[list[int], list[object]]] = {}

    def add(self, key: tuple, series: Series, value) -> None:
        for i in np.flatnonzero(~np.isnan(series.values)):
            self.values.setdefault(key, []).append((int(i), value))

    def _points(self, key: tuple) -> tuple[list[int], list[object]] | None:
        got = self._sorted.get(key)
        if got is None:
            points = self.values.get(key)
            if not points:
                return None
            idx, vals = [], []
            for i, v in sorted(points, key=lambda p: p[0]):
                if not idx or idx[-1] != i:  # duplicate series (KSM replicas): the first one
                    idx.append(i)
                    vals.append(v)
            got = self._sorted[key] = (idx, vals)
        return got

    def at(self, key: tuple, t: float) -> object | None:
        """The value reported for the coarse window that contains ``t`` (else the latest one)."""
        points = self._points(key)
        if points is None:
            return None
        idx, vals = points
        # coarse point i covers (t0 + (i-1)·step, t0 + i·step]
        want = int(np.ceil((t - self.grid.t0) / self.grid.step - 1e-9))
        k = bisect.bisect_left(idx, want)
        return vals[k] if k < len(idx) else vals[-1]

    def changes(self, key: tuple) -> list[float]:
        """Times of the coarse points whose value differs from the one before."""
        points = self._points(key)
        if points is None:
            return []
        idx, vals = points
        return [self.grid.t0 + idx[k] * self.grid.step for k in range(1, len(idx)) if vals[k] != vals[k - 1]]


def build_pods(results: dict[str, list[dict]], grid: Grid, coarse: Grid, step_s: int, opts: KsmOptions) -> pa.Table:
    restore = label_restorer(opts.label_keys)
    rs_owner = {(s.labels.get("namespace"), s.labels.get("replicaset")): (s.labels.get("owner_kind"), s.labels.get("owner_name"))
                for s in dense(results.get("rs", []), coarse) if s.labels.get("owner_name")}
    job_owner = {(s.labels.get("namespace"), s.labels.get("job_name")): (s.labels.get("owner_kind"), s.labels.get("owner_name"))
                 for s in dense(results.get("job", []), coarse) if s.labels.get("owner_name")}
    owner, labels, containers, requests, limits = (_State(coarse) for _ in range(5))
    for s in dense(results.get("owner", []), coarse):
        owner.add((s.labels.get("namespace"), s.labels.get("pod")), s, (s.labels.get("owner_kind"), s.labels.get("owner_name")))
    for s in dense(results.get("labels", []), coarse):
        owner_key = (s.labels.get("namespace"), s.labels.get("pod"))
        labels.add(owner_key, s, json.dumps(restore(s.labels), sort_keys=True))
    names: dict[tuple, set[str]] = {}
    for s in dense(results.get("containers", []), coarse):
        names.setdefault((s.labels.get("namespace"), s.labels.get("pod")), set()).add(s.labels.get("container"))
    for state, name in ((requests, "requests"), (limits, "limits")):
        for s in dense(results.get(name, []), coarse):
            lab = s.labels
            pod_key = (lab.get("namespace"), lab.get("pod"))
            names.setdefault(pod_key, set()).add(lab.get("container"))
            for i in np.flatnonzero(~np.isnan(s.values)):
                state.values.setdefault((*pod_key, lab.get("container"), lab.get("resource")), []).append(
                    (int(i), float(s.values[i])))
    gpu_resources: dict[tuple, list[str]] = {}
    spec_keys: dict[tuple, list[tuple]] = {}  # pod → its request and limit keys
    for state in (requests, limits):
        for key in state.values:
            spec_keys.setdefault(key[:2], []).append((state, key))
    for ns, pod, c, resource in requests.values:
        if resource and resource.startswith("nvidia_com_"):
            gpu_resources.setdefault((ns, pod, c), []).append(resource)
    rows: list[dict] = []
    ts_ms = grid.ts_ms()
    for s in dense(results.get("info", []), grid):
        lab = s.labels
        ns, pod, node = lab.get("namespace"), lab.get("pod"), lab.get("node")
        seen = np.flatnonzero(~np.isnan(s.values))
        if not (ns and pod and node) or not len(seen):
            continue
        pod_key = (ns, pod)
        first_ms = int(ts_ms[seen[0]]) - step_s * 1000  # the start of the first interval it was seen in
        last_t = float(ts_ms[seen[-1]]) / 1000
        changed = {*owner.changes(pod_key), *labels.changes(pod_key),
                   *(t for state, key in spec_keys.get(pod_key, ()) for t in state.changes(key))}
        times = [first_ms / 1000 + step_s] + sorted(t for t in changed if first_ms / 1000 + step_s < t <= last_t)
        for container in sorted(c for c in names.get(pod_key, ()) if c):
            previous = None
            for k, t in enumerate(times):
                row = _pod_row(pod_key, container, t, owner, labels, requests, limits, rs_owner, job_owner, gpu_resources)
                if row == previous:
                    continue
                previous = row
                rows.append({"ts": first_ms if k == 0 else int(round(t * 1000)), "node": node, "namespace": ns,
                             "pod": pod, "pod_uid": lab.get("uid") or None, "container": container, **row})
    if not rows:
        from store.schema import empty_table

        return empty_table("pods")
    return _table(rows, "pods")


def _pod_row(pod_key, container, t, owner, labels, requests, limits, rs_owner, job_owner, gpu_resources) -> dict:
    kind, name = owner.at(pod_key, t) or ("Pod", pod_key[1])
    if kind == "ReplicaSet" and (pod_key[0], name) in rs_owner:
        kind, name = rs_owner[(pod_key[0], name)]
    elif kind == "Job" and (pod_key[0], name) in job_owner:
        kind, name = job_owner[(pod_key[0], name)]
    if kind in ("<none>", "", None):
        kind, name = "Pod", pod_key[1]
    key = (*pod_key, container)
    gpu_resource = gpu_request = None
    for resource in gpu_resources.get(key, ()):
        value = requests.at((*key, resource), t)
        if value:
            gpu_resource, gpu_request = resource_name(resource), value
            break
    mem_req, mem_lim = requests.at((*key, "memory"), t), limits.at((*key, "memory"), t)
    return {
        "workload_kind": kind, "workload_name": name, "labels": labels.at(pod_key, t),
        "cpu_request": requests.at((*key, "cpu"), t), "cpu_limit": limits.at((*key, "cpu"), t),
        "mem_request": None if mem_req is None else int(round(mem_req)),
        "mem_limit": None if mem_lim is None else int(round(mem_lim)),
        "gpu_resource": gpu_resource, "gpu_request": gpu_request,
    }


def build_nodes(results: dict[str, list[dict]], grid: Grid, coarse: Grid, step_s: int, opts: KsmOptions) -> pa.Table:
    restore = label_restorer(opts.label_keys)
    labels, capacity, gpus = _State(coarse), _State(coarse), _State(coarse)
    for s in dense(results.get("labels", []), coarse):
        if s.labels.get("node"):
            labels.add((s.labels["node"],), s, restore(s.labels))
    for s in dense(results.get("capacity", []), coarse):
        if s.labels.get("node"):
            for i in np.flatnonzero(~np.isnan(s.values)):
                capacity.values.setdefault((s.labels["node"], s.labels.get("resource")), []).append(
                    (int(i), float(s.values[i])))
    for s in dense(results.get("gpus", []), coarse):
        node = s.labels.get("Hostname") or s.labels.get("hostname")
        if node:
            for i in np.flatnonzero(~np.isnan(s.values)):
                gpus.values.setdefault((node,), []).append((int(i), (int(s.values[i]), s.labels.get("modelName"))))
    ts_ms = grid.ts_ms()
    rows = []
    for s in dense(results.get("info", []), grid):
        node = s.labels.get("node")
        seen = np.flatnonzero(~np.isnan(s.values))
        if not node or not len(seen):
            continue
        first_ms = int(ts_ms[seen[0]]) - step_s * 1000
        last_t = float(ts_ms[seen[-1]]) / 1000
        changed = {*labels.changes((node,)), *gpus.changes((node,)),
                   *(t for key in capacity.values if key[0] == node for t in capacity.changes(key))}
        times = [first_ms / 1000 + step_s] + sorted(t for t in changed if first_ms / 1000 + step_s < t <= last_t)
        previous = None
        for k, t in enumerate(times):
            row = _node_row(node, t, s.labels.get("provider_id"), labels, capacity, gpus, opts)
            if row == previous:
                continue
            previous = row
            rows.append({"ts": first_ms if k == 0 else int(round(t * 1000)), "node": node, **row})
    if not rows:
        from store.schema import empty_table

        return empty_table("nodes")
    return _table(rows, "nodes")


def _node_row(node, t, provider_id, labels, capacity, gpus, opts: KsmOptions) -> dict:
    lab = labels.at((node,), t) or {}
    instance = next((lab[k] for k in INSTANCE_TYPE if lab.get(k)), None)
    cap = next((lab[k] for k in CAPACITY_TYPE if lab.get(k)), None)
    cap = cap.lower().replace("_", "-") if cap else None
    zone = lab.get(ZONE)
    if not zone and provider_id:
        m = _PROVIDER_ZONE.match(provider_id)
        zone = m.group(1) if m else None
    region = lab.get(REGION) or aws_region(zone)
    override = opts.instance_types.get(node, {})
    instance = override.get("instance_type") or instance
    cap = override.get("capacity_type") or cap
    zone = override.get("zone") or zone
    region = override.get("region") or region or aws_region(zone)
    cpu, mem = capacity.at((node, "cpu"), t), capacity.at((node, "memory"), t)
    counted = gpus.at((node,), t)
    gpu_count = counted[0] if counted else None
    if gpu_count is None:
        cap_gpu = capacity.at((node, "nvidia_com_gpu"), t)
        gpu_count = int(cap_gpu) if cap_gpu is not None else (0 if cpu is not None else None)
    return {
        "instance_type": instance, "capacity_type": cap if cap in ("on-demand", "spot") else None,
        "zone": zone, "region": region, "cpu_capacity": cpu,
        "mem_capacity": None if mem is None else int(round(mem)), "gpu_count": gpu_count,
        "gpu_model": counted[1] if counted else None,
        "labels": json.dumps(lab, sort_keys=True) if lab else None,
    }


def _table(rows: list[dict], table: str) -> pa.Table:
    from store.schema import SCHEMAS

    schema = SCHEMAS[table]
    cols = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if f.name == "ts":
            cols["ts"] = pa.array(values, type=pa.int64()).view(f.type)
        else:
            cols[f.name] = pa.array(values, type=f.type)
    return pa.table(cols)

"""Pod and node metadata from the Kubernetes API: a list+watch of this node's pods, owner chains resolved
to the workload (ReplicaSet -> Deployment, Job -> CronJob), and the rows of the ``pods``/``nodes`` tables.

The watch runs in its own thread; the sampling loop only reads the current maps and drains the rows that
changed (``take_pod_rows``), so a slow API server never delays a tick.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

from agent.attribution.kubeapi import KubeApi, KubeError, parse_quantity
from store.records import ContainerSpec

log = logging.getLogger("rightsizer.agent.pods")

_GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")


@dataclass(frozen=True)
class PodInfo:
    uid: str
    namespace: str
    name: str
    workload_kind: str
    workload_name: str
    labels: str  # JSON object, keys sorted
    containers: tuple[ContainerSpec, ...]
    container_ids: tuple[tuple[str, str], ...]  # (runtime container id without scheme, container name)

    def container_for(self, container_id: str | None) -> str | None:
        if container_id:
            for cid, name in self.container_ids:
                if cid == container_id:
                    return name
        return self.containers[0].name if len(self.containers) == 1 else None

    def spec_key(self) -> tuple:
        return (self.workload_kind, self.workload_name, self.labels, self.containers)


def _gpu_of(resources: dict) -> tuple[str | None, float | None]:
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    for key in sorted(set(limits) | set(requests)):
        if key in _GPU_RESOURCES or key.startswith("nvidia.com/mig-") or key.startswith("nvidia.com/gpu."):
            return key, parse_quantity(limits.get(key, requests.get(key)))
    return None, None


def _int(v: float | None) -> int | None:
    return None if v is None else int(v)


def container_spec(c: dict) -> ContainerSpec:
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    gpu_resource, gpu_request = _gpu_of(res)
    return ContainerSpec(name=c["name"], cpu_request=parse_quantity(req.get("cpu")),
                         cpu_limit=parse_quantity(lim.get("cpu")), mem_request=_int(parse_quantity(req.get("memory"))),
                         mem_limit=_int(parse_quantity(lim.get("memory"))), gpu_resource=gpu_resource,
                         gpu_request=gpu_request)


class OwnerResolver:
    """Follows a pod's controller reference to the workload a user would name. Answers are cached."""

    _PATHS = {"ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets/{name}",
              "Job": "/apis/batch/v1/namespaces/{ns}/jobs/{name}"}

    def __init__(self, api: KubeApi):
        self.api = api
        self._cache: dict[tuple[str, str, str], tuple[str, str]] = {}

    def resolve(self, namespace: str, pod: dict) -> tuple[str, str]:
        ref = _controller(pod.get("metadata", {}))
        if ref is None:
            return "Pod", pod["metadata"]["name"]
        kind, name = ref["kind"], ref["name"]
        if kind not in self._PATHS:
            return kind, name
        key = (namespace, kind, name)
        if key not in self._cache:
            self._cache[key] = self._lookup(namespace, kind, name, pod)
        return self._cache[key]

    def _lookup(self, namespace: str, kind: str, name: str, pod: dict) -> tuple[str, str]:
        try:
            owner = self.api.get(self._PATHS[kind].format(ns=namespace, name=name))
        except KubeError as exc:
            if exc.status == 404:  # owner already deleted: the pod's own reference is all there is
                return kind, name
            log.warning("cannot read %s %s/%s (%s); using the pod's labels to name the workload",
                        kind, namespace, name, exc)
            # Deployment ReplicaSets are named <deployment>-<pod-template-hash>.
            hash_ = (pod.get("metadata", {}).get("labels") or {}).get("pod-template-hash")
            if kind == "ReplicaSet" and hash_ and name.endswith("-" + hash_):
                return "Deployment", name[: -len(hash_) - 1]
            return kind, name
        parent = _controller(owner.get("metadata", {}))
        if parent and (kind, parent["kind"]) in (("ReplicaSet", "Deployment"), ("Job", "CronJob")):
            return parent["kind"], parent["name"]
        return kind, name


def _controller(meta: dict) -> dict | None:
    refs = meta.get("ownerReferences") or []
    for r in refs:
        if r.get("controller"):
            return r
    return refs[0] if refs else None


class PodWatcher:
    """Keeps ``by_uid`` current for the pods bound to ``node_name`` and queues pods/nodes table rows."""

    def __init__(self, api: KubeApi, node_name: str, *, gpu_info=None):
        self.api = api
        self.node_name = node_name
        self.owners = OwnerResolver(api)
        self.by_uid: dict[str, PodInfo] = {}
        self.generation = 0  # bumps whenever the set of pods changes
        self.synced = False
        self._resource_version: str | None = None
        self._lock = threading.Lock()
        self._pending: list[PodInfo] = []
        self._emitted: dict[str, tuple] = {}
        self._node_key: tuple | None = None
        self._pending_node: dict | None = None
        self._node_row: dict | None = None  # the latest node row, for re-emission
        self.gpu_info = gpu_info  # callable -> (gpu_count, gpu_model) from NVML, preferred over labels

    # -- pods ------------------------------------------------------------------------------------------
    def _params(self) -> dict:
        return {"fieldSelector": f"spec.nodeName={self.node_name}"}

    def sync(self) -> None:
        """A full list: replaces the map (pods deleted while the watch was down disappear)."""
        body = self.api.get("/api/v1/pods", self._params())
        pods = {}
        for item in body.get("items") or []:
            info = self._info(item)
            if info is not None:
                pods[info.uid] = info
        with self._lock:
            self.by_uid = pods
            self.generation += 1
            for info in pods.values():
                self._queue(info)
        self._resource_version = (body.get("metadata") or {}).get("resourceVersion")
        self.synced = True

    def watch_once(self, timeout_s: float = 300.0) -> None:
        """Apply one watch stream's events; on 410 Gone (history expired) the next call relists."""
        params = self._params()
        if self._resource_version:
            params["resourceVersion"] = self._resource_version
        for event in self.api.watch("/api/v1/pods", params, timeout_s=timeout_s):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    self._resource_version = None
                    self.synced = False
                raise KubeError(obj.get("code"), obj.get("message", "watch error"))
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self._resource_version = rv
            if kind == "BOOKMARK":
                continue
            uid = (obj.get("metadata") or {}).get("uid")
            if kind == "DELETED":
                with self._lock:
                    if self.by_uid.pop(uid, None) is not None:
                        self.generation += 1
                    self._emitted.pop(uid, None)
                continue
            info = self._info(obj)
            if info is not None:
                with self._lock:
                    is_new = uid not in self.by_uid
                    self.by_uid[uid] = info
                    if is_new:
                        self.generation += 1
                    self._queue(info)

    def run(self, stop: threading.Event) -> None:
        """Background loop: list, then watch; reconnect with backoff on any error."""
        delay = 1.0
        while not stop.is_set():
            try:
                if not self.synced:
                    self.sync()
                self._refresh_node_quietly()
                self.watch_once()
                delay = 1.0
            except KubeError as exc:
                log.warning("Kubernetes API: %s; retrying in %.0f s", exc, delay)
                stop.wait(delay)
                delay = min(60.0, delay * 2)
            except Exception:  # never let the watch thread die silently
                log.exception("pod watch failed; retrying in %.0f s", delay)
                stop.wait(delay)
                delay = min(60.0, delay * 2)

    def _info(self, pod: dict) -> PodInfo | None:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        if not meta.get("uid") or spec.get("nodeName") not in (None, self.node_name):
            return None
        ns = meta.get("namespace", "default")
        kind, name = self.owners.resolve(ns, pod)
        ids = []
        for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            cid = cs.get("containerID") or ""
            if cid:
                ids.append((cid.split("://", 1)[-1], cs["name"]))
        return PodInfo(uid=meta["uid"], namespace=ns, name=meta["name"], workload_kind=kind, workload_name=name,
                       labels=json.dumps(meta.get("labels") or {}, sort_keys=True),
                       containers=tuple(container_spec(c) for c in spec.get("containers") or []),
                       container_ids=tuple(ids))

    def _queue(self, info: PodInfo) -> None:
        key = info.spec_key()
        if self._emitted.get(info.uid) != key:
            self._emitted[info.uid] = key
            self._pending.append(info)

    def lookup(self, uid: str) -> PodInfo | None:
        return self.by_uid.get(uid)

    def find(self, namespace: str, name: str) -> PodInfo | None:
        for info in list(self.by_uid.values()):
            if info.namespace == namespace and info.name == name:
                return info
        return None

    def reemit(self) -> None:
        """Queue a row for every pod on the node again (and the node row), as if first seen: after rows were
        dropped, and on a new UTC day. Pods already waiting for their row are not queued twice."""
        with self._lock:
            waiting = {info.uid for info in self._pending}
            for info in self.by_uid.values():
                self._emitted[info.uid] = info.spec_key()
                if info.uid not in waiting:
                    self._pending.append(info)
            if self._node_row is not None and self._pending_node is None:
                self._pending_node = self._node_row

    def take_pod_rows(self, ts_ms: int) -> list[dict]:
        with self._lock:
            pending, self._pending = self._pending, []
        rows = []
        for info in pending:
            for c in info.containers:
                rows.append({"ts": ts_ms, "node": self.node_name, "namespace": info.namespace, "pod": info.name,
                             "pod_uid": info.uid, "workload_kind": info.workload_kind,
                             "workload_name": info.workload_name, "labels": info.labels, "container": c.name,
                             "cpu_request": c.cpu_request, "cpu_limit": c.cpu_limit, "mem_request": c.mem_request,
                             "mem_limit": c.mem_limit, "gpu_resource": c.gpu_resource, "gpu_request": c.gpu_request})
        return rows

    # -- node ------------------------------------------------------------------------------------------
    def _refresh_node_quietly(self) -> None:
        """A node we may not read (RBAC) must not stop the pod watch: warn once and go on."""
        try:
            self.refresh_node()
        except KubeError as exc:
            if not getattr(self, "_node_warned", False):
                self._node_warned = True
                log.warning("cannot read node %s (%s); the nodes table stays empty", self.node_name, exc)

    def refresh_node(self) -> None:
        node = self.api.get(f"/api/v1/nodes/{self.node_name}")
        row = node_row(node, self.node_name, self.gpu_info() if self.gpu_info else (None, None))
        key = tuple(sorted((k, v) for k, v in row.items() if k != "ts"))
        with self._lock:
            self._node_row = row
            if key != self._node_key:
                self._node_key = key
                self._pending_node = row

    def take_node_row(self, ts_ms: int) -> dict | None:
        with self._lock:
            row, self._pending_node = self._pending_node, None
        return None if row is None else {**row, "ts": ts_ms}


def capacity_type(labels: dict) -> str | None:
    value = labels.get("karpenter.sh/capacity-type") or labels.get("eks.amazonaws.com/capacityType")
    if not value:
        return None
    value = value.lower().replace("_", "-")
    return value if value in ("spot", "on-demand") else None


def node_row(node: dict, node_name: str, gpu: tuple[int | None, str | None]) -> dict:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    cap = status.get("capacity") or {}
    gpu_count, gpu_model = gpu
    if gpu_count is None and cap.get("nvidia.com/gpu") is not None:
        gpu_count = int(parse_quantity(cap["nvidia.com/gpu"]) or 0)
    mem = parse_quantity(cap.get("memory"))
    return {"node": node_name,
            "instance_type": labels.get("node.kubernetes.io/instance-type") or labels.get("beta.kubernetes.io/instance-type"),
            "capacity_type": capacity_type(labels),
            "zone": labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone"),
            "region": labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region"),
            "cpu_capacity": parse_quantity(cap.get("cpu")), "mem_capacity": None if mem is None else int(mem),
            "gpu_count": gpu_count, "gpu_model": gpu_model or labels.get("nvidia.com/gpu.product"),
            "labels": json.dumps(labels, sort_keys=True)}

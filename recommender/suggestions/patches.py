"""The pieces of a partial Kubernetes object: the target workload, quantities, the object skeleton.

A partial object is valid for ``kubectl apply --server-side --field-manager=rightsizer -f`` (an apply
configuration) and as a kustomize strategic-merge patch: containers are keyed by ``name`` (a merge key in
both), maps (nodeSelector, resources) merge key by key, and ``tolerations`` — a list without a merge key —
is written in full (the existing tolerations plus the new one), because a patch replaces it whole.
What goes into one is decided in changes.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from store.records import ContainerSpec

WORKLOAD_API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
                "Job": "batch/v1", "CronJob": "batch/v1"}
SCALABLE = {"Deployment", "StatefulSet"}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
SPOT_TOLERATION = {"key": CAPACITY_TYPE_LABEL, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
# NVIDIA device plugin time-slicing with renameByDefault: shared replicas are advertised under this name.
SHARED_GPU_RESOURCE = "nvidia.com/gpu.shared"
GPU_RESOURCES = ("nvidia.com/gpu", SHARED_GPU_RESOURCE)


@dataclass(frozen=True)
class Target:
    """The object a recommendation changes, with what we know of it (from the observed cluster and its
    manifest)."""

    namespace: str
    kind: str
    name: str
    containers: dict[str, ContainerSpec]  # container name -> its spec in the observed cluster (Inventory)
    manifest: dict | None = None  # the original object, when a manifests folder has it

    def spec_value(self, container: str, key: str):
        """One field of a container's observed spec (``cpu_request``, ``gpu_resource``, ...); None if unknown."""
        spec = self.containers.get(container)
        return getattr(spec, key) if spec is not None else None

    @property
    def api_version(self) -> str:
        if self.manifest and self.manifest.get("apiVersion"):
            return self.manifest["apiVersion"]
        return WORKLOAD_API[self.kind]

    def pod_spec(self) -> dict:
        spec = (self.manifest or {}).get("spec") or {}
        if self.kind == "CronJob":
            spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        return ((spec.get("template") or {}).get("spec")) or {}

    def container_names(self) -> list[str]:
        from_manifest = [c.get("name") for c in self.pod_spec().get("containers", []) if c.get("name")]
        return from_manifest or sorted(self.containers)

    def gpu_container(self) -> str | None:
        """The container holding the GPU (the first with a GPU resource), else the first container."""
        for name in self.container_names():
            if self.spec_value(name, "gpu_resource"):
                return name
        for c in self.pod_spec().get("containers", []):
            limits = ((c.get("resources") or {}).get("limits")) or {}
            if any(k.startswith("nvidia.com/") for k in limits):
                return c.get("name")
        names = self.container_names()
        return names[0] if names else None


def supported(kind: str) -> bool:
    return kind in WORKLOAD_API


def skeleton(target: Target, pod_spec: dict | None = None, spec: dict | None = None) -> dict:
    obj = {"apiVersion": target.api_version, "kind": target.kind,
           "metadata": {"name": target.name, "namespace": target.namespace}}
    spec = dict(spec or {})
    if pod_spec is not None:
        template = {"spec": pod_spec}
        if target.kind == "CronJob":
            spec["jobTemplate"] = {"spec": {"template": template}}
        else:
            spec["template"] = template
    if spec:
        obj["spec"] = spec
    return obj


# -- quantities -----------------------------------------------------------------------------------------
def cpu_quantity(cores: float) -> str:
    """Cores as millicores, rounded up to 10m (never below 10m, the kubelet's useful minimum)."""
    milli = max(10, int(math.ceil(cores * 100 - 1e-9)) * 10)
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(value: float) -> str:
    """Bytes as Mi, rounded up (Gi when whole)."""
    mib = max(1, int(math.ceil(value / 2**20 - 1e-9)))
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


# -- shared by the change builders ------------------------------------------------------------------
def split_pod_requests(target: Target, proposed: dict) -> dict:
    """A pod-level proposal spread over containers in proportion to their current requests."""
    names = target.container_names()
    out: dict[str, dict] = {n: {} for n in names}
    for key in ("cpu_request", "mem_request"):
        value = proposed.get(key)
        if value is None or not names:
            continue
        current = {n: target.spec_value(n, key) or 0.0 for n in names}
        total = sum(current.values())
        for n in names:
            if total > 0:
                if current[n] > 0:
                    out[n][key] = value * current[n] / total
            elif n == (target.gpu_container() or names[0]):
                out[n][key] = value
    return out


def full_tolerations(target: Target, wanted: list[dict]) -> list[dict]:
    """The existing tolerations (from the manifest) plus ``wanted`` ones not already tolerated."""
    existing = list(target.pod_spec().get("tolerations") or [])
    out = [dict(t) for t in existing]
    for t in wanted:
        if not any(_tolerates(e, t) for e in existing):
            out.append(dict(t))
    return out


def _tolerates(have: dict, want: dict) -> bool:
    if have.get("operator") == "Exists" and not have.get("key"):
        return True  # tolerates everything
    if have.get("key") != want.get("key"):
        return False
    if have.get("effect") and have.get("effect") != want.get("effect"):
        return False
    return have.get("operator") == "Exists" or have.get("value") == want.get("value")

"""What a recommendation's ``proposed`` does to its workload object, field by field, and nothing else.

The change is read from ``proposed`` (not from the action's name), so a merged proposal — a MIG slice
with right-sized requests, spot with a cheaper shape — carries every field it is priced with:

| ``proposed`` key | object field |
|---|---|
| ``containers`` (or pod-level ``cpu_request`` / ``mem_request``) | ``resources.requests`` per container (a limit below the new request is raised to it) |
| ``mig_profile`` | the GPU container's GPU resource becomes ``nvidia.com/mig-<profile>`` × ``gpu_count`` |
| ``gpu_fraction`` | the GPU resource becomes one ``nvidia.com/gpu.shared`` (time slicing) |
| ``gpu_count`` 0 | the GPU resource is removed |
| ``gpu_count`` n | the GPU resource's count becomes n |
| ``instance_type`` (one type, not the current one) | ``nodeSelector[node.kubernetes.io/instance-type]`` |
| ``capacity_type: spot`` | node affinity preferring spot and allowing on-demand, the spot toleration, no capacity pin; with several ``instance_type`` values (comma-separated), affinity to any of them instead of a one-type pin |
| ``min_replicas: 0`` | a KEDA ScaledObject (a new object, keda.py) |
| ``server_memory_fraction`` | the model server's memory-share flag in the container's ``args``/``command`` (server_args.py), else a note |

Two parts carry it. ``patch`` is a partial object: a kustomize strategic-merge patch and an apply
configuration for ``kubectl apply --server-side``. ``json_ops`` is an RFC 6902 JSON patch for what a
partial object cannot do: *remove* a key. A strategic-merge ``null`` deletes a key in kustomize, but
server-side apply deletes a field only when no other field manager (Helm, Argo CD, an earlier
``kubectl apply``) still owns it, so a pod could end up asking for a whole GPU *and* a slice. A JSON
patch removes the key whoever owns it, under kustomize (``patches`` with a ``target``) and on a live
object (``kubectl patch --type=json``). Swapping a GPU resource goes entirely into the JSON patch, so
the old resource leaves and the new one arrives in the same rollout. Every op list starts with a
``test`` of the container's name at that index: a live object whose containers are ordered differently
makes the patch fail instead of editing the wrong container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recommender.suggestions.patches import (
    CAPACITY_TYPE_LABEL,
    GPU_RESOURCES,
    GPU_TOLERATION,
    INSTANCE_TYPE_LABEL,
    SHARED_GPU_RESOURCE,
    SPOT_TOLERATION,
    Target,
    cpu_quantity,
    full_tolerations,
    memory_quantity,
    skeleton,
    split_pod_requests,
)
from recommender.suggestions.server_args import memory_fraction_change

if TYPE_CHECKING:
    from optimizer.result import Recommendation

ON_DEMAND = "on-demand"
SPOT = "spot"


@dataclass
class Change:
    """The edits of one recommendation to its workload object."""

    patch: dict | None = None  # partial object (strategic merge / apply configuration)
    json_ops: list[dict] = field(default_factory=list)  # RFC 6902 ops, applied after the patch
    notes: list[str] = field(default_factory=list)  # what the engineer must know before applying

    @property
    def empty(self) -> bool:
        return self.patch is None and not self.json_ops


def pod_spec_pointer(target: Target) -> str:
    return "/spec/jobTemplate/spec/template/spec" if target.kind == "CronJob" else "/spec/template/spec"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _quantity(count: float):
    return int(count) if float(count).is_integer() else count


def workload_change(rec: Recommendation, target: Target) -> Change:
    """Every field ``proposed`` names, as a patch plus JSON ops; an empty Change when it names none."""
    cur, prop = rec.current or {}, rec.proposed or {}
    pod: dict = {}
    containers: dict[str, dict] = {}
    ops: list[dict] = []
    notes: list[str] = []

    requests = prop.get("containers")
    if not isinstance(requests, dict) and (prop.get("cpu_request") is not None or prop.get("mem_request") is not None):
        requests = split_pod_requests(target, prop)
    known = target.container_names()
    for name, want in (requests or {}).items():
        if name not in known:
            notes.append(f"container {name} is not in the workload's manifest: its proposed requests are not here")
            continue
        resources = _requests(target, name, want or {})
        if resources:
            containers[name] = {"name": name, "resources": resources}

    gpu_ops, gpu_counts = _gpu_change(target, cur, prop)
    ops += gpu_ops
    for name, resources in gpu_counts.items():
        entry = containers.setdefault(name, {"name": name, "resources": {}})
        for part, values in resources.items():
            entry["resources"].setdefault(part, {}).update(values)

    memory_ops, memory_notes = memory_fraction_change(rec, target)  # a KV-aware model server's own share
    ops += memory_ops
    notes += memory_notes

    instance_type = prop.get("instance_type")
    if (isinstance(instance_type, str) and instance_type and "," not in instance_type
            and instance_type != cur.get("instance_type")):
        pod["nodeSelector"] = {INSTANCE_TYPE_LABEL: instance_type}

    if prop.get("capacity_type") == SPOT and cur.get("capacity_type") != SPOT:
        spot_pod, spot_ops = _spot(target, prop)
        pod.update({k: v for k, v in spot_pod.items() if k != "nodeSelector"})
        if "nodeSelector" in spot_pod:
            pod.setdefault("nodeSelector", {}).update(spot_pod["nodeSelector"])
        ops += spot_ops

    ops = _whole_selector(target, pod, ops)
    if containers:
        pod["containers"] = [containers[n] for n in known if n in containers]
    spec = {}
    replicas = prop.get("replicas")
    if replicas is not None and target.kind in ("Deployment", "StatefulSet"):
        spec["replicas"] = int(replicas)
    patch = skeleton(target, pod or None, spec or None) if (pod or spec) else None
    if ops:
        ops = _guards(target, ops) + ops
    if target.kind == "Job" and (patch or ops):
        notes.append("a Job's pod template cannot be changed once created: apply this to the manifest the next "
                     "run is created from, not to the live Job")
    return Change(patch, ops, notes)


def _requests(target: Target, name: str, want: dict) -> dict:
    manifest_limits = _manifest_resources(target, name).get("limits") or {}
    requests, limits = {}, {}
    for key, resource, fmt in (("cpu_request", "cpu", cpu_quantity), ("mem_request", "memory", memory_quantity)):
        value = want.get(key)
        if value is None:
            continue
        requests[resource] = fmt(value)
        limit = target.spec_value(name, key.replace("request", "limit"))
        if limit is None and resource in manifest_limits:
            limit = _parse_quantity(manifest_limits[resource])
        if limit is not None and limit < value:
            limits[resource] = fmt(value)  # a limit below the request is invalid: raise it to the request
    out: dict = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _gpu_change(target: Target, cur: dict, prop: dict) -> tuple[list[dict], dict]:
    """JSON ops swapping or removing the GPU resource, and plain count changes (a patch can set those)."""
    name = target.gpu_container()
    if name is None:
        return [], {}
    old = _gpu_resource(target, name)
    count = prop.get("gpu_count")
    if prop.get("mig_profile"):
        new, n = f"nvidia.com/mig-{prop['mig_profile']}", count or 1
    elif prop.get("gpu_fraction") is not None and prop.get("gpu_fraction") < 1:
        new, n = SHARED_GPU_RESOURCE, 1
    elif count == 0:
        new, n = None, 0
    elif count and old and count != cur.get("gpu_count"):
        parts = {"limits": {old: _quantity(count)}}
        if old in (_manifest_resources(target, name).get("requests") or {}):
            parts["requests"] = {old: _quantity(count)}
        return [], {name: parts}
    else:
        return [], {}
    if old == new:
        return [], {}
    base = f"{pod_spec_pointer(target)}/containers/{_index(target, name)}/resources"
    res = _manifest_resources(target, name)
    ops: list[dict] = []
    for part in ("limits", "requests"):
        have = dict(res.get(part) or {})
        if target.manifest is None and part == "limits" and old:
            have = {old: None}  # no manifest: the dataset says the GPU resource is there, as a limit at least
        gpu_keys = sorted(k for k in have if _is_gpu_resource(k))
        if not new and gpu_keys and target.manifest is not None and len(gpu_keys) == len(have):
            ops.append({"op": "remove", "path": f"{base}/{part}"})  # nothing else in it: no empty map left
            continue
        for key in gpu_keys:
            ops.append({"op": "remove", "path": f"{base}/{part}/{_escape(key)}"})
        # the new resource as a limit always (extended resources need one), as a request where the GPU was one
        if new and (part == "limits" or gpu_keys):
            if part not in res and target.manifest is not None:
                ops.append({"op": "add", "path": f"{base}/{part}", "value": {}})
            ops.append({"op": "add", "path": f"{base}/{part}/{_escape(new)}", "value": _quantity(n)})
    return ops, {}


def _spot(target: Target, prop: dict) -> tuple[dict, list[dict]]:
    """Prefer spot, allow on-demand (the scheduler falls back when spot has no capacity), tolerate the spot
    taint; a capacity-type pin in the manifest's nodeSelector would defeat the fallback, so it goes."""
    types = [t.strip() for t in str(prop.get("instance_type") or "").split(",") if t.strip()]
    preferred = [{"weight": 100, "preference": {"matchExpressions": [
        {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [SPOT]}]}}]
    required_terms = [{"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [SPOT, ON_DEMAND]}]
    if len(types) > 1:
        required_terms.append({"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": sorted(types)})
    pod = {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": required_terms}]},
        "preferredDuringSchedulingIgnoredDuringExecution": preferred}}}
    gpu = bool(_gpu_resource(target, target.gpu_container() or ""))
    pod["tolerations"] = full_tolerations(target, [SPOT_TOLERATION] + ([GPU_TOLERATION] if gpu else []))
    selector = target.pod_spec().get("nodeSelector") or {}
    ops = []
    base = f"{pod_spec_pointer(target)}/nodeSelector"
    if CAPACITY_TYPE_LABEL in selector:
        ops.append({"op": "remove", "path": f"{base}/{_escape(CAPACITY_TYPE_LABEL)}"})
    if len(types) > 1 and INSTANCE_TYPE_LABEL in selector:
        ops.append({"op": "remove", "path": f"{base}/{_escape(INSTANCE_TYPE_LABEL)}"})
    return pod, ops


def _whole_selector(target: Target, pod: dict, ops: list[dict]) -> list[dict]:
    """Removing every key of the nodeSelector removes the map itself (no empty ``nodeSelector: {}`` left)."""
    base = f"{pod_spec_pointer(target)}/nodeSelector"
    selector = target.pod_spec().get("nodeSelector") or {}
    removed = {op["path"] for op in ops if op["op"] == "remove" and op["path"].startswith(base + "/")}
    if selector and "nodeSelector" not in pod and removed == {f"{base}/{_escape(k)}" for k in selector}:
        return [op for op in ops if op["path"] not in removed] + [{"op": "remove", "path": base}]
    return ops


def _guards(target: Target, ops: list[dict]) -> list[dict]:
    """A ``test`` of each container name an op addresses by index."""
    prefix = f"{pod_spec_pointer(target)}/containers/"
    indexes = sorted({int(op["path"][len(prefix):].split("/")[0]) for op in ops if op["path"].startswith(prefix)})
    names = target.container_names()
    return [{"op": "test", "path": f"{prefix}{i}/name", "value": names[i]} for i in indexes]


def _index(target: Target, name: str) -> int:
    return target.container_names().index(name)


def _manifest_resources(target: Target, name: str) -> dict:
    for c in target.pod_spec().get("containers", []):
        if c.get("name") == name:
            return c.get("resources") or {}
    return {}


def _is_gpu_resource(key: str) -> bool:
    return key in GPU_RESOURCES or key.startswith("nvidia.com/mig-")


def _gpu_resource(target: Target, name: str) -> str | None:
    known = target.spec_value(name, "gpu_resource")
    if known:
        return known
    res = _manifest_resources(target, name)
    for part in ("limits", "requests"):
        for key in res.get(part) or {}:
            if _is_gpu_resource(key):
                return key
    return None


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}


def _parse_quantity(q) -> float | None:
    """A Kubernetes quantity as a number (cores or bytes); None when it is not one."""
    text = str(q).strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * _SUFFIX[suffix]
            except ValueError:
                return None
    try:
        return float(text)
    except ValueError:
        return None

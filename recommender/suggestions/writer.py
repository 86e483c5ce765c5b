"""Write suggestions/: one YAML per recommendation that changes a Kubernetes object, a kustomize
Component listing them, and a README. Nothing is applied to any cluster."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from recommender.suggestions import keda
from recommender.suggestions.patches import (
    SCALABLE,
    SHARED_GPU_RESOURCE,
    Target,
    gpu_resource_patch,
    node_selector_patch,
    replicas_patch,
    requests_patch,
    supported,
)
from recommender.suggestions.readme import readme_text

FOLDER = "suggestions"
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def suggestion_filename(rec: dict) -> str:
    w = rec["workload"]
    stem = f"{w['namespace']}-{w['kind']}-{w['name']}-{rec['action']}".lower()
    return _UNSAFE.sub("-", stem).strip("-") + ".yaml"


def build_object(rec: dict, target: Target, *, hour_of_week=None, idle_activity: float = 0.05) -> dict | None:
    """The partial object (or KEDA ScaledObject) for one recommendation, or None if it changes no object."""
    action = rec.get("action")
    cur, prop = rec.get("current") or {}, rec.get("proposed") or {}
    gpu = bool(cur.get("gpu_count") or prop.get("gpu_count") or any(
        (c or {}).get("gpu_resource") for c in target.containers.values()))
    if action == "rightsize-requests":
        return requests_patch(target, prop)
    if action == "change-instance-type":
        extra = node_selector_patch(target, instance_type=prop.get("instance_type"),
                                    spot=prop.get("capacity_type") == "spot", gpu=gpu)["spec"]
        pod_spec = _pod_spec(extra, target)
        count = prop.get("gpu_count")
        if count and cur.get("gpu_count") and count != cur.get("gpu_count"):
            resource = (target.containers.get(target.gpu_container() or "") or {}).get("gpu_resource") or "nvidia.com/gpu"
            return gpu_resource_patch(target, resource, count, extra_pod_spec=pod_spec)
        return node_selector_patch(target, instance_type=prop.get("instance_type"),
                                   spot=prop.get("capacity_type") == "spot", gpu=gpu)
    if action == "use-spot":
        return node_selector_patch(target, instance_type=prop.get("instance_type"), spot=True, gpu=gpu)
    if action == "use-mig-slice":
        profile = prop.get("mig_profile")
        if not profile:
            return None
        extra = {}
        if prop.get("instance_type") and prop.get("instance_type") != cur.get("instance_type"):
            extra = _pod_spec(node_selector_patch(target, instance_type=prop["instance_type"])["spec"], target)
        return gpu_resource_patch(target, f"nvidia.com/mig-{profile}", prop.get("gpu_count") or 1, extra)
    if action == "share-gpu":
        return gpu_resource_patch(target, SHARED_GPU_RESOURCE, 1)
    if action == "scale-to-zero":
        if target.kind not in SCALABLE:
            return None
        replicas = int(cur.get("min_replicas") or cur.get("replicas") or 1)
        return keda.scaled_object(target, replicas=replicas, hour_of_week=hour_of_week, idle_activity=idle_activity)
    if action == "reclaim-idle-gpu":
        return replicas_patch(target, 0)
    return None  # consolidate-nodes and node-level reclaims change node pools, not workload objects


def _pod_spec(spec: dict, target: Target) -> dict:
    if target.kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def write_suggestions(recommendations: list[dict], out_dir: str | Path, *, containers: dict | None = None,
                      manifests_dir: str | Path | None = None, profiles=None,
                      idle_activity: float = 0.05) -> dict[str, str]:
    """Write the folder; returns {recommendation id: "suggestions/<file>"} for those that got a file."""
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    containers = containers or {}
    manifests = load_manifests(manifests_dir) if manifests_dir else {}
    written: dict[str, str] = {}
    entries: list[tuple[dict, str, dict]] = []
    for rec in recommendations:
        w = rec.get("workload") or {}
        key = (w.get("namespace"), w.get("kind"), w.get("name"))
        if not supported(key[1] or "") or not key[0]:
            continue
        target = Target(key[0], key[1], key[2], containers.get(key, {}), manifests.get(key))
        how = _hour_of_week(profiles, key) if rec.get("action") == "scale-to-zero" else None
        obj = build_object(rec, target, hour_of_week=how, idle_activity=idle_activity)
        if obj is None:
            continue
        name = suggestion_filename(rec)
        header = (f"# {rec.get('action')} for {key[1]} {key[0]}/{key[2]}: saves ${rec.get('monthly_savings', 0):,.0f}"
                  f"/month (risk {rec.get('risk', '?')}).\n# {rec.get('rationale', '')}\n")
        (folder / name).write_text(header + yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
        written[str(rec.get("id"))] = f"{FOLDER}/{name}"
        entries.append((rec, name, obj))
    (folder / "kustomization.yaml").write_text(kustomization_text(entries), encoding="utf-8")
    (folder / "README.md").write_text(readme_text(entries), encoding="utf-8")
    return written


def kustomization_text(entries) -> str:
    """A kustomize Component: include it from the kustomization that holds your workloads."""
    patches = [{"path": name} for _, name, obj in entries if obj["kind"] != "ScaledObject"]
    resources = [name for _, name, obj in entries if obj["kind"] == "ScaledObject"]
    doc: dict = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
    if resources:
        doc["resources"] = resources
    doc["patches"] = patches
    head = ("# rightsizer suggestions as a kustomize Component. In the kustomization that lists your workloads:\n"
            "#   components:\n#     - path/to/suggestions\n")
    return head + yaml.safe_dump(doc, sort_keys=False)


def load_manifests(folder: str | Path) -> dict:
    """Original objects by (namespace, kind, name) from every YAML file under ``folder``."""
    out = {}
    for path in sorted(Path(folder).rglob("*.y*ml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") and isinstance(doc.get("metadata"), dict):
                meta = doc["metadata"]
                out[(meta.get("namespace") or "default", doc["kind"], meta.get("name"))] = doc
    return out


def _hour_of_week(profiles, key):
    if profiles is None:
        return None
    try:
        return profiles.hour_of_week(key, "gpu_activity")
    except (KeyError, ValueError):
        return None

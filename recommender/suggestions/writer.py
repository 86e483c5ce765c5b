"""Write suggestions/: one YAML per recommendation that changes a Kubernetes object, a kustomize
Component listing them, and a README. Nothing is applied to any cluster.

Input is the run's typed ``optimizer.recommend.Recommendation`` list; what each workload's containers
request today comes from the observed cluster (``optimizer.inventory.Inventory``), the same one the
recommendations were decided on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from recommender.suggestions import keda
from recommender.suggestions.changes import Change, workload_change
from recommender.suggestions.patches import SCALABLE, Target, supported
from recommender.suggestions.readme import readme_text
from recommender.suggestions.replicas import replica_patch

if TYPE_CHECKING:
    from optimizer.inventory import Inventory
    from optimizer.result import Recommendation

FOLDER = "suggestions"
JSON_PATCH_SUFFIX = ".json-patch.yaml"
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def suggestion_filename(rec: Recommendation) -> str:
    stem = f"{rec.namespace}-{rec.kind}-{rec.name}-{rec.action}".lower()
    return _UNSAFE.sub("-", stem).strip("-") + ".yaml"


def json_patch_filename(rec: Recommendation) -> str:
    return suggestion_filename(rec)[: -len(".yaml")] + JSON_PATCH_SUFFIX


@dataclass
class Suggestion:
    """What one recommendation writes: a partial object and/or JSON ops on its workload, or a new object."""

    rec: Recommendation
    target: Target
    change: Change
    new_object: dict | None = None  # a KEDA ScaledObject

    @property
    def files(self) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        if self.new_object is not None:
            out.append((suggestion_filename(self.rec), self.new_object))
        elif self.change.patch is not None:
            out.append((suggestion_filename(self.rec), self.change.patch))
        if self.change.json_ops:
            out.append((json_patch_filename(self.rec), self.change.json_ops))
        return out


def build_suggestion(rec: Recommendation, target: Target, *, hour_of_week=None, idle_activity: float = 0.05,
                     manifests: dict | None = None) -> Suggestion | None:
    """The edits (or KEDA ScaledObject) of one recommendation, or None if it changes no object."""
    prop = rec.proposed or {}
    if rec.action == "set-replicas":
        patch = replica_patch(rec, target, manifests) if target.kind in SCALABLE else None
        return None if patch is None else Suggestion(rec, target, Change(patch=patch))
    if prop.get("min_replicas") == 0:
        if target.kind not in SCALABLE:
            return None
        cur = rec.current or {}
        replicas = int(cur.get("min_replicas") or cur.get("replicas") or 1)
        obj = keda.scaled_object(target, replicas=replicas, details=rec.details, hour_of_week=hour_of_week,
                                 idle_activity=idle_activity)
        if obj is None:  # idle culling: the notebook platform's culler, no object (the rationale says how)
            return None
        return Suggestion(rec, target, Change(), obj)
    change = workload_change(rec, target)
    return None if change.empty else Suggestion(rec, target, change)


def build_object(rec: Recommendation, target: Target, *, hour_of_week=None, idle_activity: float = 0.05) -> dict | None:
    """The partial object (or ScaledObject) of one recommendation; None when it has none (JSON ops only)."""
    s = build_suggestion(rec, target, hour_of_week=hour_of_week, idle_activity=idle_activity)
    if s is None:
        return None
    return s.new_object if s.new_object is not None else s.change.patch


def _header(rec: Recommendation, key, notes: list[str], how: str) -> str:
    lines = [f"# {rec.action} for {key[1]} {key[0]}/{key[2]}: saves ${rec.monthly_savings:,.0f}"
             f"/month (risk {rec.risk}).", f"# {rec.rationale}", f"# {how}"]
    lines += [f"# NOTE: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_suggestions(recommendations: list[Recommendation], out_dir: str | Path, *,
                      inventory: Inventory | None = None, manifests_dir: str | Path | None = None, profiles=None,
                      idle_activity: float = 0.05) -> dict[str, str]:
    """Write the folder; returns {recommendation id: "suggestions/<file>"} for those that got a file (the
    partial object when there is one, else the JSON patch). ``inventory``: the observed cluster the
    recommendations were decided on (each workload's container specs); without it only the manifests
    say what the containers are."""
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    workloads = inventory.workloads if inventory is not None else {}
    manifests = load_manifests(manifests_dir) if manifests_dir else {}
    written: dict[str, str] = {}
    entries: list[Suggestion] = []
    for rec in recommendations:
        key = (rec.namespace, rec.kind, rec.name)
        if not supported(key[1] or "") or not key[0]:
            continue
        observed = workloads.get(key)
        specs = {c.name: c for c in observed.containers} if observed is not None else {}
        target = Target(key[0], key[1], key[2], specs, manifests.get(key))
        how = _hour_of_week(profiles, key) if rec.action == "scale-to-zero" else None
        s = build_suggestion(rec, target, hour_of_week=how, idle_activity=idle_activity, manifests=manifests)
        if s is None:
            continue
        files = s.files
        for i, (name, body) in enumerate(files):
            if name.endswith(JSON_PATCH_SUFFIX):
                usage = (f"RFC 6902 JSON patch: kubectl patch {key[1].lower()} {key[2]} -n {key[0]} --type=json "
                         f"--patch-file {name}" + (" (after the partial object)" if i else ""))
            elif s.new_object is not None:
                usage = f"new object: kubectl apply --server-side --field-manager=rightsizer -f {name}"
            else:
                usage = f"partial object: kubectl apply --server-side --field-manager=rightsizer -f {name}"
                if len(files) > 1:
                    usage += f", then {files[1][0]}"
            text = _header(rec, key, s.change.notes, usage) + yaml.safe_dump(body, sort_keys=False)
            (folder / name).write_text(text, encoding="utf-8")
        written[str(rec.id)] = f"{FOLDER}/{files[0][0]}"
        entries.append(s)
    (folder / "kustomization.yaml").write_text(kustomization_text(entries), encoding="utf-8")
    (folder / "README.md").write_text(readme_text(entries), encoding="utf-8")
    return written


def kustomization_text(entries: list[Suggestion]) -> str:
    """A kustomize Component: include it from the kustomization that holds your workloads. Each partial
    object is a strategic-merge patch; each JSON patch names its target and follows the partial object."""
    patches: list[dict] = []
    resources: list[str] = []
    for s in entries:
        for name, _ in s.files:
            if s.new_object is not None and not name.endswith(JSON_PATCH_SUFFIX):
                resources.append(name)
            elif name.endswith(JSON_PATCH_SUFFIX):
                patches.append({"path": name, "target": _target_selector(s.target)})
            else:
                patches.append({"path": name})
    doc: dict = {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
    if resources:
        doc["resources"] = resources
    doc["patches"] = patches
    head = ("# rightsizer suggestions as a kustomize Component. In the kustomization that lists your workloads:\n"
            "#   components:\n#     - path/to/suggestions\n")
    return head + yaml.safe_dump(doc, sort_keys=False)


def _target_selector(target: Target) -> dict:
    group, _, version = target.api_version.rpartition("/")
    out = {"version": version, "kind": target.kind, "name": target.name, "namespace": target.namespace}
    if group:
        out = {"group": group, **out}
    return out


# libyaml's safe loader where PyYAML was built with it (the PyPI wheels are): the same objects, ten times
# faster on a cluster's worth of manifests
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_manifests(folder: str | Path) -> dict:
    """Original objects by (namespace, kind, name) from every YAML file under ``folder``."""
    out = {}
    for path in sorted(Path(folder).rglob("*.y*ml")):
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER))
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

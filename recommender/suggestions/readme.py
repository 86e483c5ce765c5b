"""The README.md of the suggestions folder: what each file does, how to apply it, how to roll back."""

from __future__ import annotations


def what_it_changes(s) -> str:
    """One line naming every field the suggestion sets or removes (from its files, not its action)."""
    if s.new_object is not None:
        if s.new_object["kind"] == "HTTPScaledObject":
            return f"adds a KEDA HTTP add-on HTTPScaledObject (min 0, scaledownPeriod {s.new_object['spec']['scaledownPeriod']} s)"
        return (f"adds a KEDA ScaledObject with cron windows (minReplicaCount 0, cooldownPeriod "
                f"{s.new_object['spec']['cooldownPeriod']} s)")
    parts = []
    patch = s.change.patch or {}
    spec = patch.get("spec") or {}
    for field in ("minReplicas", "minReplicaCount"):  # set-replicas on an autoscaler
        if field in spec:
            parts.append(f"{patch['kind']} {patch['metadata']['name']} {field} {spec[field]}")
    pod = ((spec.get("jobTemplate") or {}).get("spec") or spec).get("template", {}).get("spec", {})
    requests = [c["name"] for c in pod.get("containers", []) if (c.get("resources") or {}).get("requests")]
    if requests:
        parts.append(f"requests of {', '.join(requests)}")
    counts = [k for c in pod.get("containers", []) for k in ((c.get("resources") or {}).get("limits") or {})
              if k.startswith("nvidia.com/")]
    if counts:
        parts.append(f"GPU count ({', '.join(sorted(set(counts)))})")
    added = sorted({op["path"].rsplit("/", 1)[-1].replace("~1", "/") for op in s.change.json_ops
                    if op["op"] == "add" and "/resources/" in op["path"] and isinstance(op.get("value"), int)})
    removed = sorted({op["path"].rsplit("/", 1)[-1].replace("~1", "/") for op in s.change.json_ops
                      if op["op"] == "remove" and "/resources/" in op["path"]})
    if added:
        parts.append(f"GPU resource {', '.join(removed) or '?'} → {', '.join(added)}")
    elif removed:
        parts.append(f"removes {', '.join(removed)}")
    if "nodeSelector" in pod:
        parts.append("instance type " + ", ".join(str(v) for v in pod["nodeSelector"].values()))
    if "affinity" in pod:
        parts.append("prefers spot, allows on-demand")
    if "replicas" in spec:
        parts.append(f"replicas {spec['replicas']}")
    return "; ".join(parts) or "(nothing)"


TEMPLATE = """# rightsizer suggestions

Each recommendation that changes a workload writes up to two files, which together set exactly the
fields its `proposed` values name (requests per container, GPU resource and count, MIG slice, node
selection, replicas) and nothing else:

- `<name>.yaml`: a *partial* Kubernetes object (`apiVersion`, `kind`, `metadata.name/namespace` and only
  the fields it sets), or a new object (a KEDA ScaledObject);
- `<name>.json-patch.yaml`: an RFC 6902 JSON patch for what a partial object cannot do, *removing* a
  key (the whole-GPU resource a MIG slice replaces, a `karpenter.sh/capacity-type` pin that would keep
  spot work off spot). Its first ops `test` the container names at the indexes it edits, so it fails,
  changing nothing, on an object whose containers are ordered differently.

**rightsizer never applies anything**; review, then apply with your usual tools. Every file starts with
a comment giving the saving, the rationale and how to apply it.

| file | object | change | saves / month | risk |
|---|---|---|---:|---|
{rows}

## Apply directly (server-side apply)

```sh
# one file
kubectl apply --server-side --field-manager=rightsizer -f suggestions/<file>.yaml
# its JSON patch, when it has one, after the partial object
kubectl patch <kind> <name> -n <namespace> --type=json --patch-file suggestions/<file>.json-patch.yaml
```

Why two files: server-side apply removes a field only when no other field manager still owns it, so a
partial object cannot take away a `nvidia.com/gpu` limit that Helm, Argo CD or an earlier `kubectl apply`
set (a `null` there is ignored, and the pod would ask for a whole GPU *and* a slice). A JSON patch
removes it whoever owns it. A GPU resource swap is wholly in the JSON patch (remove the old key, add the
new one), so it lands in one rollout.

Server-side apply merges the file into the live object and records the `rightsizer` field manager as
owner of exactly these fields. If another manager (Helm, Argo CD, `kubectl apply`) owns a field, the
apply stops with a conflict and changes nothing; add `--force-conflicts` only if you want rightsizer's
value to win — and then also change the value in your Git source, or the next sync reverts it.
Try it first with `--dry-run=server`.

## Apply through GitOps (kustomize)

`kustomization.yaml` is a kustomize **Component**: the partial objects are strategic-merge patches under
`patches`, each JSON patch follows its partial object there with a `target`, new objects (KEDA
ScaledObjects) are under `resources`. Copy this folder next to your manifests and add it to the
kustomization that lists the workloads:

```yaml
resources:
  - deployment.yaml
components:
  - ./suggestions
```

then check the result with `kubectl kustomize .` and commit.

## Roll back

- GitOps: revert the commit that added the component (or remove the `components:` entry) and sync.
- Server-side apply: re-apply your original manifest with its own field manager and
  `--force-conflicts` (e.g. `kubectl apply --server-side --force-conflicts -f deployment.yaml`), or
  `kubectl rollout undo deployment/<name> -n <namespace>` for a Deployment.
- A KEDA object: `kubectl delete scaledobject <name> -n <namespace>` (or `httpscaledobject`), then set `replicas` back.
- A JSON patch: re-apply your original manifest (above); a removed GPU resource comes back with it.

## Notes on particular changes

- **tolerations** are a list without a merge key: a patch replaces the whole list. The files that set
  them write the complete list — the workload's current tolerations (when its manifest was available)
  plus the new ones. If the workload has tolerations rightsizer did not see, add them to the file.
- **MIG and shared GPUs** swap the extended resource (`nvidia.com/gpu` → `nvidia.com/mig-1g.10gb` or
  `nvidia.com/gpu.shared`) in the JSON patch. MIG slices need the GPU Operator's MIG manager with a
  matching `nvidia.com/mig.config` on the node; `nvidia.com/gpu.shared` needs the device plugin's
  time-slicing with `renameByDefault: true`. Change your source manifest too, or the next sync of Helm
  or Argo CD puts the whole GPU back.
- **Spot** is a preference, not a pin: node affinity *prefers* `karpenter.sh/capacity-type: spot` and
  allows `on-demand`, so pods still schedule when spot capacity is short.
- **CronJobs** are patched in `spec.jobTemplate`: the next Job they create runs with the change.
- **Jobs**: a Job's pod template cannot be changed once the Job exists, so these files are for the
  manifest the *next* run is created from (kustomize, or your pipeline); applying them to a live Job
  is refused by the API server.
- **KEDA** takes over `spec.replicas` of its target; remove any HorizontalPodAutoscaler for the same
  workload. A request-driven workload gets an `HTTPScaledObject` of the KEDA HTTP add-on: route its traffic
  through the add-on's interceptor (`keda-add-on-http-interceptor-proxy`), which holds requests while the
  workload is at zero; check `hosts` and `scaleTargetRef.port`. A workload busy in the same hours every day
  gets `cron` triggers for exactly those hours (UTC): requests outside them find no pod. `cooldownPeriod` /
  `scaledownPeriod` is the cool-down the saving was computed with.
- **Replica counts** (`set-replicas`) set an HPA's `minReplicas`, a ScaledObject's `minReplicaCount`, or,
  with no autoscaler, the workload's `spec.replicas`. Roll back by setting the old number (the rationale
  names it). A workload whose `spec.replicas` is also set by an autoscaler or a GitOps tool needs the change
  in that source, or the next sync puts the old count back.
- **Notebooks** get no object: set your platform's idle culler to the cool-down in the rationale
  (JupyterHub's `jupyterhub-idle-culler --timeout`, Kubeflow's notebook controller `CULL_IDLE_TIME`).
"""


def readme_text(entries) -> str:
    rows = []
    for s in entries:
        rec = s.rec
        obj = s.new_object if s.new_object is not None else s.change.patch or {}
        kind = obj.get("kind") or rec.kind
        names = " + ".join(f"`{name}`" for name, _ in s.files)
        rows.append(f"| {names} | {kind} {rec.namespace}/{rec.name} | {what_it_changes(s)} | "
                    f"${rec.monthly_savings:,.0f} | {rec.risk} |")
    if not rows:
        rows.append("| (none) | | no recommendation changes a Kubernetes object | | |")
    return TEMPLATE.format(rows="\n".join(rows))

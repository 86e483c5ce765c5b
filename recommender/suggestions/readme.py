"""The README.md of the suggestions folder: what each file does, how to apply it, how to roll back."""

from __future__ import annotations

WHAT = {
    "rightsize-requests": "sets CPU/memory requests per container",
    "change-instance-type": "pins the pods to another instance type (nodeSelector)",
    "use-spot": "moves the pods to spot capacity (nodeSelector + full toleration list)",
    "use-mig-slice": "replaces the whole-GPU request by a MIG slice",
    "share-gpu": "replaces the whole-GPU request by a time-shared GPU",
    "scale-to-zero": "adds a KEDA ScaledObject with minReplicaCount 0",
    "reclaim-idle-gpu": "scales the idle workload to zero replicas",
}

TEMPLATE = """# rightsizer suggestions

Each YAML file here is a *partial* Kubernetes object: `apiVersion`, `kind`, `metadata.name/namespace`
and only the fields one recommendation changes. **rightsizer never applies anything**; review, then
apply with your usual tools. Every file starts with a comment giving the saving and the rationale.

| file | object | change | saves / month | risk |
|---|---|---|---:|---|
{rows}

## Apply directly (server-side apply)

```sh
# one file
kubectl apply --server-side --field-manager=rightsizer -f suggestions/<file>.yaml
# all of them (kustomization.yaml and this README are not objects, so skip them)
for f in suggestions/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || kubectl apply --server-side --field-manager=rightsizer -f "$f"
done
```

Server-side apply merges the file into the live object and records the `rightsizer` field manager as
owner of exactly these fields. If another manager (Helm, Argo CD, `kubectl apply`) owns a field, the
apply stops with a conflict and changes nothing; add `--force-conflicts` only if you want rightsizer's
value to win — and then also change the value in your Git source, or the next sync reverts it.
Try it first with `--dry-run=server`.

## Apply through GitOps (kustomize)

`kustomization.yaml` is a kustomize **Component**: the patches are listed under `patches`, new objects
(KEDA ScaledObjects) under `resources`. Copy this folder next to your manifests and add it to the
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
- A KEDA ScaledObject: `kubectl delete scaledobject <name> -n <namespace>`, then set `replicas` back.
- Replicas scaled to zero: `kubectl scale <kind>/<name> -n <namespace> --replicas=<n>`.

## Notes on particular changes

- **tolerations** are a list without a merge key: a patch replaces the whole list. The files that set
  them write the complete list — the workload's current tolerations (when its manifest was available)
  plus the new ones. If the workload has tolerations rightsizer did not see, add them to the file.
- **MIG and shared GPUs** swap the extended resource (`nvidia.com/gpu` → `nvidia.com/mig-1g.10gb` or
  `nvidia.com/gpu.shared`). The old key is written as `null`, which deletes it in a kustomize patch.
  Server-side apply does not delete fields another manager owns: remove the old resource from your
  source manifest too. MIG slices need the GPU Operator's MIG manager with a matching
  `nvidia.com/mig.config` on the node; `nvidia.com/gpu.shared` needs the device plugin's time-slicing
  with `renameByDefault: true`.
- **Jobs**: a Job's pod template is immutable; the patch applies to the next Job you create from the
  changed manifest (or to the CronJob's template).
- **KEDA** takes over `spec.replicas` of its target; remove any HorizontalPodAutoscaler for the same
  workload. Triggers come from the workload's observed active hours (`cron`), or a Prometheus request-rate
  query on its Service: point `query` and `serverAddress` at the metric your ingress or model server exports.
"""


def readme_text(entries) -> str:
    rows = []
    for rec, name, obj in entries:
        w = rec["workload"]
        rows.append(f"| `{name}` | {obj['kind']} {w['namespace']}/{w['name']} | "
                    f"{WHAT.get(rec['action'], rec['action'])} | ${rec.get('monthly_savings', 0):,.0f} | "
                    f"{rec.get('risk', '')} |")
    if not rows:
        rows.append("| (none) | | no recommendation changes a Kubernetes object | | |")
    return TEMPLATE.format(rows="\n".join(rows))

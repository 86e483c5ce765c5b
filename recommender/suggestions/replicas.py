"""set-replicas patches (docs/suggestions.md, Replica count): the one field the recommendation priced.

- run by an HPA: ``spec.minReplicas`` of that HorizontalPodAutoscaler;
- run by a KEDA ScaledObject: its ``spec.minReplicaCount``;
- no autoscaler: the workload's own ``spec.replicas`` (``proposed.min_replicas`` = ``max_replicas``).
Each is a partial object, valid for server-side apply and as a kustomize strategic-merge patch of the object
in your manifests; the autoscaler's ``apiVersion`` is taken from that object when the manifests are known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recommender.suggestions.patches import Target, skeleton

if TYPE_CHECKING:
    from optimizer.result import Recommendation

AUTOSCALER_API = {"HorizontalPodAutoscaler": "autoscaling/v2", "ScaledObject": "keda.sh/v1alpha1"}
MIN_FIELD = {"HorizontalPodAutoscaler": "minReplicas", "ScaledObject": "minReplicaCount"}


def replica_patch(rec: Recommendation, target: Target, manifests: dict | None = None) -> dict | None:
    prop = rec.proposed or {}
    new = prop.get("min_replicas")
    if new is None:
        return None
    via = (rec.details or {}).get("replicas_via") or {}
    kind = via.get("kind")
    if kind in MIN_FIELD:
        original = (manifests or {}).get((target.namespace, kind, via.get("name"))) or {}
        return {"apiVersion": original.get("apiVersion") or AUTOSCALER_API[kind], "kind": kind,
                "metadata": {"name": via.get("name"), "namespace": target.namespace},
                "spec": {MIN_FIELD[kind]: int(new)}}
    if prop.get("max_replicas") not in (None, new):
        return None  # a fixed count is one number; anything else needs an autoscaler this did not name
    return skeleton(target, spec={"replicas": int(new)})

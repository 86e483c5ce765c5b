"""HorizontalPodAutoscalers and KEDA ScaledObjects, listed read-only from the Kubernetes API with the
official client and written as the ``autoscalers`` table (docs/data-format.md).

In a pod the in-cluster service account is used (it needs list on ``horizontalpodautoscalers`` in
``autoscaling`` and ``scaledobjects`` in ``keda.sh``); elsewhere the kubeconfig. A cluster without KEDA
answers 404 for ScaledObjects: that list is then empty, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from optimizer.autoscalers import HPA, SCALED_OBJECT, Autoscaler, read_autoscalers, replica_effect
from store.errors import UserError

__all__ = ["HPA", "SCALED_OBJECT", "Autoscaler", "Listing", "api_client", "list_autoscalers", "read_autoscalers",
           "record_listing", "replica_effect", "write_autoscalers"]


def api_client(kubeconfig: str | None = None):
    """An ApiClient from the in-cluster service account, else the kubeconfig (``kubeconfig`` or the default)."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig)
        except (config.ConfigException, OSError) as exc:
            raise UserError(f"--list-autoscalers: no in-cluster service account and no usable kubeconfig ({exc})") from None
    return client.ApiClient()


def list_autoscalers(client_) -> list[Autoscaler]:
    """Every HPA (autoscaling/v2) and KEDA ScaledObject (keda.sh/v1alpha1) in the cluster, sorted."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    out = []
    hpas = client.AutoscalingV2Api(client_).list_horizontal_pod_autoscaler_for_all_namespaces()
    for h in hpas.items:
        spec = h.spec
        out.append(Autoscaler(h.metadata.namespace, HPA, h.metadata.name, spec.scale_target_ref.kind,
                              spec.scale_target_ref.name, spec.min_replicas, spec.max_replicas,
                              client_.sanitize_for_serialization(spec.metrics or [])))
    try:
        objs = client.CustomObjectsApi(client_).list_cluster_custom_object("keda.sh", "v1alpha1", "scaledobjects")
    except ApiException as exc:
        if exc.status != 404:  # 404: KEDA is not installed
            raise
        objs = {"items": []}
    for o in objs.get("items", []):
        meta, spec = o.get("metadata") or {}, o.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        out.append(Autoscaler(meta.get("namespace") or "default", SCALED_OBJECT, meta.get("name") or "",
                              ref.get("kind") or "Deployment", ref.get("name") or "",
                              spec.get("minReplicaCount"), spec.get("maxReplicaCount"), spec.get("triggers") or []))
    return sorted(out, key=lambda a: (a.namespace, a.kind, a.name))


def write_autoscalers(root, autoscalers: list[Autoscaler], ts: datetime | None = None, *, s3_client=None) -> list[str]:
    """Append one listing to the dataset's ``autoscalers`` table; returns the files written."""
    from store.writer import DatasetWriter

    ts = ts or datetime.now(UTC)
    rows = [a.row(ts) for a in autoscalers]
    return DatasetWriter(root, s3_client=s3_client).write("autoscalers", _columns(rows)) if rows else []


def _columns(rows: list[dict]) -> dict:
    return {k: [r[k] for r in rows] for k in rows[0]}


@dataclass
class Listing:
    """One report-time listing: the autoscalers by target (what ``recommend`` uses), or why there is none."""

    by_target: dict[tuple[str, str, str], Autoscaler] | None  # None: not listed (``note`` says why)
    written: list[str]
    note: str | None = None


def record_listing(root: str, *, kubeconfig: str | None = None, client_=None, ts: datetime | None = None,
                   s3_client=None) -> Listing:
    """``recommend --list-autoscalers``: list every HPA and ScaledObject now and append the listing to the
    ``autoscalers`` table under ``root`` (the dataset being recommended on).

    A listing that fails (no credentials, API server unreachable, RBAC refused) does not stop the report:
    the note says why and the dataset's earlier listings are used, as without the flag. A dataset root that
    cannot be written is bad input (exit 2): the chart mounts ``<root>/autoscalers`` writable for it."""
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        found = list_autoscalers(client_ if client_ is not None else api_client(kubeconfig))
    except UserError as exc:
        return Listing(None, [], f"autoscalers not listed: {exc}")
    except ApiException as exc:
        why = {401: "unauthorized", 403: "forbidden: the account needs list on horizontalpodautoscalers "
               "(autoscaling) and scaledobjects (keda.sh)"}.get(exc.status, f"HTTP {exc.status} {exc.reason}")
        return Listing(None, [], f"autoscalers not listed: the Kubernetes API answered {why}")
    except (HTTPError, OSError) as exc:
        return Listing(None, [], f"autoscalers not listed: the Kubernetes API is unreachable ({exc})")
    ts = ts or datetime.now(UTC)
    try:
        written = write_autoscalers(root, found, ts, s3_client=s3_client)
    except OSError as exc:  # a read-only mount (EROFS) or no permission
        raise UserError(f"--list-autoscalers: cannot write the autoscalers table under {root} ({exc.strerror or exc}); "
                        f"make {root.rstrip('/')}/autoscalers writable") from None
    return Listing({(a.namespace, a.target_kind, a.target_name): a for a in found}, written)

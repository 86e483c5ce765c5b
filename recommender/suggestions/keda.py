"""Scale-to-zero as a KEDA ScaledObject (keda.sh/v1alpha1) with ``minReplicaCount: 0``.

KEDA needs a trigger to wake a workload from zero. When the GPU-activity profile shows the workload is
busy only in some hours of the day, the triggers are KEDA ``cron`` windows over those hours (UTC): the
workload runs in them and sleeps outside. Otherwise (activity at any hour, or no profile), the trigger
is a Prometheus request-rate query on the workload's Service, the usual wake-up signal for inference;
the README says to point it at the metric your ingress or model server exports.
"""

from __future__ import annotations

import numpy as np

from recommender.suggestions.patches import Target

KEDA_API = "keda.sh/v1alpha1"
PROMETHEUS_ADDRESS = "http://prometheus-operated.monitoring.svc:9090"


def active_hours(hour_of_week: np.ndarray | None, idle_activity: float = 0.05) -> list[int]:
    """UTC hours of the day in which the workload was active on any day of the week."""
    if hour_of_week is None:
        return []
    how = np.asarray(hour_of_week, dtype=float).reshape(7, 24)
    with np.errstate(all="ignore"):
        busiest = np.nanmax(np.where(np.isnan(how), -1.0, how), axis=0)
    return [h for h in range(24) if busiest[h] >= idle_activity]


def hour_windows(hours: list[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) windows of the given hours (not wrapping midnight)."""
    out: list[tuple[int, int]] = []
    for h in sorted(hours):
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + 1)
        else:
            out.append((h, h + 1))
    return out


def scaled_object(target: Target, *, replicas: int, hour_of_week=None, idle_activity: float = 0.05) -> dict:
    hours = active_hours(hour_of_week, idle_activity)
    if 0 < len(hours) <= 20:
        triggers = [{"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": f"0 {a} * * *",
                                                  "end": f"0 {b % 24} * * *", "desiredReplicas": str(replicas)}}
                    for a, b in hour_windows(hours)]
    else:
        query = (f'sum(rate(http_requests_total{{namespace="{target.namespace}",service="{target.name}"}}[2m]))')
        triggers = [{"type": "prometheus", "metadata": {"serverAddress": PROMETHEUS_ADDRESS, "query": query,
                                                        "threshold": "1", "activationThreshold": "0"}}]
    return {
        "apiVersion": KEDA_API, "kind": "ScaledObject",
        "metadata": {"name": target.name, "namespace": target.namespace,
                     "labels": {"app.kubernetes.io/managed-by": "rightsizer"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": target.api_version, "kind": target.kind, "name": target.name},
            "minReplicaCount": 0,
            "maxReplicaCount": max(1, replicas),
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }

"""Scale-to-zero objects that keep the promise the saving makes (docs/suggestions.md, Scale to zero).

The recommendation's ``details`` name the trigger its cost assumed (optimizer/decisions/scale_to_zero.py):
- ``http``: a KEDA HTTP add-on ``HTTPScaledObject`` (http.keda.sh/v1alpha1). Its interceptor holds
  requests while the workload is at zero, so none is lost, and ``scaledownPeriod`` is the cost's cool-down;
- ``cron``: a KEDA ``ScaledObject`` with one ``cron`` trigger per regular busy window (UTC) and
  ``cooldownPeriod`` equal to the cost's cool-down: up exactly the hours the saving counts;
- ``idle-culling`` (notebooks): no object; the notebook platform's culler does it (README).
A recommendation without those details (written by an older version) gets the cron windows of the
hour-of-week profile, or the HTTP object.
"""

from __future__ import annotations

import numpy as np

from optimizer.decisions.scale_to_zero import hour_windows
from recommender.suggestions.patches import Target

KEDA_API = "keda.sh/v1alpha1"
KEDA_HTTP_API = "http.keda.sh/v1alpha1"
DEFAULT_COOLDOWN_S = 600
DEFAULT_PORT = 8080


def active_hours(hour_of_week: np.ndarray | None, idle_activity: float = 0.05) -> list[int]:
    """UTC hours of the day in which the workload was active on any day of the week."""
    if hour_of_week is None:
        return []
    how = np.asarray(hour_of_week, dtype=float).reshape(7, 24)
    with np.errstate(all="ignore"):
        busiest = np.nanmax(np.where(np.isnan(how), -1.0, how), axis=0)
    return [h for h in range(24) if busiest[h] >= idle_activity]


def _meta(target: Target) -> dict:
    return {"name": target.name, "namespace": target.namespace, "labels": {"app.kubernetes.io/managed-by": "rightsizer"}}


def _ref(target: Target) -> dict:
    return {"apiVersion": target.api_version, "kind": target.kind, "name": target.name}


def cron_scaled_object(target: Target, *, replicas: int, windows, cooldown_s: float) -> dict:
    triggers = [{"type": "cron", "metadata": {"timezone": "Etc/UTC", "start": f"0 {a} * * *",
                                              "end": f"0 {b % 24} * * *", "desiredReplicas": str(replicas)}}
                for a, b in windows]
    return {"apiVersion": KEDA_API, "kind": "ScaledObject", "metadata": _meta(target),
            "spec": {"scaleTargetRef": _ref(target), "minReplicaCount": 0, "maxReplicaCount": max(1, replicas),
                     "cooldownPeriod": int(round(cooldown_s)), "triggers": triggers}}


def http_scaled_object(target: Target, *, replicas: int, cooldown_s: float) -> dict:
    """Request-driven: the Service named like the workload, on its first container port (else 8080)."""
    port = DEFAULT_PORT
    for c in target.pod_spec().get("containers", []):
        for p in c.get("ports") or []:
            if p.get("containerPort"):
                port = int(p["containerPort"])
                break
        else:
            continue
        break
    return {"apiVersion": KEDA_HTTP_API, "kind": "HTTPScaledObject", "metadata": _meta(target),
            "spec": {"hosts": [f"{target.name}.{target.namespace}.svc.cluster.local", target.name],
                     "scaleTargetRef": {**_ref(target), "service": target.name, "port": port},
                     "replicas": {"min": 0, "max": max(1, replicas)},
                     "scaledownPeriod": int(round(cooldown_s)),
                     "scalingMetric": {"requestRate": {"targetValue": 1, "window": "1m", "granularity": "1s"}}}}


def scaled_object(target: Target, *, replicas: int, details: dict | None = None, hour_of_week=None,
                  idle_activity: float = 0.05) -> dict | None:
    details = details or {}
    cooldown = float(details.get("cooldown_s") or DEFAULT_COOLDOWN_S)
    trigger = details.get("trigger")
    if trigger == "idle-culling":
        return None
    if trigger == "cron":
        return cron_scaled_object(target, replicas=replicas, windows=details["cron_windows_utc"], cooldown_s=cooldown)
    if trigger == "http":
        return http_scaled_object(target, replicas=replicas, cooldown_s=cooldown)
    hours = active_hours(hour_of_week, idle_activity)
    if 0 < len(hours) <= 20:
        return cron_scaled_object(target, replicas=replicas, windows=hour_windows(hours), cooldown_s=cooldown)
    return http_scaled_object(target, replicas=replicas, cooldown_s=cooldown)


def uptime_hours_per_day(obj: dict) -> float:
    """Hours a day the object keeps its target up at most: cron windows plus a cool-down each."""
    spec = obj["spec"]
    hours = 0.0
    for t in spec.get("triggers", []):
        a = int(t["metadata"]["start"].split()[1])
        b = int(t["metadata"]["end"].split()[1]) or 24
        hours += (b - a) + spec["cooldownPeriod"] / 3600
    return hours

"""The workload objects as a user would have applied them (apps/v1, batch/v1), one YAML file each."""

from __future__ import annotations

import yaml

from simulator.behaviours import ContainerTemplate
from simulator.plan import WorkloadPlan
from simulator.shapes import GIB, MIB

GPU_RESOURCE = "nvidia.com/gpu"


def cpu_quantity(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{round(cores * 1000)}m"


def memory_quantity(value: int) -> str:
    if value % GIB == 0:
        return f"{value // GIB}Gi"
    if value % MIB == 0:
        return f"{value // MIB}Mi"
    return str(value)


def _container(c: ContainerTemplate) -> dict:
    requests = {"cpu": cpu_quantity(c.cpu_request), "memory": memory_quantity(c.mem_request)}
    limits = {"memory": memory_quantity(c.mem_limit or c.mem_request)}
    if c.cpu_limit is not None:
        limits["cpu"] = cpu_quantity(c.cpu_limit)
    if c.gpu:
        requests[GPU_RESOURCE] = str(c.gpu)
        limits[GPU_RESOURCE] = str(c.gpu)  # extended resources: limit required, request must equal it
    out = {"name": c.name, "image": c.image}
    if c.args:
        out["args"] = list(c.args)
    out["resources"] = {"requests": requests, "limits": limits}
    return out


def replicas(w: WorkloadPlan) -> int:
    return len(w.pods) if w.kind != "CronJob" else 1


def manifest(w: WorkloadPlan) -> dict:
    t = w.template
    pod_spec: dict = {
        "nodeSelector": {"node.kubernetes.io/instance-type": w.instance_type,
                         "karpenter.sh/capacity-type": w.capacity_type},
        "containers": [_container(c) for c in t.containers],
    }
    if w.gpus_per_pod:
        pod_spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    meta = {"name": w.name, "namespace": w.namespace, "labels": dict(w.labels)}
    template = {"metadata": {"labels": dict(w.labels)}, "spec": pod_spec}
    selector = {"matchLabels": {"app.kubernetes.io/name": w.name}}
    if w.kind == "Deployment":
        spec = {"replicas": replicas(w), "selector": selector, "template": template}
        api = "apps/v1"
    elif w.kind == "StatefulSet":
        spec = {"serviceName": w.name, "replicas": replicas(w), "selector": selector, "template": template}
        api = "apps/v1"
    elif w.kind == "Job":
        pod_spec["restartPolicy"] = "Never"
        spec = {"parallelism": replicas(w), "completions": replicas(w), "backoffLimit": 3, "template": template}
        api = "batch/v1"
    elif w.kind == "CronJob":
        pod_spec["restartPolicy"] = "OnFailure"
        job = {"backoffLimit": 2, "activeDeadlineSeconds": (t.every_minutes - 5) * 60, "template": template}
        spec = {"schedule": t.schedule, "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1, "jobTemplate": {"spec": job}}
        api = "batch/v1"
    else:
        raise ValueError(f"no manifest for kind {w.kind}")
    return {"apiVersion": api, "kind": w.kind, "metadata": meta, "spec": spec}


def manifest_path(w: WorkloadPlan) -> str:
    return f"manifests/{w.namespace}/{w.kind.lower()}-{w.name}.yaml"


def manifest_yaml(w: WorkloadPlan) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: ~20x faster
    return yaml.dump(manifest(w), Dumper=dumper, sort_keys=False)

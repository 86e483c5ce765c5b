"""Suggestions applied with the real ``kubectl kustomize`` onto original manifests, then validated."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from recommender.suggestions import write_suggestions
from recommender.suggestions.patches import cpu_quantity, memory_quantity
from tests.recommender.fakes import GIB, make_recommendation, observed_cluster
from tests.tools import kustomize_with_suggestions

GPU_TOL = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TEAM_TOL = {"key": "dedicated", "operator": "Equal", "value": "research", "effect": "NoSchedule"}


def _pod(containers, tolerations=None):
    spec = {"containers": containers}
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"labels": {"app": "x"}}, "spec": spec}


def _container(name, cpu="1", memory="2Gi", gpu=None, limits_memory=None):
    res = {"requests": {"cpu": cpu, "memory": memory}}
    limits = {}
    if gpu:
        limits["nvidia.com/gpu"] = gpu
    if limits_memory:
        limits["memory"] = limits_memory
    if limits:
        res["limits"] = limits
    return {"name": name, "image": "registry.example.com/app:1", "resources": res}


def _deployment(ns, name, pod, replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "x"}}, "template": pod}}


ORIGINALS = [
    _deployment("ml", "chat", _pod([_container("server", gpu=1)], [GPU_TOL])),
    _deployment("ml", "embed", _pod([_container("server", gpu=1)], [GPU_TOL])),
    _deployment("web", "api", _pod([_container("api", "2", "4Gi", limits_memory="4Gi"),
                                    _container("sidecar", "100m", "128Mi")])),
    {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "notebook", "namespace": "research-dev"},
     "spec": {"replicas": 1, "serviceName": "notebook", "selector": {"matchLabels": {"app": "x"}},
              "template": _pod([_container("notebook", gpu=1)], [GPU_TOL])}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train", "namespace": "research"},
     "spec": {"template": {"spec": {"restartPolicy": "Never", "tolerations": [GPU_TOL, TEAM_TOL],
                                    "containers": [_container("trainer", "8", "60Gi", gpu=8)]}}}},
    {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "research"},
     "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
         "restartPolicy": "OnFailure", "containers": [_container("etl", "4", "8Gi")]}}}}}},
]

CONTAINERS = {
    ("ml", "Deployment", "chat"): {"server": {"gpu_resource": "nvidia.com/gpu", "gpu_request": 1.0,
                                              "cpu_request": 1.0, "mem_request": 2 * GIB}},
    ("ml", "Deployment", "embed"): {"server": {"gpu_resource": "nvidia.com/gpu", "gpu_request": 1.0}},
    ("web", "Deployment", "api"): {"api": {"cpu_request": 2.0, "mem_request": 4 * GIB, "mem_limit": 4 * GIB},
                                   "sidecar": {"cpu_request": 0.1, "mem_request": 128 * 2**20}},
    ("research", "CronJob", "nightly"): {"etl": {"cpu_request": 4.0, "mem_request": 8 * GIB}},
}


def _rec(i, ns, kind, name, action, current, proposed, savings=100.0):
    return make_recommendation(id=f"r{i:03d}", namespace=ns, kind=kind, name=name, action=action, current=current,
                               proposed=proposed, monthly_cost_current=savings, risk="low",
                               rationale=f"{action} because the numbers say so")


RECS = [
    _rec(1, "ml", "Deployment", "chat", "use-mig-slice", {"gpu_count": 1, "instance_type": "p4d.24xlarge"},
         {"mig_profile": "1g.10gb", "gpu_count": 1}),
    _rec(2, "ml", "Deployment", "chat", "change-instance-type", {"instance_type": "g5.xlarge", "gpu_count": 1},
         {"instance_type": "g6.xlarge", "gpu_count": 1}),
    _rec(3, "web", "Deployment", "api", "rightsize-requests", {"cpu_request": 2.1, "mem_request": 4.125 * GIB},
         {"containers": {"api": {"cpu_request": 0.5, "mem_request": 6 * GIB},
                         "sidecar": {"cpu_request": 0.05, "mem_request": 64 * 2**20}}}),
    _rec(4, "research", "Job", "train", "use-spot", {"capacity_type": "on-demand", "gpu_count": 8},
         {"capacity_type": "spot"}),
    _rec(5, "ml", "Deployment", "embed", "scale-to-zero", {"min_replicas": 2}, {"min_replicas": 0}),
    _rec(6, "research-dev", "StatefulSet", "notebook", "reclaim-idle-gpu", {"gpu_count": 1},
         {"gpu_model": None, "gpu_count": 0, "gpu_memory_bytes": 0}),
    _rec(7, "research", "CronJob", "nightly", "rightsize-requests", {"cpu_request": 4.0, "mem_request": 8 * GIB},
         {"cpu_request": 1.5, "mem_request": 3 * GIB}),
    _rec(8, "", "Node", "gpu-node-3", "reclaim-idle-gpu", {"gpu_count": 8}, {"gpu_count": 0}),
    _rec(9, "", "Cluster", "cluster", "consolidate-nodes", {}, {}),
]


class _Profiles:
    """ProfileSet-shaped: embed is busy 09:00-17:00 UTC on weekdays."""

    def hour_of_week(self, key, metric):
        import numpy as np

        how = np.zeros(168)
        for day in range(5):
            how[day * 24 + 9: day * 24 + 17] = 0.4
        return how


@pytest.fixture(scope="module")
def kustomized(tmp_path_factory):
    root = tmp_path_factory.mktemp("gitops")
    manifests = root / "manifests"
    manifests.mkdir()
    for obj in ORIGINALS:
        folder = manifests / obj["metadata"]["namespace"]
        folder.mkdir(exist_ok=True)
        (folder / f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj))
    out = root / "out"
    written = write_suggestions(RECS, out, inventory=observed_cluster(CONTAINERS), manifests_dir=manifests, profiles=_Profiles())
    docs = kustomize_with_suggestions(root / "overlay", sorted(manifests.rglob("*.yaml")), out / "suggestions")
    return written, {(d["metadata"].get("namespace"), d["kind"], d["metadata"]["name"]): d for d in docs}, out


def _pod_spec(obj):
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _container_of(obj, name):
    return next(c for c in _pod_spec(obj)["containers"] if c["name"] == name)


def test_files_written_only_for_object_changes(kustomized):
    written, _, out = kustomized
    assert set(written) == {"r001", "r002", "r003", "r004", "r005", "r006", "r007"}
    for path in written.values():
        obj = yaml.safe_load((out / path).read_text())
        if path.endswith(".json-patch.yaml"):  # RFC 6902 ops, guarded by a test of the container name
            assert obj[0]["op"] == "test" and obj[0]["path"].endswith("/name")
            assert {op["op"] for op in obj} <= {"test", "add", "remove"}
            continue
        assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}
        assert set(obj["metadata"]) >= {"name", "namespace"}
    # a MIG swap alone goes wholly into the JSON patch; the instance-type change is a partial object
    assert written["r001"].endswith("use-mig-slice.json-patch.yaml") and written["r002"].endswith("type.yaml")
    assert "cannot be changed once created" in (out / written["r004"]).read_text()  # a plain Job
    readme = (out / "suggestions" / "README.md").read_text()
    assert "kubectl apply --server-side --field-manager=rightsizer" in readme and "Roll back" in readme


def test_patched_objects_validate_for_current_kubernetes(kustomized):
    _, objects, _ = kustomized
    version = kubernetes_validate.latest_version()
    for obj in objects.values():
        if obj["kind"] == "ScaledObject":
            continue  # a CRD: no bundled schema; checked field by field below
        kubernetes_validate.validate(obj, version, strict=True)  # raises ValidationError on any problem


def test_mig_and_instance_type_patches(kustomized):
    _, objects, _ = kustomized
    chat = objects[("ml", "Deployment", "chat")]
    limits = _container_of(chat, "server")["resources"]["limits"]
    assert limits == {"nvidia.com/mig-1g.10gb": 1}
    assert _pod_spec(chat)["nodeSelector"] == {"node.kubernetes.io/instance-type": "g6.xlarge"}
    assert _pod_spec(chat)["tolerations"] == [GPU_TOL]  # untouched: no spot change
    assert chat["spec"]["replicas"] == 2


def test_requests_per_container_and_limit_raised(kustomized):
    _, objects, _ = kustomized
    api = objects[("web", "Deployment", "api")]
    main = _container_of(api, "api")["resources"]
    assert main["requests"] == {"cpu": "500m", "memory": "6Gi"}
    assert main["limits"]["memory"] == "6Gi"  # the 4Gi limit would be below the new request
    assert _container_of(api, "sidecar")["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    etl = _container_of(objects[("research", "CronJob", "nightly")], "etl")["resources"]["requests"]
    assert etl == {"cpu": "1500m", "memory": "3Gi"}


def test_spot_keeps_every_toleration_and_allows_on_demand(kustomized):
    _, objects, _ = kustomized
    spec = _pod_spec(objects[("research", "Job", "train")])
    assert "nodeSelector" not in spec
    node = spec["affinity"]["nodeAffinity"]
    assert node["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 100, "preference": {
        "matchExpressions": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]}}]
    required = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert required == [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]}]
    assert GPU_TOL in spec["tolerations"] and TEAM_TOL in spec["tolerations"]
    assert {"key": "karpenter.sh/capacity-type", "operator": "Equal", "value": "spot",
            "effect": "NoSchedule"} in spec["tolerations"]
    assert len(spec["tolerations"]) == 3


def test_scale_to_zero_scaledobject_and_reclaim(kustomized):
    _, objects, _ = kustomized
    so = objects[("ml", "ScaledObject", "embed")]
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["minReplicaCount"] == 0
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "embed"}
    assert so["spec"]["triggers"] == [{"type": "cron", "metadata": {
        "timezone": "Etc/UTC", "start": "0 9 * * *", "end": "0 17 * * *", "desiredReplicas": "2"}}]
    notebook = objects[("research-dev", "StatefulSet", "notebook")]
    assert notebook["spec"]["replicas"] == 1  # the pod stays, as proposed, without its GPU
    assert _container_of(notebook, "notebook")["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}


@pytest.mark.parametrize("cores, text", [(0.5, "500m"), (1.0, "1"), (0.001, "10m"), (2.345, "2350m")])
def test_cpu_quantity(cores, text):
    assert cpu_quantity(cores) == text


@pytest.mark.parametrize("value, text", [(GIB, "1Gi"), (1.5 * GIB, "1536Mi"), (1, "1Mi")])
def test_memory_quantity(value, text):
    assert memory_quantity(value) == text

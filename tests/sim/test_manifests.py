"""ROOT/manifests: valid Kubernetes objects that match the pods table."""

from __future__ import annotations

import json
import os

import kubernetes_validate
import pytest
import yaml

from simulator.manifests import cpu_quantity, memory_quantity

KINDS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def _load(sim, w) -> dict:
    path = os.path.join(sim.root, w["manifest"])
    assert path == os.path.join(sim.root, "manifests", w["namespace"], f"{w['kind'].lower()}-{w['name']}.yaml")
    with open(path) as fh:
        docs = list(yaml.safe_load_all(fh))
    assert len(docs) == 1
    return docs[0]


def _pod_spec(obj: dict) -> dict:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def test_one_valid_manifest_per_workload(sim):
    for w in sim.truth["workloads"]:
        obj = _load(sim, w)
        assert (obj["apiVersion"], obj["kind"]) == (KINDS[w["kind"]], w["kind"])
        assert (obj["metadata"]["name"], obj["metadata"]["namespace"]) == (w["name"], w["namespace"])
        try:
            kubernetes_validate.validate(obj, "1.33.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{w['manifest']}: {exc.message}")


def test_manifest_containers_and_resources_match_pods_table(sim):
    pods = sim.data.read("pods").to_pylist()
    for w in sim.truth["workloads"]:
        obj = _load(sim, w)
        spec = _pod_spec(obj)
        rows = {p["container"]: p for p in pods if p["pod"] == w["pods"][0]}
        assert [c["name"] for c in spec["containers"]] == list(rows)
        for c in spec["containers"]:
            row = rows[c["name"]]
            req, lim = c["resources"]["requests"], c["resources"]["limits"]
            assert req["cpu"] == cpu_quantity(row["cpu_request"])
            assert req["memory"] == memory_quantity(row["mem_request"])
            assert lim["memory"] == memory_quantity(row["mem_limit"])
            assert lim.get("cpu") == (cpu_quantity(row["cpu_limit"]) if row["cpu_limit"] is not None else None)
            if row["gpu_resource"]:
                assert req[row["gpu_resource"]] == lim[row["gpu_resource"]] == str(int(row["gpu_request"]))
            else:
                assert "nvidia.com/gpu" not in req
        assert spec["nodeSelector"]["node.kubernetes.io/instance-type"] == w["instance_type"]
        labels = obj["spec"]["template"]["metadata"]["labels"] if w["kind"] != "CronJob" else \
            obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        pod_labels = json.loads(next(p["labels"] for p in pods if p["pod"] == w["pods"][0]))
        assert labels == pod_labels
        if w["kind"] in ("Deployment", "StatefulSet"):
            assert obj["spec"]["replicas"] == w["replicas"] == len(w["pods"])


@pytest.mark.parametrize(("cores", "text"), [(4.0, "4"), (0.1, "100m"), (2.5, "2500m"), (48.0, "48")])
def test_cpu_quantity(cores, text):
    assert cpu_quantity(cores) == text


@pytest.mark.parametrize(("value", "text"), [(16 * 1024**3, "16Gi"), (128 * 1024**2, "128Mi"), (1000, "1000")])
def test_memory_quantity(value, text):
    assert memory_quantity(value) == text

"""The simulated dataset looks like what the agent writes on a real EKS GPU cluster."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow.compute as pc

from simulator.shapes import SHAPES

NODE_NAME = re.compile(r"^ip-10-0-\d{1,3}-\d{1,3}\.ec2\.internal$")


def test_owner_kinds_value_classes_and_label_sources(sim):
    pods = sim.data.read("pods")
    assert set(pods.column("workload_kind").to_pylist()) == {"Deployment", "StatefulSet", "Job", "CronJob"}
    classes = {(w["value_class"], w["value_class_source"]) for w in sim.truth["workloads"]}
    assert {c for c, _ in classes} == {"production", "experimental", "background"}
    assert {s for _, s in classes} == {"label", "inferred"}
    for row in pods.to_pylist():
        labels = json.loads(row["labels"])
        assert {"team", "project", "use-case", "app.kubernetes.io/part-of"} <= set(labels)
        assert labels.get("rightsizer.io/value-class") in (None, "production", "experimental", "background")
    teams = {w["team"] for w in sim.truth["workloads"]}
    assert len(teams) >= 4


def test_pods_have_uids_and_gpu_requests(sim):
    pods = sim.data.read("pods").to_pylist()
    uid = {}
    for p in pods:
        assert uid.setdefault(p["pod"], p["pod_uid"]) == p["pod_uid"]
        assert p["cpu_request"] > 0 and p["mem_request"] > 0 and p["mem_limit"] >= p["mem_request"]
        assert (p["gpu_resource"] is None) == (p["gpu_request"] is None)
        assert p["gpu_resource"] in (None, "nvidia.com/gpu")
    assert len(set(uid.values())) == len(uid)


def test_nodes_are_real_aws_shapes_with_labels(sim):
    nodes = sim.data.read("nodes").to_pylist()
    types = {n["instance_type"] for n in nodes}
    assert {"p5.48xlarge", "p4d.24xlarge", "p4de.24xlarge", "g6e.xlarge", "g6.xlarge", "g5.xlarge",
            "g4dn.xlarge"} <= types and any(t.startswith("m7i.") for t in types)
    assert {n["capacity_type"] for n in nodes} == {"on-demand", "spot"}
    for n in nodes:
        shape = SHAPES[n["instance_type"]]
        assert NODE_NAME.match(n["node"])
        assert (n["cpu_capacity"], n["mem_capacity"], n["gpu_count"]) == (shape.vcpu, shape.memory_bytes,
                                                                         shape.gpu_count)
        labels = json.loads(n["labels"])
        assert labels["node.kubernetes.io/instance-type"] == n["instance_type"]
        assert labels["karpenter.sh/capacity-type"] == n["capacity_type"]
        assert labels["topology.kubernetes.io/zone"] == n["zone"] and n["zone"].startswith(n["region"])
        if shape.gpu:
            assert n["gpu_model"] == shape.gpu.nvml_name
            assert labels["nvidia.com/gpu.product"] == shape.gpu.product_label
    assert any(json.loads(n["labels"]).get("nvidia.com/mig.capable") == "true" for n in nodes)


def test_gpu_rows_gpm_only_on_hopper_power_and_alignment(sim):
    gpu = sim.data.read("gpu")
    hopper = pc.equal(gpu.column("gpu_model"), "NVIDIA H100 80GB HBM3")
    for col in ("sm_active", "sm_occupancy", "tensor_active", "dram_active"):
        assert gpu.filter(hopper).column(col).null_count == 0
        assert gpu.filter(pc.invert(hopper)).column(col).null_count == gpu.num_rows - pc.sum(hopper).as_py()
    assert set(gpu.column("interval_s").to_pylist()) == {60.0}
    ts = gpu.column("ts").cast("int64").to_numpy()
    assert (ts % 60_000 == 0).all()
    by_model = {s.gpu.nvml_name: s.gpu for s in SHAPES.values() if s.gpu}
    for model, spec in by_model.items():
        rows = gpu.filter(pc.equal(gpu.column("gpu_model"), model))
        if not rows.num_rows:
            continue
        assert set(rows.column("mem_total_bytes").to_pylist()) == {spec.memory_bytes}
        power = rows.column("power_w").to_numpy()
        util = rows.column("gpu_util").to_numpy()
        assert power.min() >= 0.95 * spec.idle_w - 1e-3 and power.max() <= spec.tdp_w + 1e-3
        if (util < 0.01).any() and (util > 0.8).any():
            assert power[util > 0.8].mean() > 3 * power[util < 0.01].mean()
    idle = gpu.filter(pc.is_null(gpu.column("pod")))
    assert np.median(idle.column("power_w").to_numpy()) < 90  # an idle board draws its idle power


def test_one_file_per_table_day_node_with_deterministic_names(sim):
    import os

    names = set()
    for dirpath, _, files in os.walk(sim.root):
        for f in files:
            if f.endswith(".parquet"):
                names.add(f)
                assert "/date=" in dirpath and "/node=" in dirpath
    assert names == {"sim-3.parquet"}

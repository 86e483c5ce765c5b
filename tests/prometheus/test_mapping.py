"""Label dialects and value mapping on hand-made answers, and what discovery says will be null."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from importers.prometheus import dcgm, ksm
from importers.prometheus.client import ClientConfig, PromClient
from importers.prometheus.discovery import discover
from importers.prometheus.series import Grid
from tests.prometheus.fake import ok, serve

GRID = Grid(600.0, 60.0, 3)
DIALECT = dcgm.DcgmDialect(("Hostname", "hostname"), frozenset(dcgm.ALL_FIELDS))


def series(labels: dict, values: list[float | None]) -> dict:
    return {"metric": labels, "values": [[GRID.t0 + i * GRID.step, str(v)] for i, v in enumerate(values)
                                         if v is not None]}


def results(rows: list[dict], used, util, free=10000.0) -> dict:
    dev = [{k: r[k] for k in dcgm.DEVICE if k in r} for r in rows]
    return {"used": [series(r, used) for r in rows], "util": [series(r, util) for r in rows],
            "dev_used": [series(d, used) for d in dev], "dev_free": [series(d, [free] * 3) for d in dev]}


@pytest.mark.parametrize("labels, want", [
    # honorLabels: false (the Helm chart's ServiceMonitor): exported_* are the GPU's pod
    ({"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-abcde", "container": "nvidia-dcgm-exporter",
      "exported_namespace": "ml", "exported_pod": "train-0", "exported_container": "trainer"}, ("ml", "train-0", "trainer")),
    # the same, unallocated: only the exporter's own pod → allocated to nobody
    ({"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-abcde", "container": "nvidia-dcgm-exporter"},
     (None, None, None)),
    # honorLabels: true, or GMP's ClusterPodMonitoring
    ({"namespace": "ml", "pod": "train-0", "container": "trainer"}, ("ml", "train-0", "trainer")),
    # dcgm-exporter -o (old namespace)
    ({"pod_namespace": "ml", "pod_name": "train-0", "container_name": "trainer"}, ("ml", "train-0", "trainer")),
    ({}, (None, None, None)),
])
def test_pod_attribution_dialects(labels, want):
    base = {"UUID": "GPU-1", "Hostname": "node-a", "modelName": "NVIDIA L4"}
    t = dcgm.build(results([{**base, **labels}], [100.0, None, 300.0], [50.0, 60.0, 70.0]), GRID, 60, DIALECT).table
    assert t.num_rows == 2  # the gap at 660 s gives no row, never a 0
    got = t.to_pydict()
    assert (got["namespace"][0], got["pod"][0], got["container"][0]) == want


def test_lowercase_hostname_uuid_and_units():
    labels = {"uuid": "GPU-2", "hostname": "node-b", "modelName": "NVIDIA L4", "pod": "p", "namespace": "n"}
    t = dcgm.build(results([labels], [1.5, 2.0, 2.5], [100.0, 0.0, 42.0], free=22.5), GRID, 60, DIALECT).table.to_pydict()
    assert t["node"] == ["node-b"] * 3 and t["gpu_uuid"] == ["GPU-2"] * 3
    assert t["gpu_util"] == pytest.approx([1.0, 0.0, 0.42])  # percent → fraction
    assert t["mem_used_bytes"] == [1572864, 2097152, 2621440]  # MiB → bytes
    assert t["mem_total_bytes"] == [(1.5 + 22.5) * 2**20, (2.0 + 22.5) * 2**20, (2.5 + 22.5) * 2**20]
    assert t["ts"][0].timestamp() == 600 and t["interval_s"] == [60.0] * 3
    assert t["gpu_util_source"] == ["DCGM_FI_DEV_GPU_UTIL"] * 3


def test_mig_rows_use_gr_engine_active():
    labels = {"UUID": "GPU-3", "Hostname": "n", "modelName": "NVIDIA A100-SXM4-80GB", "GPU_I_ID": "3",
              "GPU_I_PROFILE": "1g.10gb"}
    res = results([labels], [1.0, 1.0, 1.0], [None, None, None])
    res["util"] = []
    res["gr_engine"] = [series(labels, [0.25, 0.5, None])]
    t = dcgm.build(res, GRID, 60, DIALECT).table.to_pydict()
    assert t["gpu_uuid"] == ["GPU-3/gi3"] * 3 and t["mig_profile"] == ["1g.10gb"] * 3
    assert t["gpu_util"][:2] == [0.25, 0.5] and t["gpu_util"][2] is None
    assert t["gpu_util_source"] == ["DCGM_FI_PROF_GR_ENGINE_ACTIVE"] * 2 + [None]


def test_time_sliced_copies_are_rows_and_the_device_series_is_not():
    base = {"UUID": "GPU-4", "Hostname": "n", "modelName": "Tesla T4"}
    a = {**base, "vgpu": "0", "namespace": "x", "pod": "a", "container": "c"}
    b = {**base, "vgpu": "1", "namespace": "x", "pod": "b", "container": "c"}
    res = {"used": [series(a, [1.0] * 3), series(b, [2.0] * 3), series(base, [3.0] * 3)],
           "util": [series(a, [10.0] * 3), series(b, [20.0] * 3), series(base, [30.0] * 3)],
           "dev_used": [series(base, [3.0] * 3)], "dev_free": [series(base, [13.0] * 3)]}
    t = dcgm.build(res, GRID, 60, DIALECT).table.to_pydict()
    assert sorted(set(t["pod"])) == ["a", "b"] and len(t["pod"]) == 6
    assert set(t["mem_total_bytes"]) == {16 * 2**20}  # the device's, not used + free of a copy


def test_ksm_names_and_resources():
    assert ksm.ksm_label_name("eks.amazonaws.com/capacityType") == "label_eks_amazonaws_com_capacity_type"
    assert ksm.resource_name("nvidia_com_mig_1g_10gb") == "nvidia.com/mig-1g.10gb"
    assert ksm.resource_name("nvidia_com_gpu") == "nvidia.com/gpu"
    restore = ksm.label_restorer(("example.com/cost-center",))
    assert restore({"label_team": "a", "label_app_kubernetes_io_name": "x", "label_example_com_cost_center": "7",
                    "label_some_other": "y", "namespace": "ns"}) == {
        "team": "a", "app.kubernetes.io/name": "x", "example.com/cost-center": "7", "some_other": "y"}


def test_pods_resolve_owners_and_nodes_fill_what_they_can():
    g, coarse = Grid(600.0, 60.0, 3), Grid(600.0, 60.0, 3)
    pod = {"namespace": "ml", "pod": "web-5d8f-x", "uid": "u1", "node": "n1"}
    res = {"info": [series(pod, [1, 1, 1])],
           "owner": [series({"namespace": "ml", "pod": "web-5d8f-x", "owner_kind": "ReplicaSet",
                             "owner_name": "web-5d8f"}, [1, 1, 1])],
           "rs": [series({"namespace": "ml", "replicaset": "web-5d8f", "owner_kind": "Deployment",
                          "owner_name": "web"}, [1, 1, 1])],
           "requests": [series({"namespace": "ml", "pod": "web-5d8f-x", "container": "app", "resource": r}, [v] * 3)
                        for r, v in (("cpu", 0.5), ("memory", 2**30), ("nvidia_com_mig_1g_10gb", 1))]}
    t = ksm.build_pods(res, g, coarse, 60, ksm.KsmOptions()).to_pylist()
    assert len(t) == 1
    assert (t[0]["workload_kind"], t[0]["workload_name"], t[0]["gpu_resource"], t[0]["cpu_request"],
            t[0]["mem_request"]) == ("Deployment", "web", "nvidia.com/mig-1g.10gb", 0.5, 2**30)
    assert t[0]["ts"].timestamp() == 540  # the start of the first interval it was seen in
    nodes = {"info": [series({"node": "n1", "provider_id": "aws:///eu-west-1b/i-0abc"}, [1, 1, 1])],
             "capacity": [series({"node": "n1", "resource": "cpu"}, [8] * 3)]}
    row = ksm.build_nodes(nodes, g, coarse, 60, ksm.KsmOptions()).to_pylist()[0]
    assert (row["instance_type"], row["zone"], row["region"], row["cpu_capacity"], row["gpu_count"]) == (
        None, "eu-west-1b", "eu-west-1", 8.0, 0)
    filled = ksm.KsmOptions(instance_types={"n1": {"instance_type": "m7i.2xlarge", "capacity_type": "spot"}})
    row = ksm.build_nodes(nodes, g, coarse, 60, filled).to_pylist()[0]
    assert (row["instance_type"], row["capacity_type"]) == ("m7i.2xlarge", "spot")


def test_discovery_says_what_will_be_null_and_the_fix():
    names = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_POWER_USAGE"]

    def respond(req):
        match = req.params.get("match[]", "")
        if req.path.endswith("/buildinfo"):
            return ok({"version": "3.5.0"})
        if req.path == "/api/v1/label/__name__/values":
            return ok(names)
        if req.path == "/api/v1/labels":
            if match.startswith("DCGM"):
                return ok(["__name__", "UUID", "gpu", "modelName", "Hostname", "exported_pod", "pod"])
            if match.startswith("kube_node_labels"):
                return ok(["__name__", "node", "label_kubernetes_io_os"])
            return ok(["__name__", "namespace", "pod", "label_team"])
        if req.path.startswith("/api/v1/label/"):
            label = req.path.split("/")[4]
            return ok({"Hostname": ["n1"], "job": ["kubelet"], "metrics_path": ["/metrics/cadvisor"],
                       "node": ["n1"], "resource": ["cpu"]}.get(label, []))
        return ok([])

    fake, stop = serve(respond)
    try:
        d = discover(PromClient(ClientConfig(fake.url)), 0, 3600)
    finally:
        stop()
    text = "\n".join(d.report())
    assert "prometheus 3.5.0" in text
    assert d.gpu_nodes == ["n1"] and d.dcgm.node_labels == ("Hostname",)
    assert d.cadvisor.job_selector == 'job="kubelet",metrics_path="/metrics/cadvisor"'
    assert "gpu.sm_active" in text and "DCGM_FI_PROF_SM_ACTIVE is not collected — enable it in dcgm-exporter's counters CSV" in text
    assert "nodes.instance_type" in text and "allow-list node labels in kube-state-metrics" in text
    assert "exported_*" in text


def test_instance_type_file(tmp_path):
    from importers.prometheus.instance_types import load_instance_types
    from store.errors import UserError

    (tmp_path / "a.csv").write_text("node,instance_type,capacity_type\nn1,p5.48xlarge,spot\n")
    assert load_instance_types(str(tmp_path / "a.csv")) == {"n1": {"instance_type": "p5.48xlarge", "capacity_type": "spot"}}
    (tmp_path / "b.json").write_text(json.dumps({"n2": "g6.xlarge"}))
    assert load_instance_types(str(tmp_path / "b.json")) == {"n2": {"instance_type": "g6.xlarge"}}
    (tmp_path / "c.csv").write_text("node,instance_type,capacity_type\nn1,p5.48xlarge,preemptible\n")
    with pytest.raises(UserError, match="c.csv: node 'n1': capacity_type 'preemptible'"):
        load_instance_types(str(tmp_path / "c.csv"))
    # the agent's dataset: each node's latest facts
    from store.writer import DatasetWriter

    root = tmp_path / "agent"
    DatasetWriter(str(root)).write("nodes", {"ts": pa.array([0, 3_600_000]).cast(pa.timestamp("ms", tz="UTC")),
                                             "node": ["n1", "n1"], "instance_type": ["g6.xlarge", "g6.2xlarge"],
                                             "capacity_type": ["spot", None]})
    assert load_instance_types(str(root)) == {"n1": {"instance_type": "g6.2xlarge", "capacity_type": "spot"}}


@pytest.mark.parametrize("argv, message", [
    (["--step", "5x"], "--step: '5x' is not a duration"),
    (["--concurrency", "0"], "--concurrency: 0 must be at least 1"),
    (["--header", "nocolon"], "--header: 'nocolon' is not of the form 'Name: value'"),
    (["--backend", "graphite"], "--backend: 'graphite' is not one of"),
    (["--url", "http://127.0.0.1:1"], "cannot connect"),
])
def test_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    from recommender.cli import main

    base = ["import", "prometheus", "--url", "http://127.0.0.1:9", "--start", "2026-01-05", "--end", "2026-01-06",
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("error: ")
    assert "Traceback" not in "\n".join(err)

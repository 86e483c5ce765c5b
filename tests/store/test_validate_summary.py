"""``rightsizer validate`` on a dataset whose every number is known: the summary must report exactly those."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from recommender.cli import main
from store.inspect import inspect_dataset
from store.writer import DatasetWriter
from tests.store.rows import T0, container_rows, gpu_rows, node_row, pod_row, table

A100 = "NVIDIA A100-SXM4-80GB"
LATE = T0 + timedelta(hours=23)  # gpu-2 starts an hour before midnight: its series crosses a partition


@pytest.fixture
def cluster(tmp_path):
    """Three nodes with hand-placed holes.

    gpu-1: one L4 (GPU-a), 120 samples at 60 s from T0, samples 50-54 missing -> one node gap of
           6 min between samples, 5 min uncovered; pod web-1 on it all the time.
    gpu-2: two A100s from 23:00, 120 samples; GPU-b1 runs train-0, GPU-b2 belongs to nobody and misses
           samples 10-12 while GPU-b1 keeps sampling -> no node gap, one GPU-only gap.
    cpu-1: CPU-only, 120 container samples, no hole; one pod (batch/orphan-1) has no row in 'pods'.
    """
    root = str(tmp_path / "data")
    w = DatasetWriter(root)
    gpu = (gpu_rows("gpu-1", T0, 120, skip=tuple(range(50, 55)))
           + gpu_rows("gpu-2", LATE, 120, gpus=(("GPU-b1", A100),), pod="train-0", namespace="ml")
           + gpu_rows("gpu-2", LATE, 120, gpus=(("GPU-b2", A100),), pod=None, skip=(10, 11, 12)))
    w.write("gpu", table("gpu", gpu))
    w.write("container", table("container", container_rows("gpu-1", T0, 120)
                               + container_rows("cpu-1", T0, 120, pod="orphan-1", namespace="batch")))
    w.write("pods", table("pods", [
        pod_row("gpu-1", T0, "web-1"), pod_row("gpu-1", T0 + timedelta(hours=1), "web-2"),
        pod_row("gpu-2", LATE, "train-0", namespace="ml", kind="Job", name="train"),
    ]))
    w.write("nodes", table("nodes", [
        node_row("gpu-1", T0), node_row("cpu-1", T0, instance_type="m7i.xlarge", gpu_count=0, gpu_model=None),
        node_row("gpu-2", LATE, instance_type="p4de.24xlarge", capacity_type="spot", gpu_count=8, gpu_model=A100),
        # a later change of gpu-1 (relabelled): the latest row wins
        node_row("gpu-1", T0 + timedelta(hours=1), instance_type="g6.xlarge", capacity_type="spot"),
    ]))
    return root


def test_summary_numbers(cluster):
    s = inspect_dataset(cluster)
    rows = {t.table: (t.files, t.partitions, t.rows) for t in s.tables}
    assert rows == {"gpu": (3, 3, 115 + 120 + 117), "container": (2, 2, 240), "pods": (2, 2, 3), "nodes": (3, 3, 4)}
    assert (s.first, s.last) == (T0, LATE + timedelta(minutes=119))
    assert s.nodes == ["cpu-1", "gpu-1", "gpu-2"]
    assert s.instance_types == {"g6.xlarge": 1, "m7i.xlarge": 1, "p4de.24xlarge": 1}
    assert s.capacity_types == {"on-demand": 1, "spot": 2}
    models = {m.gpu_model: (m.gpus, m.mig_slices, m.nodes, m.gpu_hours, m.attributed_share) for m in s.gpu_models}
    assert models == {A100: (2, 0, 1, pytest.approx(237 / 60), pytest.approx(120 / 237)),
                      "NVIDIA L4": (1, 0, 1, pytest.approx(115 / 60), 1.0)}
    assert s.attributed_share == pytest.approx((115 + 120) / (115 + 237))
    assert (s.workloads, s.pods, s.namespaces) == (2, 4, 3)
    gaps = {g.node: (g.gaps, g.longest_s, g.missing_s, g.gpu_gaps, g.source) for g in s.node_gaps}
    assert gaps == {"gpu-1": (1, 300.0, 300.0, 0, "gpu"), "gpu-2": (0, 0.0, 0.0, 1, "gpu")}
    assert s.warnings == ["1 pod(s) in the samples have no row in 'pods' (e.g. batch/orphan-1): "
                          "their workload and labels are unknown"]


def test_a_window_restricts_the_samples(cluster):
    s = inspect_dataset(cluster, T0 + timedelta(minutes=60), T0 + timedelta(minutes=120))
    rows = {t.table: t.rows for t in s.tables}
    assert rows["gpu"] == 60 and rows["container"] == 120
    assert s.node_gaps == []  # the hole at minutes 50-54 is outside the window
    assert rows["pods"] == 2  # change logs are read from the beginning up to the end of the window


def test_cli_json_and_tables(cluster, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when not on a terminal
    assert main(["validate", "--data", cluster, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert err == ""
    assert doc["gpus"] == 3 and doc["first"] == "2026-01-05T00:00:00Z"
    assert doc["node_gaps"][0]["node"] == "gpu-1"
    assert main(["validate", "--data", cluster]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for expected in ("valid (format v1)", "NVIDIA A100-SXM4-80GB", "GPU time attributed to a pod: 66.8%",
                     "Workloads: 2 (4 pods in 3 namespaces)", "gpu-1", "warning: 1 pod(s)"):
        assert expected in out


def test_a_clean_dataset_reports_no_gaps(tmp_path, capsys):
    root = str(tmp_path)
    DatasetWriter(root).write("gpu", table("gpu", gpu_rows("gpu-1", T0, 30)))
    assert main(["validate", "--data", root]) == 0
    out = capsys.readouterr().out
    assert "Sampling gaps: none" in out
    assert "no 'nodes' table" in out


def test_mig_slices_are_counted_apart_from_whole_gpus(tmp_path):
    """An A100 split into two MIG slices has a row per slice (its own uuid) and none for the parent GPU."""
    rows = gpu_rows("mig-1", T0, 10, gpus=(("MIG-1", A100), ("MIG-2", A100)), pod="svc-0")
    for r in rows:
        r["mig_profile"] = "3g.40gb"
    rows += gpu_rows("mig-1", T0, 10, gpus=(("GPU-whole", A100),), pod=None)
    DatasetWriter(str(tmp_path)).write("gpu", table("gpu", rows))
    [m] = inspect_dataset(str(tmp_path)).gpu_models
    assert (m.gpu_model, m.gpus, m.mig_slices, m.nodes) == (A100, 1, 2, 1)
    assert m.attributed_share == pytest.approx(2 / 3)

"""truth.json says what the data really is: each claim is recomputed from the tables as read back."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.sim.helpers import container_pod_instants, gpu_rows, pod_instants, quantile

GIB = 1024**3


def test_truth_header_matches_data(sim):
    t = sim.truth
    assert (t["seed"], t["interval_s"]) == (3, 60)
    assert (t["start"], t["end"]) == ("2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z")
    # a sample covers (ts - interval_s, ts]: the samples of [start, end) run from start + 60 s to end
    lo, hi = sim.data.time_range("gpu")
    assert lo.isoformat() == "2026-01-05T00:01:00+00:00"
    assert hi.isoformat() == "2026-01-07T00:00:00+00:00"
    nodes = sim.data.read("nodes")
    seen = {(r["node"], r["instance_type"], r["capacity_type"]) for r in nodes.to_pylist()}
    assert seen == {(n["node"], n["instance_type"], n["capacity_type"]) for n in t["nodes"]}


def test_every_workload_in_truth_is_in_pods_table_and_back(sim):
    pods = sim.data.read("pods").to_pylist()
    in_data = {(p["namespace"], p["workload_kind"], p["workload_name"]) for p in pods}
    in_truth = {(w["namespace"], w["kind"], w["name"]) for w in sim.truth["workloads"]}
    assert in_data == in_truth
    for w in sim.truth["workloads"]:
        assert {p["pod"] for p in pods if p["workload_name"] == w["name"] and p["namespace"] == w["namespace"]} \
            == set(w["pods"])


@pytest.mark.parametrize("behaviour", ["overprovisioned-inference", "memory-bound-inference", "well-sized-serving",
                                       "training", "idle-notebook", "bursty-inference"])
def test_gpu_facts_are_the_data_percentiles(sim, behaviour):
    for w in sim.workloads(behaviour):
        if not w["gpus_per_pod"]:
            continue
        f = w["facts"]
        inst = pod_instants(gpu_rows(sim.data, w))
        util = inst.column("gpu_util_mean").to_numpy()
        mem = inst.column("mem_used_bytes_sum").to_numpy()
        assert abs(f["gpu_util_p95"] - quantile(util, 0.95)) <= 2 / 4096 + 1e-6
        assert abs(f["gpu_mem_p99_bytes"] - quantile(mem, 0.99)) <= 2 * f["gpu_mem_bytes_bin"]
        assert f["gpu_mem_max_bytes"] == int(mem.max())
        if f["activity_source"] == "sm_active":
            sm = inst.column("sm_active_mean").to_numpy()
            assert abs(f["sm_active_p95"] - quantile(sm, 0.95)) <= 2 / 4096 + 1e-6
            activity = sm
        else:
            activity = util
        assert f["idle_fraction"] == pytest.approx(float(np.mean(activity < 0.05)), abs=1e-6)
        assert f["gpu_pod_seconds"] == len(inst) * 60


def test_overprovisioned_memory_stays_small_on_a_big_gpu(sim):
    found = sim.workloads("overprovisioned-inference")
    assert {w["gpu_model"] for w in found} >= {"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"}
    for w in found:
        rows = gpu_rows(sim.data, w)
        mem = rows.column("mem_used_bytes").to_numpy()
        cap = rows.column("mem_total_bytes").to_numpy()
        assert (cap == 80 * GIB).all()
        assert quantile(mem, 0.99) < 7 * GIB  # fits a 1g.10gb / 2g.20gb MIG slice, an L4, an A10G
        inst = pod_instants(rows)
        activity = inst.column("sm_active_mean" if w["facts"]["activity_source"] == "sm_active"
                               else "gpu_util_mean").to_numpy()
        assert quantile(activity, 0.95) < 0.2  # low...
        assert np.mean(activity < 0.05) < 0.2  # ...but not idle


def test_memory_bound_stays_near_capacity(sim):
    found = sim.workloads("memory-bound-inference")
    assert found
    for w in found:
        rows = gpu_rows(sim.data, w)
        frac = rows.column("mem_used_bytes").to_numpy() / rows.column("mem_total_bytes").to_numpy()
        assert quantile(frac, 0.99) > 0.9 and frac.max() <= 0.95
        assert quantile(rows.column("gpu_util").to_numpy(), 0.95) < 0.35
        assert w["expected_actions"] == []


def test_well_sized_serving_is_busy_and_diurnal(sim):
    gpu = [w for w in sim.workloads("well-sized-serving") if w["gpus_per_pod"]]
    assert gpu and all(w["value_class"] == "production" for w in gpu)
    for w in gpu:
        rows = gpu_rows(sim.data, w)
        util = rows.column("gpu_util").to_numpy()
        hour = (rows.column("ts").cast("int64").to_numpy() // 3_600_000) % 24
        assert quantile(util, 0.95) > 0.75
        assert util[hour == 17].mean() > 2 * util[hour == 5].mean()  # US afternoon peak, night trough


def test_training_is_busy_multi_gpu_on_demand(sim):
    found = sim.workloads("training")
    assert found
    for w in found:
        assert w["kind"] == "Job" and w["capacity_type"] == "on-demand" and w["gpus_per_pod"] == 8
        assert w["value_class"] in ("background", "experimental")
        assert w["expected_actions"] == ["use-spot"]
        assert w["facts"]["gpu_util_p50"] > 0.9


def test_idle_notebooks_are_idle_95_percent(sim):
    found = sim.workloads("idle-notebook")
    assert found
    for w in found:
        assert w["kind"] == "StatefulSet" and w["value_class"] == "experimental"
        util = gpu_rows(sim.data, w).column("gpu_util").to_numpy()
        assert np.mean(util < 0.05) >= 0.95
        assert w["facts"]["idle_fraction"] >= 0.95


def test_bursty_inference_has_short_bursts_and_long_idle_runs(sim):
    found = sim.workloads("bursty-inference")
    assert found
    for w in found:
        assert w["value_class"] in ("experimental", "background")
        util = gpu_rows(sim.data, w).column("gpu_util").to_numpy()  # one pod, one GPU, rows in time order
        active = util >= 0.05
        assert 0.03 < active.mean() < 0.3
        starts = int(active[0]) + int(np.sum(active[1:] & ~active[:-1]))
        assert starts == w["facts"]["burst_count"] >= 8
        idle_runs = np.diff(np.flatnonzero(np.concatenate([[True], active, [True]]))) - 1
        assert idle_runs.max() * 60 == w["facts"]["max_idle_run_s"] >= 3600
        assert w["facts"]["duty_cycle"] == pytest.approx(active.mean(), abs=1e-6)


def test_requests_are_oversized_only_where_truth_says(sim):
    pods = sim.data.read("pods").to_pylist()
    for w in sim.truth["workloads"]:
        containers = {p["container"]: p for p in pods if p["pod"] == w["pods"][0]}  # a row per day: dedupe
        request = sum(c["cpu_request"] for c in containers.values())
        mem_request = sum(c["mem_request"] for c in containers.values())
        inst = container_pod_instants(sim.data, w)
        cpu_ratio = quantile(inst.column("cpu_cores_sum").to_numpy(), 0.95) / request
        mem_ratio = quantile(inst.column("mem_bytes_sum").to_numpy(), 0.99) / mem_request
        if w["behaviour"] == "cpu-oversized":
            assert cpu_ratio < 0.3 and mem_ratio < 0.3, w["name"]
        else:
            assert 0.7 < cpu_ratio < 0.95 and 0.7 < mem_ratio < 0.95, (w["name"], cpu_ratio, mem_ratio)
        assert w["facts"]["cpu_cores_p95"] == pytest.approx(cpu_ratio * request, abs=2 * w["facts"]["cpu_cores_bin"])


def test_unallocated_gpus_have_only_null_pod_rows(sim):
    unalloc = {u["gpu_uuid"] for u in sim.truth["unallocated_gpus"]}
    assert len(unalloc) >= 2
    gpu = sim.data.read("gpu", columns=["gpu_uuid", "pod", "namespace", "container", "gpu_util", "mem_used_bytes"])
    for row_uuid, pod in zip(gpu.column("gpu_uuid").to_pylist(), gpu.column("pod").to_pylist(), strict=True):
        if row_uuid in unalloc:
            assert pod is None
    null_pod = gpu.filter(pc.is_null(gpu.column("pod")))
    assert set(null_pod.column("gpu_uuid").to_pylist()) == unalloc  # the spike's nodes have no idle slivers
    assert null_pod.column("namespace").null_count == null_pod.column("container").null_count == len(null_pod)
    assert pc.max(null_pod.column("gpu_util")).as_py() == 0.0


def test_spike_day_costs_the_team_more(sim):
    spike = sim.truth["spike"]
    assert spike and spike["date"] == "2026-01-06" and spike["factor"] > 1.5
    pods = {p["pod"]: json.loads(p["labels"])["team"] for p in sim.data.read("pods").to_pylist()}
    team_pods = pa.array([p for p, team in pods.items() if team == spike["team"]])
    gpu = sim.data.read("gpu", columns=["ts", "pod", "interval_s"])
    gpu = gpu.filter(pc.is_in(gpu.column("pod"), team_pods))
    seconds = gpu.column("interval_s").to_numpy()
    # the day an interval (ts - interval_s, ts] lies in: the one its start falls on (a midnight sample
    # closes the day before)
    starts = pc.subtract(gpu.column("ts"), pa.array((seconds * 1e6).astype("int64"), pa.duration("us")))
    day = pc.strftime(starts, "%Y-%m-%d").to_pylist()
    hours: dict[str, float] = defaultdict(float)
    for d, s in zip(day, seconds, strict=True):
        hours[d] += s / 3600
    others = [h for d, h in hours.items() if d != spike["date"]]
    factor = hours[spike["date"]] / statistics.median(others)
    assert factor == pytest.approx(spike["gpu_hours_factor"], rel=0.01)
    assert hours[spike["date"]] == pytest.approx(spike["gpu_hours_spike_day"], rel=0.01)
    spike_nodes = set(spike["extra_nodes"])
    nodes = sim.data.read("nodes").to_pylist()
    assert {n["ts"].strftime("%Y-%m-%d") for n in nodes if n["node"] in spike_nodes} == {spike["date"]}
    budgets = sim.truth["budgets_hint"]["teams"]
    assert set(budgets) == {w["team"] for w in sim.truth["workloads"]}

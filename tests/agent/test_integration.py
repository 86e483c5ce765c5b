"""The whole agent in-process: fake NVML + pod-resources gRPC + Kubernetes API server + /proc and cgroup
fixtures; ticks driven by a fake clock; assertions on the dataset the sink receives and on /metrics."""

import json
import urllib.error
import urllib.request

import pyarrow.compute as pc
import pytest

from agent.attribution.kubeapi import KubeApi
from agent.gpu.scenarios import A100, A100_MIG, GIB, H100, T4_SHARED
from agent.metrics import MetricsServer
from store.reader import Dataset
from tests.agent.fakes import (
    Allocation,
    KubeApiServer,
    KubeState,
    PodResourcesServer,
    job,
    make_cgroup_v2,
    make_proc,
    node,
    pod,
    replicaset,
    v2_container_path,
)

NODE = "gpu-node-1"
TICKS = 5
# pod name -> (namespace, uid, container, container id, owner, pid on the GPU)
PODS = {
    "trainer-5c8d-x1": ("ml", "11111111-0000-4000-8000-000000000001", "main", "a1" * 32, ("ReplicaSet", "trainer-5c8d"), 1001),
    "small-0": ("ml", "11111111-0000-4000-8000-000000000003", "srv", "a3" * 32, ("StatefulSet", "small"), 1003),
    "nightly-1-q": ("ml", "11111111-0000-4000-8000-000000000004", "train", "a4" * 32, ("Job", "nightly-1"), 1004),
    "web-a": ("web", "11111111-0000-4000-8000-000000000005", "app", "a5" * 32, None, 1005),
    "web-b": ("web", "11111111-0000-4000-8000-000000000006", "app", "a6" * 32, None, 1006),
}


@pytest.fixture
def world(tmp_path, make_agent):
    state = KubeState()
    for name, (ns, uid, ctr, cid, owner, _pid) in PODS.items():
        state.pods.append(pod(name, ns, uid, NODE, owner=owner, labels={"team": ns},
                              containers=[(ctr, {"cpu": "1", "memory": "2Gi"}, {"nvidia.com/gpu": "1"})],
                              container_ids={ctr: f"containerd://{cid}"}))
    state.replicasets = [replicaset("trainer-5c8d", "ml", owner=("Deployment", "trainer"))]
    state.jobs = [job("nightly-1", "ml", owner=("CronJob", "nightly"))]
    state.nodes = [node(NODE, {"node.kubernetes.io/instance-type": "p5.48xlarge",
                               "eks.amazonaws.com/capacityType": "ON_DEMAND"}, {"cpu": "192", "memory": "2048Gi"})]
    paths = {name: v2_container_path(uid, cid) for name, (ns, uid, ctr, cid, o, p) in PODS.items()}
    make_proc(str(tmp_path / "proc"), {p[5]: paths[n] for n, p in PODS.items()} | {1002: "/system.slice/x.service"})
    make_cgroup_v2(str(tmp_path / "cgroup"), {path: (1_000_000, 3 * GIB, GIB) for path in paths.values()})
    allocs = [
        Allocation("ml", "trainer-5c8d-x1", "main", "nvidia.com/gpu", [H100.uuid]),
        Allocation("ml", "small-0", "srv", "nvidia.com/mig-1g.10gb", [A100_MIG.mig[0].uuid]),
        Allocation("ml", "nightly-1-q", "train", "nvidia.com/mig-3g.40gb", [A100_MIG.mig[1].uuid]),
        Allocation("web", "web-a", "app", "nvidia.com/gpu", [T4_SHARED.uuid + "::0"]),
        Allocation("web", "web-b", "app", "nvidia.com/gpu", [T4_SHARED.uuid + "::1"]),
    ]
    sock = str(tmp_path / "kubelet.sock")
    with KubeApiServer(state) as api, PodResourcesServer(sock, allocs):
        agent = make_agent("mixed", kubernetes=True, kube_api=KubeApi(api.url))
        agent.start(background=False)
        agent.watcher.sync()
        agent.watcher.refresh_node()
        yield agent


def run_ticks(agent, clock, n):
    for _ in range(n):
        clock.advance(1.0)
        agent.tick()
    agent.flush()
    assert agent.upload() > 0
    return Dataset(agent.config.sink)


def rows(table):
    return table.to_pylist()


def test_dataset_rows_attribution_nulls_mig_and_shared_split(world, clock):
    ds = run_ticks(world, clock, TICKS)
    gpu = rows(ds.read("gpu"))
    # per tick: H100, A100 (unallocated), 2 MIG instances, T4 split into 2 pods
    assert len(gpu) == TICKS * 6
    by = {}
    for r in gpu:
        by.setdefault((r["gpu_uuid"], r["pod"]), []).append(r)

    h100 = by[(H100.uuid, "trainer-5c8d-x1")]
    assert len(h100) == TICKS and all(r["namespace"] == "ml" and r["container"] == "main" for r in h100)
    assert h100[0]["sm_active"] is None  # the first tick has no GPM pair yet
    assert all(r["sm_active"] == pytest.approx(H100.gpm[2] / 100) for r in h100[1:])
    assert all(r["power_w"] == pytest.approx(H100.power_mw / 1000) for r in h100)

    a100 = by[(A100.uuid, None)]
    assert len(a100) == TICKS
    assert all(r["namespace"] is None and r["container"] is None and r["sm_active"] is None for r in a100)
    assert all(r["gpu_util"] == pytest.approx(A100.util / 100) and r["mem_used_bytes"] == A100.mem_used for r in a100)

    small, nightly = by[(A100_MIG.mig[0].uuid, "small-0")], by[(A100_MIG.mig[1].uuid, "nightly-1-q")]
    assert {r["mig_profile"] for r in small} == {"1g.10gb"} and {r["mig_profile"] for r in nightly} == {"3g.40gb"}
    assert all(r["gpu_util"] is None and r["power_w"] is None for r in small + nightly)
    assert small[0]["mem_total_bytes"] == 9856 * 2**20 and nightly[0]["mem_used_bytes"] == 25 * GIB

    a, b = by[(T4_SHARED.uuid, "web-a")], by[(T4_SHARED.uuid, "web-b")]
    assert all(r["gpu_util"] == pytest.approx(0.45) and r["mem_used_bytes"] == 5 * GIB for r in a)
    assert all(r["gpu_util"] == pytest.approx(0.25) and r["mem_used_bytes"] == 3 * GIB for r in b)
    assert all(r["interval_s"] == pytest.approx(1.0) and r["node"] == NODE for r in gpu)


def test_pods_nodes_and_container_tables(world, clock):
    ds = run_ticks(world, clock, TICKS)
    pods = {r["pod"]: r for r in rows(ds.read("pods"))}
    assert (pods["trainer-5c8d-x1"]["workload_kind"], pods["trainer-5c8d-x1"]["workload_name"]) == ("Deployment", "trainer")
    assert (pods["nightly-1-q"]["workload_kind"], pods["nightly-1-q"]["workload_name"]) == ("CronJob", "nightly")
    assert pods["small-0"]["workload_kind"] == "StatefulSet" and pods["web-a"]["workload_kind"] == "Pod"
    assert json.loads(pods["web-a"]["labels"]) == {"team": "web"} and pods["web-a"]["gpu_request"] == 1.0
    assert len(pods) == len(PODS)  # one row per container, written once

    (n,) = rows(ds.read("nodes"))
    assert (n["instance_type"], n["capacity_type"], n["gpu_count"]) == ("p5.48xlarge", "on-demand", 4)
    assert n["gpu_model"] == H100.name  # the most common NVML name wins over labels

    ctr = ds.read("container")
    assert ctr.num_rows == TICKS * len(PODS)
    assert pc.min(ctr.column("mem_bytes")).as_py() == 2 * GIB  # memory.current - inactive_file
    # the cgroup counters do not move in this fixture: 0 cores after the first tick, null on the first
    assert ctr.column("cpu_cores").null_count == len(PODS)
    assert pc.max(ctr.column("cpu_cores")).as_py() == 0


def test_metrics_and_healthz_over_http(world, clock):
    for _ in range(3):
        clock.advance(1.0)
        world.tick()
    server = MetricsServer(world.metrics, "127.0.0.1", 0, stale_after_s=60)
    server.start()
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics").read().decode()
        health = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz")
        assert health.status == 200
    finally:
        server.stop()
    assert "rightsizer_agent_samples_total" in text and "rightsizer_agent_tick_seconds_bucket" in text
    line = next(ln for ln in text.splitlines()
                if ln.startswith("rightsizer_gpu_utilization_ratio") and 'pod="web-a"' in ln)
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(0.45)
    assert 'rightsizer_gpu_sm_active_ratio{' in text and 'pod="trainer-5c8d-x1"' in text
    assert f'rightsizer_gpu_power_watts{{container="",gpu_model="{A100.name}",gpu_uuid="{A100.uuid}"' in text
    assert 'rightsizer_agent_nvml_errors_total{call="nvmlDeviceGetMigMode"' not in text  # probes are not errors
    for name in ("flush_failures_total", "upload_failures_total", "spool_bytes", "dropped_segments_total",
                 "last_successful_upload_timestamp_seconds"):
        assert f"rightsizer_agent_{name}" in text


def test_lost_gpu_and_unsupported_call_in_the_dataset_and_metrics(make_agent, clock, tmp_path):
    from agent.gpu.scenarios import SCENARIOS

    lost = make_agent("gpu-lost")
    lost.start(background=False)
    ds = run_ticks(lost, clock, 12)
    g = ds.read("gpu")
    healthy_uuid, lost_uuid = (x.uuid for x in SCENARIOS["gpu-lost"].gpus)
    per = {u: sorted(r["ts"] for r in rows(g) if r["gpu_uuid"] == u) for u in (healthy_uuid, lost_uuid)}
    assert len(per[healthy_uuid]) == 12
    assert 0 < len(per[lost_uuid]) < 12  # missing while lost, never filled with made-up values
    assert per[lost_uuid][-1] == per[healthy_uuid][-1]  # back by the end
    text = lost.metrics.text().decode()
    assert 'error="GpuIsLost"' in text

    ns = make_agent("not-supported", sink=str(tmp_path / "sink2"), spool_dir=str(tmp_path / "spool2"))
    ns.start(background=False)
    g2 = run_ticks(ns, clock, 4).read("gpu")
    assert g2.column("power_w").null_count == g2.num_rows == 4
    assert ns.metrics.registry.get_sample_value(
        "rightsizer_agent_nvml_errors_total", {"call": "nvmlDeviceGetPowerUsage", "error": "NotSupported"}) == 1


def test_background_start_names_pods_from_the_first_tick(tmp_path, make_agent, clock):
    state = KubeState()
    name, (ns, uid, ctr, cid, owner, pid) = next(iter(PODS.items()))
    state.pods = [pod(name, ns, uid, NODE, containers=[(ctr, None, None)], container_ids={ctr: f"containerd://{cid}"})]
    state.nodes = [node(NODE, {}, {"cpu": "8"})]
    make_proc(str(tmp_path / "proc"), {pid: v2_container_path(uid, cid)})
    with KubeApiServer(state) as api:
        agent = make_agent("h100", kubernetes=True, kube_api=KubeApi(api.url))
        agent.start(background=True)  # the watch thread runs against the server meanwhile
        clock.advance(1)
        agent.tick()
        state.watch_events.put(None)
        agent._stop_threads.set()
    (row,) = agent.metrics.latest.rows
    assert (row["namespace"], row["pod"], row["container"]) == (ns, name, ctr)


def test_a_crashing_sampler_is_skipped_and_logged_once(make_agent, clock, monkeypatch, caplog):
    agent = make_agent("h100")
    agent.start(background=False)
    monkeypatch.setattr(agent.gpu, "sample", lambda: 1 / 0)
    for _ in range(3):
        clock.advance(1)
        agent.tick()  # never raises
    assert agent.ticks == 3
    assert caplog.text.count("sampling gpu failed") == 1
    assert agent.buffer.rows("nodes") == 1  # the rest of the tick still ran


def test_healthz_turns_503_when_ticks_stop(make_agent):
    agent = make_agent("h100")
    server = MetricsServer(agent.metrics, "127.0.0.1", 0, stale_after_s=0.0)
    server.start()
    try:
        server.last_tick_monotonic -= 1.0  # the last tick was a second ago; the limit is 0 s
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz")
        assert exc.value.code == 503
    finally:
        server.stop()

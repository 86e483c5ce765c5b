"""Fault matrix, spool side: what the cap and the memory limit may drop (samples, oldest first) and what
they keep (the pods and nodes rows the dataset cannot do without), re-emission of those rows, and the
accounting that holds through every fault: rows sampled = rows delivered + rows counted as dropped."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.compute as pc
import pytest

from store.reader import Dataset
from tests.agent.faults import (
    NODE,
    PODS,
    FlakySink,
    FullDisk,
    delivered,
    dropped,
    kube_world,
    metric,
    sampled,
    start_in_world,
)


def _segment_size(make_agent, tmp_path, clock, ticks: int) -> int:
    probe = make_agent("h100", sink=str(tmp_path / "probe-sink"), spool_dir=str(tmp_path / "probe"))
    probe.start(background=False)
    for _ in range(ticks):
        clock.advance(1)
        probe.tick()
    probe.flush()
    return max(size for rel, _, size in probe.spool.files() if rel.startswith("gpu/"))


def test_spool_cap_with_the_sink_down_from_the_start_keeps_the_nodes_and_pods_rows(make_agent, clock, tmp_path):
    one = _segment_size(make_agent, tmp_path, clock, 2)
    sink = FlakySink(tmp_path / "sink")
    sink.down = True  # down before the first segment: the node's only nodes row waits in the spool
    with kube_world(tmp_path) as api:
        agent = start_in_world(make_agent, api, sink_location=sink, spool_max_bytes=int(one * 10))
        for _ in range(12):
            for _ in range(2):
                clock.advance(1)
                agent.tick()
            agent.flush()
            agent.upload()
        assert metric(agent, "rightsizer_agent_dropped_segments_total") >= 4
        assert agent.spool.size() <= agent.spool.max_bytes
        sink.down = False
        clock.advance(3600)
        agent.upload()
    got = Dataset(str(tmp_path / "sink"))
    nodes = got.read("nodes").to_pylist()
    assert nodes and {r["node"] for r in nodes} == {NODE}
    assert nodes[0]["instance_type"] == "p5.48xlarge"
    assert {r["pod"] for r in got.read("pods").to_pylist()} == set(PODS)
    # the newest samples survived, the oldest went
    ts = got.read("gpu").column("ts")
    assert pc.max(ts).as_py() == datetime.fromtimestamp(clock.t - 3600, tz=UTC)
    assert agent.spool.files() == []
    rows = delivered(tmp_path / "sink")
    assert sampled(agent) == sum(rows.values()) + dropped(agent)
    assert dropped(agent) > 0


def test_the_cap_drops_the_oldest_samples_first(make_agent, clock, tmp_path):
    one = _segment_size(make_agent, tmp_path, clock, 1)
    sink = FlakySink(tmp_path / "sink")
    sink.down = True
    agent = make_agent("h100", sink_location=sink, spool_max_bytes=int(one * 3.5))
    agent.start(background=False)
    flushed_ts = []
    for _ in range(8):
        clock.advance(1)
        agent.tick()
        flushed_ts.append(int(clock() * 1000))
        agent.flush()
    sink.down = False
    clock.advance(3600)
    agent.upload()
    got = sorted(r.timestamp() * 1000 for r in Dataset(str(tmp_path / "sink")).read("gpu").column("ts").to_pylist())
    kept = [int(t) for t in got]
    assert kept and kept == flushed_ts[-len(kept):]  # a contiguous run of the newest ticks
    assert len(kept) < len(flushed_ts)
    assert Dataset(str(tmp_path / "sink")).read("nodes").num_rows >= 1  # --no-kubernetes: the local node row
    assert sampled(agent) == sum(delivered(tmp_path / "sink").values()) + dropped(agent)


def test_a_drop_re_emits_the_node_and_pod_rows_once_per_outage(make_agent, clock, tmp_path):
    one = _segment_size(make_agent, tmp_path, clock, 2)
    sink = FlakySink(tmp_path / "sink")
    with kube_world(tmp_path) as api:
        agent = start_in_world(make_agent, api, sink_location=sink, spool_max_bytes=int(one * 10))
        clock.advance(1)
        agent.tick()
        agent.flush()
        agent.upload()  # the first node and pod rows reach the sink
        sink.down = True
        for _ in range(12):
            for _ in range(2):
                clock.advance(1)
                agent.tick()
            agent.flush()
            agent.upload()
        assert metric(agent, "rightsizer_agent_dropped_segments_total") >= 4
        sink.down = False
        clock.advance(3600)
        agent.upload()
    got = Dataset(str(tmp_path / "sink"))
    nodes = got.read("nodes").to_pylist()
    assert len(nodes) == 2  # the first row, and one re-emission for the whole outage (not one per drop)
    pods = got.read("pods").to_pylist()
    assert len(pods) == 2 * len(PODS)
    assert {r["pod"] for r in pods if r["ts"] == nodes[1]["ts"]} == set(PODS)


def test_the_memory_limit_drops_samples_but_keeps_the_node_and_pod_rows(make_agent, clock, tmp_path, monkeypatch):
    with kube_world(tmp_path) as api:
        agent = start_in_world(make_agent, api, max_buffered_rows=8)
        disk = FullDisk(monkeypatch, agent.spool.root)
        disk.full = True
        for _ in range(4):
            for _ in range(2):
                clock.advance(1)
                agent.tick()
            assert agent.flush() is False
        assert dropped(agent) > 0
        disk.full = False
        clock.advance(1)
        agent.tick()
        assert agent.flush() is True
        agent.upload()
    got = Dataset(str(tmp_path / "sink"))
    assert {r["node"] for r in got.read("nodes").to_pylist()} == {NODE}
    assert set(PODS) <= {r["pod"] for r in got.read("pods").to_pylist()}
    assert sampled(agent) == sum(delivered(tmp_path / "sink").values()) + dropped(agent)


def test_a_write_that_fails_half_way_leaves_no_duplicate(make_agent, clock, tmp_path, monkeypatch):
    with kube_world(tmp_path) as api:
        agent = start_in_world(make_agent, api)
        disk = FullDisk(monkeypatch, agent.spool.root, fail_tables=("container",))
        for _ in range(3):
            clock.advance(1)
            agent.tick()
        disk.full = True  # the gpu file of this flush is written, the container file is refused
        assert agent.flush() is False
        assert disk.refused == 1
        disk.full = False
        assert agent.flush() is True
        agent.upload()
    gpu = Dataset(str(tmp_path / "sink")).read("gpu")
    keys = set(zip(gpu.column("ts").to_pylist(), gpu.column("gpu_uuid").to_pylist(), strict=True))
    assert gpu.num_rows == len(keys) == 3
    assert sampled(agent) == sum(delivered(tmp_path / "sink").values())


@pytest.mark.parametrize("kubernetes", [True, False])
def test_the_first_tick_of_a_utc_day_re_emits_the_node_and_pod_rows(make_agent, clock, tmp_path, kubernetes):
    clock.t = datetime(2026, 12, 4, 23, 59, 58, tzinfo=UTC).timestamp()
    if kubernetes:
        with kube_world(tmp_path) as api:
            agent = start_in_world(make_agent, api)
            for _ in range(4):
                clock.advance(1)
                agent.tick()
    else:
        agent = make_agent("h100")
        agent.start(background=False)
        for _ in range(4):
            clock.advance(1)
            agent.tick()
    agent.flush()
    agent.upload()
    got = Dataset(str(tmp_path / "sink"))
    days = {r["ts"].date().isoformat() for r in got.read("nodes").to_pylist()}
    assert days == {"2026-12-04", "2026-12-05"}
    if kubernetes:
        per_day = {}
        for r in got.read("pods").to_pylist():
            per_day.setdefault(r["ts"].date().isoformat(), set()).add(r["pod"])
        assert per_day == {"2026-12-04": set(PODS), "2026-12-05": set(PODS)}


def test_a_restart_re_emits_the_node_and_pod_rows(make_agent, clock, tmp_path):
    with kube_world(tmp_path) as api:
        first = start_in_world(make_agent, api)
        clock.advance(1)
        first.tick()
        first.flush()
        first.upload()
        second = start_in_world(make_agent, api)  # same spool and sink: the pod came back
        clock.advance(1)
        second.tick()
        second.flush()
        second.upload()
    got = Dataset(str(tmp_path / "sink"))
    assert got.read("nodes").num_rows == 2
    assert got.read("pods").num_rows == 2 * len(PODS)

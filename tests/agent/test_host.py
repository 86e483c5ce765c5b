"""Container CPU and memory from fixture cgroup trees (v1 and v2) and the psutil fallback."""

import os

import pytest

from agent.host.cgroupfs import CgroupReader
from agent.host.sampler import ContainerSampler
from tests.agent.fakes import make_cgroup_v1, make_cgroup_v2, make_proc, v2_container_path

UID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
CID = "1f" * 32
CID2 = "2e" * 32
OWNERS = {(UID, CID): ("ml", "p", "main"), (UID, CID2): ("ml", "p", "side")}


def resolve(uid, cid):
    return OWNERS.get((uid, cid))


def test_v2_cores_from_usage_delta_and_working_set(tmp_path):
    root = str(tmp_path / "cg")
    path = v2_container_path(UID, CID)
    make_cgroup_v2(root, {path: (10_000_000, 900, 100), v2_container_path(UID, CID2, runtime="crio"): (0, 50, 0)})
    sampler = ContainerSampler(root, str(tmp_path / "proc"), resolve)
    first = {r["container"]: r for r in sampler.sample(100.0)}
    assert first["main"]["cpu_cores"] is None and first["main"]["mem_bytes"] == 800  # no delta yet
    make_cgroup_v2(root, {path: (13_000_000, 1000, 100)})  # +3 CPU-seconds over 2 s
    second = {r["container"]: r for r in sampler.sample(102.0)}
    assert second["main"]["cpu_cores"] == pytest.approx(1.5)
    assert second["main"]["mem_bytes"] == 900
    assert sampler.reader.version == 2


def test_v1_cpuacct_and_memory_hierarchies(tmp_path):
    root = str(tmp_path / "cg")
    path = f"/kubepods/burstable/pod{UID}/{CID}"
    make_cgroup_v1(root, {path: (5 * 10**9, 4000, 1000)})
    sampler = ContainerSampler(root, str(tmp_path / "proc"), resolve)
    sampler.sample(0.0)
    make_cgroup_v1(root, {path: (6 * 10**9, 5000, 1000)})
    (row,) = sampler.sample(4.0)
    assert sampler.reader.version == 1
    assert row["cpu_cores"] == pytest.approx(0.25) and row["mem_bytes"] == 4000


def test_unknown_containers_are_not_reported(tmp_path):
    root = str(tmp_path / "cg")
    make_cgroup_v2(root, {v2_container_path("00000000-0000-4000-8000-000000000000", "ab" * 32): (1, 1, 0)})
    assert ContainerSampler(root, str(tmp_path / "proc"), resolve).sample(1.0) == []


def test_psutil_fallback_when_cgroups_are_unreadable(tmp_path):
    # no cgroup tree at all; this test process poses as the container's only process
    proc = str(tmp_path / "proc")
    make_proc(proc, {os.getpid(): v2_container_path(UID, CID)})
    sampler = ContainerSampler(str(tmp_path / "missing"), proc, resolve)
    sampler.sample(10.0)
    sum(i * i for i in range(200_000))  # burn a little CPU so the delta is positive
    (row,) = sampler.sample(11.0)
    assert row["container"] == "main"
    assert row["mem_bytes"] > 10 * 2**20  # this interpreter's RSS
    assert row["cpu_cores"] is not None and row["cpu_cores"] >= 0


def test_reader_finds_only_kubepods_subtrees(tmp_path):
    root = str(tmp_path / "cg")
    make_cgroup_v2(root, {v2_container_path(UID, CID): (1, 1, 0)})
    os.makedirs(os.path.join(root, "system.slice", f"pod{UID}", CID))
    r = CgroupReader(root)
    r.rescan()
    assert list(r.containers) == [(UID, CID)]

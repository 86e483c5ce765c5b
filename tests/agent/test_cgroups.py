"""Process -> pod through /proc/<pid>/cgroup, every id form the runtimes write."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from agent.attribution.cgroups import CgroupRef, parse_cgroup_path, parse_proc_cgroup, read_pid_cgroup
from tests.agent.fakes import make_proc

UID = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
CID = "ab" * 32


def test_v2_systemd_containerd():
    path = f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope"
    assert parse_cgroup_path(path) == CgroupRef(UID, CID)


def test_guaranteed_pod_crio_and_docker():
    u = UID.replace("-", "_")
    assert parse_cgroup_path(f"/kubepods.slice/kubepods-pod{u}.slice/crio-{CID}.scope") == CgroupRef(UID, CID)
    assert parse_cgroup_path(f"/kubepods.slice/kubepods-pod{u}.slice/docker-{CID}.scope") == CgroupRef(UID, CID)


def test_cgroupfs_driver_and_private_namespace_prefix():
    assert parse_cgroup_path(f"/kubepods/besteffort/pod{UID}/{CID}") == CgroupRef(UID, CID)
    assert parse_cgroup_path(f"/../../kubepods/burstable/pod{UID}/{CID}") == CgroupRef(UID, CID)


def test_pod_level_and_host_paths():
    assert parse_cgroup_path(f"/kubepods/burstable/pod{UID}") == CgroupRef(UID, None)
    assert parse_cgroup_path("/system.slice/containerd.service") is None
    assert parse_cgroup_path("/user.slice/user-1000.slice/session-3.scope") is None


def test_v1_file_with_several_hierarchies_prefers_the_container_line():
    text = (f"12:pids:/kubepods/burstable/pod{UID}\n"
            f"11:memory:/kubepods/burstable/pod{UID}/{CID}\n1:name=systemd:/\n")
    assert parse_proc_cgroup(text) == CgroupRef(UID, CID)


def test_read_pid_cgroup_from_a_proc_tree(tmp_path):
    make_proc(str(tmp_path), {42: f"/kubepods/burstable/pod{UID}/{CID}"}, v1=True)
    assert read_pid_cgroup(str(tmp_path), 42) == CgroupRef(UID, CID)
    assert read_pid_cgroup(str(tmp_path), 43) is None  # exited


FORMS = [
    lambda u, c: f"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u.replace('-', '_')}.slice/cri-containerd-{c}.scope",
    lambda u, c: f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u.replace('-', '_')}.slice/crio-{c}.scope",
    lambda u, c: f"0::/kubepods.slice/kubepods-pod{u.replace('-', '_')}.slice/docker-{c}.scope",
    lambda u, c: f"4:memory:/kubepods/burstable/pod{u}/{c}\n3:cpu,cpuacct:/kubepods/burstable/pod{u}/{c}",
    lambda u, c: f"0::/../../kubepods/pod{u}/{c}",
]


@given(st.uuids(version=4), st.binary(min_size=32, max_size=32), st.sampled_from(FORMS))
def test_every_form_round_trips(pod_uid: uuid.UUID, raw: bytes, form):
    cid = raw.hex()
    assert parse_proc_cgroup(form(str(pod_uid), cid)) == CgroupRef(str(pod_uid), cid)

"""Pod UID and container ID from a cgroup path, for every layout the kubelet produces.

systemd driver (cgroup v1 or v2):
  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
  ... crio-<id>.scope (CRI-O), docker-<id>.scope (dockershim)
cgroupfs driver:  /kubepods/burstable/pod<uid-with-dashes>/<id>
A private cgroup namespace may prefix the path with /../..; a regex search finds the parts anyway.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_CTR = re.compile(r"(?:cri-containerd-|crio-|docker-|containerd-)?([0-9a-f]{64})(?:\.scope)?$")


@dataclass(frozen=True)
class CgroupRef:
    pod_uid: str
    container_id: str | None


def parse_cgroup_path(path: str) -> CgroupRef | None:
    """``CgroupRef`` for a kubepods cgroup path, None for anything else (host processes, system slices)."""
    m = _POD.search(path)
    if not m:
        return None
    uid = m.group(1).replace("_", "-")
    tail = path[m.end():].rstrip("/")
    leaf = tail.rsplit("/", 1)[-1] if tail else ""
    c = _CTR.search(leaf)
    return CgroupRef(pod_uid=uid, container_id=c.group(1) if c else None)


def parse_proc_cgroup(text: str) -> CgroupRef | None:
    """Parse the content of /proc/<pid>/cgroup (v1: one line per hierarchy; v2: ``0::/path``)."""
    best: CgroupRef | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        ref = parse_cgroup_path(parts[2])
        if ref is not None:
            if ref.container_id:
                return ref
            best = best or ref
    return best


def read_pid_cgroup(proc_root: str, pid: int) -> CgroupRef | None:
    """The pod of a host PID, or None when it is not in a pod or is gone (races with exit are normal)."""
    try:
        with open(os.path.join(proc_root, str(pid), "cgroup")) as fh:
            return parse_proc_cgroup(fh.read())
    except OSError:
        return None

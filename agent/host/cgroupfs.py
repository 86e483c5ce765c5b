"""Read container CPU usage and memory working set from the host's cgroup tree (v1 or v2).

- v2: ``cpu.stat`` usage_usec; working set = ``memory.current`` - ``inactive_file`` (memory.stat), as the
  kubelet computes it.
- v1: ``cpuacct.usage`` (ns) under the cpuacct hierarchy; ``memory.usage_in_bytes`` - ``total_inactive_file``.
Container folders are found by walking only the ``kubepods`` subtrees; the list is refreshed every
``rescan_s`` seconds or when the caller says the pod set changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agent.attribution.cgroups import parse_cgroup_path


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float | None  # cumulative CPU time
    mem_bytes: int | None  # working set


@dataclass(frozen=True)
class _Container:
    pod_uid: str
    container_id: str
    cpu_dir: str | None
    mem_dir: str | None


def _read_int(path: str) -> int:
    with open(path) as fh:
        return int(fh.read().split()[0])


def _read_stat(path: str, key: str) -> int | None:
    with open(path) as fh:
        for line in fh:
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    return None


def _walk_containers(top: str, max_depth: int = 6) -> dict[tuple[str, str], str]:
    """{(pod_uid, container_id): folder} for every container folder below the kubepods subtrees of ``top``."""
    found: dict[tuple[str, str], str] = {}

    def visit(path: str, rel: str, depth: int) -> None:
        try:
            entries = [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for e in entries:
            r = f"{rel}/{e.name}"
            if depth == 0 and "kubepods" not in e.name and e.name != "kubelet.slice":
                continue
            ref = parse_cgroup_path(r)
            if ref is not None and ref.container_id:
                found[(ref.pod_uid, ref.container_id)] = e.path
                continue
            if depth < max_depth:
                visit(e.path, r, depth + 1)

    visit(top, "", 0)
    return found


class CgroupReader:
    def __init__(self, root: str = "/sys/fs/cgroup"):
        self.root = root
        self.version = 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1
        self.containers: dict[tuple[str, str], _Container] = {}

    def rescan(self) -> None:
        if self.version == 2:
            dirs = _walk_containers(self.root)
            self.containers = {k: _Container(k[0], k[1], d, d) for k, d in dirs.items()}
            return
        cpu_top = next((os.path.join(self.root, n) for n in ("cpu,cpuacct", "cpuacct,cpu", "cpuacct", "cpu")
                        if os.path.isdir(os.path.join(self.root, n))), None)
        cpu = _walk_containers(cpu_top) if cpu_top else {}
        mem_top = os.path.join(self.root, "memory")
        mem = _walk_containers(mem_top) if os.path.isdir(mem_top) else {}
        self.containers = {k: _Container(k[0], k[1], cpu.get(k), mem.get(k)) for k in set(cpu) | set(mem)}

    def read(self, c: _Container) -> Usage:
        """Raises OSError when the files cannot be read (gone, or not mounted/permitted)."""
        if self.version == 2:
            usec = _read_stat(os.path.join(c.cpu_dir, "cpu.stat"), "usage_usec")
            current = _read_int(os.path.join(c.mem_dir, "memory.current"))
            inactive = _read_stat(os.path.join(c.mem_dir, "memory.stat"), "inactive_file") or 0
            return Usage(None if usec is None else usec / 1e6, max(0, current - inactive))
        cpu = mem = None
        if c.cpu_dir:
            cpu = _read_int(os.path.join(c.cpu_dir, "cpuacct.usage")) / 1e9
        if c.mem_dir:
            usage = _read_int(os.path.join(c.mem_dir, "memory.usage_in_bytes"))
            inactive = _read_stat(os.path.join(c.mem_dir, "memory.stat"), "total_inactive_file") or 0
            mem = max(0, usage - inactive)
        if cpu is None and mem is None:
            raise OSError(f"no readable cgroup files for container {c.container_id}")
        return Usage(cpu, mem)

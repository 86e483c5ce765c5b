"""Container rows (CPU cores, memory working set) for the ``container`` table.

cgroup files first (exact, cheap); where a container's cgroup files cannot be read (cgroup tree not mounted,
permissions, an unknown layout), its processes are found through /proc/<pid>/cgroup and summed with psutil
(CPU time of live processes, RSS): less exact, but better than nothing, and said once in the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from agent.attribution.cgroups import read_pid_cgroup
from agent.host.cgroupfs import CgroupReader, Usage

log = logging.getLogger("rightsizer.agent.host")

Key = tuple[str, str]  # (pod_uid, container_id)
Owner = tuple[str, str, str | None]


def scan_proc(proc_root: str) -> dict[Key, list[int]]:
    """{(pod_uid, container_id): [pids]} for every process in a pod container."""
    out: dict[Key, list[int]] = {}
    try:
        names = os.listdir(proc_root)
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        ref = read_pid_cgroup(proc_root, int(name))
        if ref is not None and ref.container_id:
            out.setdefault((ref.pod_uid, ref.container_id), []).append(int(name))
    return out


def psutil_usage(pids: list[int]) -> Usage:
    import psutil

    cpu, mem, seen = 0.0, 0, False
    for pid in pids:
        try:
            p = psutil.Process(pid)
            t = p.cpu_times()
            cpu += t.user + t.system
            mem += p.memory_info().rss
            seen = True
        except (psutil.Error, OSError):
            continue
    return Usage(cpu, mem) if seen else Usage(None, None)


class ContainerSampler:
    def __init__(self, cgroup_root: str, proc_root: str, resolve: Callable[[str, str], Owner | None],
                 rescan_s: float = 30.0):
        self.reader = CgroupReader(cgroup_root)
        self.proc_root = proc_root
        self.resolve = resolve
        self.rescan_s = rescan_s
        self._next_scan = float("-inf")
        self._generation = None
        self._fallback: dict[Key, list[int]] = {}
        self._failed: set[Key] = set()
        self._prev: dict[Key, tuple[float, float]] = {}
        self._warned = False

    def _rescan(self) -> None:
        self.reader.rescan()
        self._fallback = {}
        if not self.reader.containers or self._failed:
            pids = scan_proc(self.proc_root)
            wanted = set(pids) - set(self.reader.containers) | self._failed
            self._fallback = {k: v for k, v in pids.items() if k in wanted}
            if self._fallback and not self._warned:
                self._warned = True
                log.warning("cgroup files under %s are not readable for %d container(s); using per-process "
                            "psutil readings for them", self.reader.root, len(self._fallback))
        self._failed = set()

    def sample(self, now: float, generation: int | None = None) -> list[dict]:
        if now >= self._next_scan or generation != self._generation:
            self._rescan()
            self._next_scan, self._generation = now + self.rescan_s, generation
        readings: dict[Key, Usage] = {}
        for key, c in self.reader.containers.items():
            try:
                readings[key] = self.reader.read(c)
            except (OSError, ValueError):
                self._failed.add(key)
        for key, pids in self._fallback.items():
            if key not in readings:
                readings[key] = psutil_usage(pids)
        rows, prev = [], {}
        for key, usage in readings.items():
            owner = self.resolve(*key)
            if owner is None or owner[2] is None:
                continue
            cores = None
            if usage.cpu_seconds is not None:
                last = self._prev.get(key)
                if last is not None and now > last[0] and usage.cpu_seconds >= last[1]:
                    cores = (usage.cpu_seconds - last[1]) / (now - last[0])
                prev[key] = (now, usage.cpu_seconds)
            if cores is None and usage.mem_bytes is None:
                continue
            rows.append({"namespace": owner[0], "pod": owner[1], "container": owner[2], "cpu_cores": cores,
                         "mem_bytes": usage.mem_bytes})
        self._prev = prev
        return rows

"""One device sample -> ``gpu`` table rows, one per pod using the device.

- No pod (nothing allocated, no pod process): one row with null namespace/pod/container and device totals.
- One pod: one row with the device's utilization and memory (context memory included).
- Several pods (time-slicing, MPS): one row per pod with its processes' summed SM share as ``gpu_util`` and
  their memory; the device's GPM activity is split in proportion to that share (GPM cannot see pods), so
  per-pod rows add up to the device. Pods allocated the device but running nothing get zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.attribution.podresources import ContainerRef
from agent.gpu.backend import DeviceSample

PodKey = tuple[str, str]  # (namespace, pod)
Owner = tuple[str, str, str | None]  # (namespace, pod, container)

_GPM = ("sm_active", "sm_occupancy", "tensor_active", "dram_active")


def gpu_rows(s: DeviceSample, allocated: Sequence[ContainerRef], owners: Mapping[int, Owner | None], *,
             processes_known: bool = True) -> list[dict]:
    base = {"gpu_uuid": s.uuid, "gpu_model": s.model, "mig_profile": s.mig_profile, "mem_total_bytes": s.mem_total,
            "power_w": s.power_w}
    containers: dict[PodKey, str | None] = {}
    for ref in allocated:
        containers.setdefault((ref.namespace, ref.pod), ref.container)
    procs: dict[PodKey, list] = {}
    for p in s.processes:
        owner = owners.get(p.pid)
        if owner is None:
            continue
        key = (owner[0], owner[1])
        procs.setdefault(key, []).append(p)
        if containers.get(key) is None:
            containers[key] = owner[2]
    gpm = {k: getattr(s, k) for k in _GPM}
    if len(containers) <= 1:
        (ns, pod), container = next(iter(containers.items()), ((None, None), None))
        return [{**base, **gpm, "namespace": ns, "pod": pod, "container": container, "gpu_util": s.gpu_util,
                 "mem_used_bytes": s.mem_used}]
    if not processes_known:
        share = s.mem_used // len(containers)
        return [{**base, **dict.fromkeys(_GPM), "namespace": ns, "pod": pod, "container": c, "gpu_util": None,
                 "mem_used_bytes": share} for (ns, pod), c in containers.items()]
    utils: dict[PodKey, float | None] = {}
    for key in containers:
        ps = procs.get(key, [])
        utils[key] = None if any(p.sm_util is None for p in ps) else min(1.0, sum(p.sm_util for p in ps))
    known = [u for u in utils.values() if u is not None]
    total = sum(known)
    rows = []
    for key, container in containers.items():
        u = utils[key]
        share = None if u is None or len(known) != len(utils) else (u / total if total > 0 else 0.0)
        split = {k: None if v is None or share is None else v * share for k, v in gpm.items()}
        rows.append({**base, **split, "namespace": key[0], "pod": key[1], "container": container, "gpu_util": u,
                     "mem_used_bytes": sum(p.mem_bytes or 0 for p in procs.get(key, []))})
    return rows

"""One partition's charges (the per-partition arithmetic of SPEC.md), computed apart from the sums they go
into: ``AllocationScan.prepare`` runs these on the reader's threads, and ``_Accumulator.apply`` adds the
result on the merging thread in the read's fixed order, so the totals do not depend on the thread count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.allocation.columns import Columns, cap_factor, group_codes
from recommender.allocation.pricing import GIB, NodeRates, Pricer
from recommender.allocation.share_kernels import device_shares

# vector layouts of the accumulators
W_GPU_COST, W_CPU_COST, W_RAM_COST, W_GPU_H, W_GPU_USED_H, W_CORE_H, W_GIB_H = range(7)
W_FIELDS = 7
(N_HOURS, N_COST, N_GPU_COST, N_CPU_COST, N_RAM_COST, N_GPU_CHARGED, N_CPU_CHARGED, N_RAM_CHARGED,
 N_GPU_HOURS, N_GPU_ALLOC_HOURS, N_GPU_USED_HOURS, N_GPU_BUSY_HOURS) = range(12)
N_FIELDS = 12


@dataclass
class PartitionCharges:
    """What one (date, node) partition of one sample table adds to the allocation's sums, in order."""

    date: str
    node: str
    runs: object  # the partition's covered runs (optimizer/uptime.py), None when it has no rows
    node_adds: list = field(default_factory=list)      # (field, amount) on the (node, date) vector
    workload_adds: list = field(default_factory=list)  # (workload key, ((field, amount), ...)) per pod
    gpu_memory: list = field(default_factory=list)     # (workload key, largest GPU or slice memory, bytes)


def charge_containers(out: PartitionCharges, rates: NodeRates, cont: Columns, pods) -> None:
    if cont.empty:
        return
    (ns, ns_v), (pod, pod_v), (name, name_v) = (cont.codes(c) for c in ("namespace", "pod", "container"))
    row, first = group_codes(ns, pod, name)
    keys = [(ns_v[ns[i]], pod_v[pod[i]], name_v[name[i]]) for i in first]
    cpu_req = np.array([pods.request(*k, "cpu_request") for k in keys], dtype=float)[row]
    mem_req = np.array([pods.request(*k, "mem_request") for k in keys], dtype=float)[row]
    cores = np.nan_to_num(np.fmax(cpu_req, cont.num("cpu_cores")))
    mem_gib = np.nan_to_num(np.fmax(mem_req, cont.num("mem_bytes"))) / GIB
    # A node cannot sell more than it has: when max(request, usage) over-commits it, scale down.
    cores *= cap_factor(cont.ts_codes, cores, rates.vcpu)
    mem_gib *= cap_factor(cont.ts_codes, mem_gib, rates.memory_gib)
    hours = cont.num("interval_s") / 3600.0
    pod_code, pod_first = group_codes(ns, pod)
    sums = [np.bincount(pod_code, v, minlength=len(pod_first)) for v in
            (cores * rates.per_core * hours, mem_gib * rates.per_gib * hours, cores * hours, mem_gib * hours)]
    for j, i in enumerate(pod_first):
        out.workload_adds.append((pods.workload_of(ns_v[ns[i]], pod_v[pod[i]]),
                                  ((W_CPU_COST, sums[0][j]), (W_RAM_COST, sums[1][j]), (W_CORE_H, sums[2][j]),
                                   (W_GIB_H, sums[3][j]))))
    out.node_adds += [(N_CPU_CHARGED, float(sums[0].sum())), (N_RAM_CHARGED, float(sums[1].sum()))]


def charge_gpus(out: PartitionCharges, rates: NodeRates, gpu: Columns, pods, pricer: Pricer,
                idle_activity: float) -> None:
    if gpu.empty:
        return
    activity = gpu.num("sm_active")
    activity = np.nan_to_num(np.where(np.isnan(activity), gpu.num("gpu_util"), activity))
    mig, mig_v = gpu.codes("mig_profile")
    per_profile = np.array([pricer.mig_fraction(p, rates.gpu_model) for p in mig_v] + [1.0])
    fraction = per_profile[mig]  # code -1 (no MIG profile) picks the trailing 1.0: a whole GPU
    (ns, ns_v), (pod, pod_v) = gpu.codes("namespace"), gpu.codes("pod")
    attributed = pod >= 0
    hours = gpu.num("interval_s") / 3600.0
    # Per (instant, device): pods sharing one device (time-slicing, MPS) split it by max(equal slot,
    # measured share), the OpenCost max(request, usage) rule applied to a device: never $0 for a shared
    # GPU; an instant charging more GPUs than the node has is scaled down. A pod's own utilization is
    # its share of the whole device (per-process on a shared GPU). Busy GPU-hours: one count per
    # (instant, device), busy if any row on it was active. (share_kernels.py: the arithmetic, row by row.)
    gpus, used, busy = device_shares(gpu.ts_codes, gpu.codes("gpu_uuid")[0], attributed, activity, fraction, hours,
                                     float(rates.gpu_count or 0.0), float(idle_activity))
    out.node_adds.append((N_GPU_BUSY_HOURS, float(busy.sum())))
    if not attributed.any():
        return
    idx = np.flatnonzero(attributed)
    pod_code, pod_first = group_codes(ns[idx], pod[idx])
    m = len(pod_first)
    cost = np.bincount(pod_code, (gpus * rates.per_gpu * hours)[idx], minlength=m)
    alloc_h = np.bincount(pod_code, (gpus * hours)[idx], minlength=m)
    used_h = np.bincount(pod_code, (used * hours)[idx], minlength=m)
    mem_cap = np.zeros(m)
    np.maximum.at(mem_cap, pod_code, gpu.num("mem_total_bytes")[idx])
    for j, i in enumerate(pod_first):
        r = idx[i]
        key = pods.workload_of(ns_v[ns[r]] if ns[r] >= 0 else "", pod_v[pod[r]])
        out.gpu_memory.append((key, float(mem_cap[j])))
        out.workload_adds.append((key, ((W_GPU_COST, cost[j]), (W_GPU_H, alloc_h[j]), (W_GPU_USED_H, used_h[j]))))
    out.node_adds += [(N_GPU_CHARGED, float(cost.sum())), (N_GPU_ALLOC_HOURS, float(alloc_h.sum())),
                      (N_GPU_USED_HOURS, float(used_h.sum()))]

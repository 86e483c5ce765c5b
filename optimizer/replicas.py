"""How much of a GPU workload's replicas was in use at the same time (docs/recommendations.md, Replica count).

The profiles pool every pod-instant of a workload, so they say how busy a typical replica is, not how many
replicas the work needed together. ``BusyReplicas`` counts that from the gpu table: time is cut into buckets
(``DecisionConfig.replicas_bucket_s``, 5 minutes, aligned on the day so a bucket never spans two date
partitions); in each bucket, per workload:
- *present*: its pods with a gpu row there;
- *busy*: those whose GPUs reached the profile's idle threshold in any sample there (SM activity where
  measured, else utilization): one busy sample makes a replica busy for the whole bucket;
- *work*: the sum over its pods of their mean load there, i.e. how many replicas' worth of GPU work ran; a
  sample's load is the higher of its compute activity and its DRAM bandwidth activity (``dram_active``,
  where measured), so a memory-bandwidth-bound server counts as loaded as its memory bus is. Behind a load
  balancer every replica is busy a little; the work says how few replicas could have carried it.

It is a tap of the one read (``optimizer/scan.py``): ``recommend`` hands it each gpu partition the profiles
read anyway; ``busy_replicas`` reads the gpu table itself where no tap ran (tests, the demo, backtests). Only
workloads of the ``set-replicas`` kinds with at least two pods in the pods table are counted, and only the
partitions of the nodes their pods were scheduled on are looked at (``replicas_kinds=()`` turns it off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.config import DEFAULT_PROFILE_CONFIG

DAY_MS = 86_400_000


@dataclass(frozen=True)
class ReplicaUse:
    """One workload's replicas per bucket, oldest first (buckets without any of its pods left out)."""

    bucket_s: float
    hour: np.ndarray  # UTC hour of day of each bucket
    present: np.ndarray  # pods with gpu rows in the bucket
    busy: np.ndarray  # of those, pods whose GPUs were active in it
    work: np.ndarray  # sum over those pods of their mean activity in it (replicas' worth of GPU work)

    @property
    def buckets(self) -> int:
        return len(self.present)


class BusyReplicas:
    """Tap: ``columns`` read besides the profiles' own, ``prepare``/``merge`` (or ``add``) per partition,
    ``finish`` for the result."""

    columns = {"gpu": ["ts", "namespace", "pod", "gpu_util", "sm_active", "dram_active"]}

    def __init__(self, owners: dict[tuple[str, str], tuple[str, str, str]], bucket_s: float = 300.0,
                 idle_threshold: float = DEFAULT_PROFILE_CONFIG.idle_threshold,
                 kinds: tuple[str, ...] = ("Deployment", "StatefulSet"), pod_nodes: dict | None = None):
        per_workload: dict[tuple, set] = {}
        for pod, wk in owners.items():
            if wk[1] in kinds:
                per_workload.setdefault(wk, set()).add(pod)
        self.keys = sorted(wk for wk, pods in per_workload.items() if len(pods) >= 2)
        index = {wk: i for i, wk in enumerate(self.keys)}
        self.pod_code = {pod: index[wk] for pod, wk in owners.items() if wk in index}
        # nodes the counted pods were scheduled on (the pods table's): other partitions are skipped unread
        self.nodes = None if pod_nodes is None else {pod_nodes.get(p) for p in self.pod_code}
        self.bucket_ms = int(bucket_s * 1000)
        if DAY_MS % self.bucket_ms:
            raise ValueError(f"bucket_s ({bucket_s}) must divide a day")
        self.bucket_s = bucket_s
        self.idle = idle_threshold
        self.per_day = DAY_MS // self.bucket_ms
        self.days: dict[int, tuple[np.ndarray, ...]] = {}  # day -> (present, busy, work) [workloads, buckets]

    def add(self, table: str, date: str, node: str, data: pa.Table) -> None:
        self.merge(self.prepare(table, date, node, data))

    def prepare(self, table: str, date: str, node: str, data: pa.Table) -> tuple | None:
        """Per (workload, bucket) of the partition: its present, busy and mean-activity terms (safe on the
        reader's threads); ``merge`` adds them up in the read's order."""
        if table != "gpu" or data is None or data.num_rows == 0 or not self.keys:
            return None
        if self.nodes is not None and node not in self.nodes:
            return None
        # (namespace, pod) of each row as a small code: both columns dictionary-encoded, their pairs looked
        # up once (a partition holds a node's few pods), rows of pods not counted dropped
        ns = pc.dictionary_encode(data.column("namespace")).combine_chunks()
        pod = pc.dictionary_encode(data.column("pod")).combine_chunks()
        ns_names, pod_names = ns.dictionary.to_pylist(), pod.dictionary.to_pylist()
        lookup = np.array([self.pod_code.get((n, p), -1) for n in ns_names for p in pod_names] or [-1], np.int64)
        valid = np.asarray(pc.and_(pc.is_valid(ns), pc.is_valid(pod)))
        pair = (np.asarray(ns.indices.fill_null(0)).astype(np.int64) * len(pod_names)
                + np.asarray(pod.indices.fill_null(0)).astype(np.int64))
        keep = valid & (lookup[pair] >= 0)
        if not keep.any():
            return None
        compute = pc.fill_null(pc.coalesce(data.column("sm_active"), data.column("gpu_util")), 0.0)
        busy = np.asarray(compute, dtype=np.float64)[keep] >= self.idle
        # the share of the replica's capacity in use: compute, or memory bandwidth where that is the higher
        # (a memory-bound LLM decode has its DRAM busy at a low SM activity)
        activity = np.asarray(pc.max_element_wise(compute, pc.fill_null(data.column("dram_active"), 0.0)),
                              dtype=np.float64)[keep]
        bucket = data.column("ts").cast(pa.int64()).to_numpy()[keep] // self.bucket_ms
        pair = pair[keep]
        # per (pod, bucket), however many samples and GPUs it has there: present, busy, mean activity
        lo, span = int(bucket.min()), int(bucket.max() - bucket.min()) + 1
        key = pair * span + (bucket - lo)
        size = (int(pair.max()) + 1) * span
        samples = np.bincount(key, minlength=size)
        seen = np.flatnonzero(samples)
        active = np.bincount(key[busy], minlength=size)[seen] > 0
        mean = np.bincount(key, weights=activity, minlength=size)[seen] / samples[seen]
        codes = lookup[seen // span]
        day, slot = np.divmod(seen % span + lo, self.per_day)
        return codes, day, slot, active, mean

    def merge(self, prepared: tuple | None) -> None:
        if prepared is None:
            return
        codes, day, slot, active, mean = prepared
        n = len(self.keys)
        for d in np.unique(day):
            present_m, busy_m, work_m = self.days.setdefault(
                int(d), (np.zeros((n, self.per_day), np.int32), np.zeros((n, self.per_day), np.int32),
                         np.zeros((n, self.per_day), np.float64)))
            sel = day == d
            at = (codes[sel], slot[sel])
            np.add.at(present_m, at, 1)
            np.add.at(busy_m, at, active[sel].astype(np.int32))
            np.add.at(work_m, at, mean[sel])

    def finish(self) -> dict[tuple[str, str, str], ReplicaUse]:
        out = {}
        days = sorted(self.days)
        if not days:
            return out
        present, busy, work = (np.concatenate([self.days[d][k] for d in days], axis=1) for k in range(3))
        hours = np.tile((np.arange(self.per_day) * self.bucket_s // 3600).astype(np.int32), len(days))
        for i, wk in enumerate(self.keys):
            seen = present[i] > 0
            if seen.any():
                out[wk] = ReplicaUse(self.bucket_s, hours[seen], present[i][seen], busy[i][seen], work[i][seen])
        return out


def busy_replicas(dataset, owners, start=None, end=None, bucket_s: float = 300.0,
                  idle_threshold: float = DEFAULT_PROFILE_CONFIG.idle_threshold,
                  kinds: tuple[str, ...] = ("Deployment", "StatefulSet"), pod_nodes: dict | None = None) -> dict:
    """``BusyReplicas`` over the dataset's gpu table, read here (only the nodes in ``pod_nodes``' values)."""
    tap = BusyReplicas(owners, bucket_s, idle_threshold, kinds, pod_nodes)
    if not tap.keys or "gpu" not in dataset.tables():
        return {}
    nodes = sorted(n for n in tap.nodes if n) if tap.nodes is not None else None
    for part in dataset.iter_partitions("gpu", start, end, columns=BusyReplicas.columns["gpu"], nodes=nodes):
        tap.add("gpu", part.date, part.node, part.data)
    return tap.finish()


def tap_for(scan, decisions) -> BusyReplicas:
    """The tap for a run whose observed cluster is ``scan`` (an ``InventoryScan``), with the set-replicas
    settings of ``decisions`` (``DecisionConfig``)."""
    return BusyReplicas(scan.pod_workload, decisions.replicas_bucket_s, kinds=decisions.replicas_kinds,
                        pod_nodes={k: p.node for k, p in scan.pods.items()})

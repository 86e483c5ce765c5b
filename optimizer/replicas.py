"""How many replicas of a GPU workload were busy at the same time (docs/recommendations.md, Replica count).

The profiles pool every pod-instant of a workload, so they say how busy a typical replica is, not how many
were busy together. ``BusyReplicas`` counts that from the gpu table: time is cut into buckets
(``ReplicaConfig.bucket_s``, 5 minutes, aligned on the day so a bucket never spans two date partitions);
in each bucket a pod is *present* if it has a gpu row there and *busy* if any of its GPUs reached the
profile's idle threshold in any sample there (SM activity where measured, else utilization), which counts a
replica busy for the whole bucket on a single busy sample: the count errs towards more replicas needed.

It is a tap of the one read (``optimizer/scan.py``): ``recommend`` hands it each gpu partition the profiles
read anyway; ``busy_replicas`` reads the gpu table itself where no tap ran (tests, the demo, backtests). Only
workloads with at least two pods in the pods table are counted.
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

    @property
    def buckets(self) -> int:
        return len(self.present)


class BusyReplicas:
    """Tap: ``columns`` read besides the profiles' own, ``add`` per partition, ``finish`` for the result."""

    columns = {"gpu": ["ts", "namespace", "pod", "gpu_util", "sm_active"]}

    def __init__(self, owners: dict[tuple[str, str], tuple[str, str, str]], bucket_s: float = 300.0,
                 idle_threshold: float = DEFAULT_PROFILE_CONFIG.idle_threshold):
        per_workload: dict[tuple, set] = {}
        for pod, wk in owners.items():
            per_workload.setdefault(wk, set()).add(pod)
        self.keys = sorted(wk for wk, pods in per_workload.items() if len(pods) >= 2)
        index = {wk: i for i, wk in enumerate(self.keys)}
        self.pod_code = {pod: index[wk] for pod, wk in owners.items() if wk in index}
        self.bucket_ms = int(bucket_s * 1000)
        if DAY_MS % self.bucket_ms:
            raise ValueError(f"bucket_s ({bucket_s}) must divide a day")
        self.bucket_s = bucket_s
        self.idle = idle_threshold
        self.per_day = DAY_MS // self.bucket_ms
        self.days: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # day -> (present, busy) [workloads, buckets]

    def add(self, table: str, date: str, node: str, data: pa.Table) -> None:
        if table != "gpu" or data is None or data.num_rows == 0 or not self.keys:
            return
        t = data.filter(pc.is_valid(data.column("pod")))
        if t.num_rows == 0:
            return
        activity = pc.coalesce(t.column("sm_active"), t.column("gpu_util")) if "sm_active" in t.column_names \
            else t.column("gpu_util")
        ts = t.column("ts").cast(pa.int64())
        grouped = pa.table({"namespace": t.column("namespace"), "pod": t.column("pod"),
                            "bucket": pc.divide(ts, self.bucket_ms), "act": pc.fill_null(activity, 0.0)}) \
            .group_by(["namespace", "pod", "bucket"]).aggregate([("act", "max")])
        codes = np.array([self.pod_code.get(k, -1) for k in zip(grouped.column("namespace").to_pylist(),
                                                                 grouped.column("pod").to_pylist(), strict=True)],
                         dtype=np.int64)
        keep = codes >= 0
        if not keep.any():
            return
        bucket = grouped.column("bucket").to_numpy()[keep]
        busy = grouped.column("act_max").to_numpy(zero_copy_only=False)[keep] >= self.idle
        codes = codes[keep]
        day, slot = np.divmod(bucket, self.per_day)
        for d in np.unique(day):
            present_m, busy_m = self.days.setdefault(int(d), (np.zeros((len(self.keys), self.per_day), np.int32),
                                                             np.zeros((len(self.keys), self.per_day), np.int32)))
            sel = day == d
            np.add.at(present_m, (codes[sel], slot[sel]), 1)
            np.add.at(busy_m, (codes[sel], slot[sel]), busy[sel].astype(np.int32))

    def finish(self) -> dict[tuple[str, str, str], ReplicaUse]:
        out = {}
        days = sorted(self.days)
        if not days:
            return out
        present = np.concatenate([self.days[d][0] for d in days], axis=1)
        busy = np.concatenate([self.days[d][1] for d in days], axis=1)
        hours = np.tile((np.arange(self.per_day) * self.bucket_s // 3600).astype(np.int32), len(days))
        for i, wk in enumerate(self.keys):
            seen = present[i] > 0
            if seen.any():
                out[wk] = ReplicaUse(self.bucket_s, hours[seen], present[i][seen], busy[i][seen])
        return out


def busy_replicas(dataset, owners, start=None, end=None, bucket_s: float = 300.0,
                  idle_threshold: float = DEFAULT_PROFILE_CONFIG.idle_threshold) -> dict:
    """``BusyReplicas`` over the dataset's gpu table, read here (only the nodes its workloads' pods ran on)."""
    tap = BusyReplicas(owners, bucket_s, idle_threshold)
    if not tap.keys or "gpu" not in dataset.tables():
        return {}
    for part in dataset.iter_partitions("gpu", start, end, columns=BusyReplicas.columns["gpu"]):
        tap.add("gpu", part.date, part.node, part.data)
    return tap.finish()

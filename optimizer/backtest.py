"""Backtest: recommend from the data before a split, replay the data after it against the proposed shapes
(docs/recommendations.md, Backtest).

Per recommendation, over every sample interval a pod of the workload ran after the split:
- **OOM intervals**: the pod's GPU memory (summed over its GPUs) above the proposed shape's GPU memory
  (a MIG slice's usable memory, a share of the GPU, the new GPUs' memory × count), or a container's
  working set above its proposed memory request (a request cut goes with the limit the patch keeps);
- **compute-exceeded intervals**: the pod's GPU activity, in GPUs of its current model, above the
  proposed shape's compute (a slice's SM share, the share, GPUs × relative throughput) × the class's
  target utilization, or a container's CPU above its proposed CPU request. For a GPU taken away
  (``reclaim-idle-gpu``), every interval the GPU was active (at or above the profile idle threshold).
  For a replica count (``set-replicas``) the intervals are the 5-minute buckets of optimizer/replicas.py:
  compute is exceeded where a bucket needed more replicas (its work over the target; its busy replicas
  where memory-bound) than proposed, counting for an autoscaler's minimum only the buckets at that minimum.
Spot and scale-to-zero keep the shape: nothing to exceed. The bill: the node bill before the split
(the recommendations' ``monthly_cost``), the one observed after it (allocation.csv's total over that
window, per 730-hour month), and the after-window bill less the plan's monthly saving.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from optimizer.config import DEFAULT_PROFILE_CONFIG, OptimizerConfig
from optimizer.costing import HOURS_PER_MONTH
from store.errors import UserError
from store.reader import Dataset

CHECKED = ("use-mig-slice", "share-gpu", "change-instance-type", "rightsize-requests", "reclaim-idle-gpu",
           "set-replicas")


@dataclass
class Capacity:
    """What the proposed shape holds per pod; None: not limited by this recommendation."""

    gpu_mem: float | None = None  # bytes
    gpu_compute: float | None = None  # GPUs of the current model, at 100 %
    target: float = 1.0
    containers: dict = field(default_factory=dict)  # name -> (cpu cores, mem bytes) proposed requests
    gpu_removed: bool = False


@dataclass
class Replay:
    rec: dict
    intervals: int = 0
    oom: int = 0
    compute: int = 0
    peak_gpu_mem: float = 0.0
    capacity: Capacity | None = None

    def to_json_dict(self) -> dict:
        r = self.rec

        def share(n: int) -> float | None:
            return round(n / self.intervals, 4) if self.intervals else None

        cap = self.capacity or Capacity()
        return {"id": r["id"], "workload": r["workload"], "action": r["action"], "value_class": r.get("value_class"),
                "risk": r.get("risk"), "monthly_savings": r.get("monthly_savings"), "intervals": self.intervals,
                "oom_intervals": self.oom, "oom_share": share(self.oom),
                "compute_exceeded_intervals": self.compute, "compute_exceeded_share": share(self.compute),
                "gpu_memory_capacity_bytes": None if cap.gpu_mem is None else int(cap.gpu_mem),
                "gpu_memory_peak_after_bytes": int(self.peak_gpu_mem),
                "gpu_compute_capacity": None if cap.gpu_compute is None else round(cap.gpu_compute, 4),
                "flagged": self.oom > 0}


def capacity_of(rec: dict, cfg: OptimizerConfig, gpu_mem_total: float | None) -> Capacity | None:
    """The per-pod limits of a recommendation's proposed shape; None for actions that keep the shape."""
    from optimizer.catalog import canonical_gpu_model, relative_throughput
    from optimizer.catalog.mig import mig_profile

    action, cur, prop = rec["action"], rec.get("current") or {}, rec.get("proposed") or {}
    if action not in CHECKED or rec["workload"]["kind"] in ("Node", "Cluster"):
        return None  # node and cluster actions change no pod's shape
    policy = cfg.value_class.policies.get(rec.get("value_class") or "", None)
    cap = Capacity(target=policy.target_utilization if policy else 1.0)
    for name, want in (prop.get("containers") or {}).items():
        cap.containers[name] = (want.get("cpu_request"), want.get("mem_request"))
    model = canonical_gpu_model(cur.get("gpu_model") or prop.get("gpu_model") or "") or None
    if prop.get("mig_profile"):
        p = mig_profile(model or prop.get("gpu_model"), prop["mig_profile"])
        cap.gpu_mem, cap.gpu_compute = p.memory_bytes, p.sm_share
    elif prop.get("gpu_fraction") is not None and prop["gpu_fraction"] < 1:
        cap.gpu_mem, cap.gpu_compute = prop.get("gpu_memory_bytes"), prop["gpu_fraction"]
    elif prop.get("gpu_count") == 0:
        cap.gpu_removed = True
    elif action == "change-instance-type":
        n = prop.get("gpu_count") or 1
        new = canonical_gpu_model(prop.get("gpu_model") or "")
        rel = relative_throughput(model, new) if model and new and new != model else 1.0
        cap.gpu_mem, cap.gpu_compute = (prop.get("gpu_memory_bytes") or 0) * n, rel * n
    elif prop.get("gpu_count") and cur.get("gpu_count") and prop["gpu_count"] < cur["gpu_count"]:
        cap.gpu_compute = float(prop["gpu_count"])
        cap.gpu_mem = gpu_mem_total * prop["gpu_count"] if gpu_mem_total else None
    return cap


def _per_pod(ds: Dataset, split: datetime, end: datetime | None, pod_workload: dict):
    """{workload key: {(pod, ts): [gpu mem sum, activity sum, gpus, mem total]}} and container rows."""
    gpu = ds.read("gpu", split, end, columns=["ts", "namespace", "pod", "gpu_util", "sm_active", "mem_used_bytes",
                                                "mem_total_bytes"]).to_pydict()
    by_wk: dict = defaultdict(dict)
    for ts, ns, pod, util, sm, used, total in zip(gpu["ts"], gpu["namespace"], gpu["pod"], gpu["gpu_util"],
                                                   gpu["sm_active"], gpu["mem_used_bytes"], gpu["mem_total_bytes"],
                                                   strict=True):
        wk = pod_workload.get((ns, pod))
        if wk is None:
            continue
        slot = by_wk[wk].setdefault((pod, ts), [0.0, 0.0, 0, 0.0])
        slot[0] += used or 0
        slot[1] += (sm if sm is not None else util) or 0.0
        slot[2] += 1
        slot[3] = max(slot[3], total or 0)
    cont = ds.read("container", split, end, columns=["ts", "namespace", "pod", "container", "cpu_cores",
                                                     "mem_bytes"]).to_pydict()
    containers: dict = defaultdict(list)
    for ts, ns, pod, name, cpu, mem in zip(cont["ts"], cont["namespace"], cont["pod"], cont["container"],
                                           cont["cpu_cores"], cont["mem_bytes"], strict=True):
        wk = pod_workload.get((ns, pod))
        if wk is not None:
            containers[wk].append((pod, ts, name, cpu or 0.0, mem or 0))
    return by_wk, containers


def _kv_usage(ds: Dataset, split: datetime, end: datetime | None) -> dict:
    """{(namespace, pod): ([ts], [kv_cache_usage])} after the split, in time order ({} without a tokens table)."""
    from optimizer.llm.usage import read_tokens

    t = read_tokens(ds, split, end)
    if t is None:
        return {}
    d = t.select(["ts", "namespace", "pod", "kv_cache_usage"]).to_pydict()
    rows: dict = defaultdict(list)
    for ts, ns, pod, kv in zip(d["ts"], d["namespace"], d["pod"], d["kv_cache_usage"], strict=True):
        if kv is not None:
            rows[(ns, pod)].append((ts, kv))
    return {pod: tuple(zip(*sorted(v), strict=True)) for pod, v in rows.items()}


def _kv_memory(kv_aware: dict, usage: dict, pod: tuple[str, str], ts) -> float | None:
    """A KV-aware recommendation's pod memory at ``ts``: weights + runtime + the KV usage then × the pool (the
    NVML figure is the old pre-allocation, not what the pod needs on the new shape)."""
    import bisect

    series = usage.get(pod)
    if not series:
        return None
    times, values = series
    i = max(0, bisect.bisect_right(times, ts) - 1)  # the usage reported at or before the sample
    return kv_aware["weights_bytes"] + kv_aware["runtime_bytes"] + values[i] * kv_aware["kv_pool_bytes"]


def replay(ds: Dataset, doc: dict, cfg: OptimizerConfig, split: datetime, end: datetime | None = None) -> list[Replay]:
    from optimizer.inventory import build_inventory

    inv = build_inventory(ds, split, end, cfg.value_class, cfg.labels)
    gpus, containers = _per_pod(ds, split, end, inv.pod_workload)
    kv_usage = _kv_usage(ds, split, end) if any("kv_aware" in (r.get("details") or {})
                                                   for r in doc["recommendations"]) else {}
    idle = DEFAULT_PROFILE_CONFIG.idle_threshold
    out = []
    replicas_after = None
    for rec in doc["recommendations"]:
        w = rec["workload"]
        key = (w["namespace"], w["kind"], w["name"])
        if rec["action"] == "set-replicas":
            if replicas_after is None:
                from optimizer.replicas import busy_replicas

                replicas_after = busy_replicas(ds, inv.pod_workload, split, end, cfg.decisions.replicas_bucket_s,
                                               kinds=cfg.decisions.replicas_kinds)
            out.append(_replay_replicas(rec, replicas_after.get(key)))
            continue
        rows = gpus.get(key, {})
        totals = [v[3] for v in rows.values() if v[3]]
        cap = capacity_of(rec, cfg, max(totals) if totals else None)
        r = Replay(rec, capacity=cap)
        out.append(r)
        if cap is None:
            continue
        bad_oom, bad_compute, seen = set(), set(), set()
        kv_aware = (rec.get("details") or {}).get("kv_aware")
        for (pod, ts), (mem, act, n, _) in rows.items():
            seen.add((pod, ts))
            if kv_aware:
                mem = _kv_memory(kv_aware, kv_usage, (key[0], pod), ts) or mem
            r.peak_gpu_mem = max(r.peak_gpu_mem, mem)
            if cap.gpu_removed:
                if n and act / n >= idle:
                    bad_compute.add((pod, ts))
                continue
            if cap.gpu_mem is not None and mem > cap.gpu_mem:
                bad_oom.add((pod, ts))
            # activity summed over the pod's GPUs is its need in GPUs of the current model
            if cap.gpu_compute is not None and act > cap.gpu_compute * cap.target + 1e-9:
                bad_compute.add((pod, ts))
        for pod, ts, name, cpu, mem in containers.get(key, []):
            want = cap.containers.get(name)
            seen.add((pod, ts))
            if not want:
                continue
            if want[1] is not None and mem > want[1]:
                bad_oom.add((pod, ts))
            if want[0] is not None and cpu > want[0] + 1e-9:
                bad_compute.add((pod, ts))
        r.intervals, r.oom, r.compute = len(seen), len(bad_oom), len(bad_compute)
    return out


def _replay_replicas(rec: dict, use) -> Replay:
    """set-replicas against the buckets after the split (the decision's own need rule, docs above)."""
    import numpy as np

    d, prop, cur = rec.get("details") or {}, rec.get("proposed") or {}, rec.get("current") or {}
    target = float(d.get("target_utilization") or 1.0)
    new = int(prop["min_replicas"])
    r = Replay(rec, capacity=Capacity(gpu_compute=float(new), target=target))
    if use is None:
        return r
    need = np.ceil(use.work / target - 1e-4).astype(int)
    if d.get("memory_bound"):
        need = np.maximum(need, use.busy)
    fixed = (d.get("replicas_via") or {}).get("kind") == rec["workload"]["kind"]
    counted = np.ones(use.buckets, dtype=bool) if fixed else use.present <= int(cur.get("min_replicas") or 0)
    r.intervals, r.compute = use.buckets, int((counted & (need > new)).sum())
    return r


@dataclass
class BacktestResult:
    split: datetime
    window_before: dict
    window_after: dict
    replays: list[Replay]
    bill: dict

    def to_json_dict(self) -> dict:
        checked = [r for r in self.replays if r.capacity is not None]
        return {"split": self.split.isoformat().replace("+00:00", "Z"), "window_before": self.window_before,
                "window_after": self.window_after, "currency": "USD", "bill": self.bill,
                "summary": {"recommendations": len(self.replays), "checked": len(checked),
                            "oom_intervals": sum(r.oom for r in checked),
                            "flagged": [r.rec["id"] for r in checked if r.oom > 0],
                            "compute_exceeded_share": round(sum(r.compute for r in checked) /
                                                            max(1, sum(r.intervals for r in checked)), 4)},
                "recommendations": [r.to_json_dict() for r in self.replays]}


def backtest(ds: Dataset, catalog, cfg: OptimizerConfig, split: datetime, *, solver: bool = True,
             allocation_config=None) -> BacktestResult:
    from optimizer.demand import CONTAINER_PROFILE_TABLES
    from optimizer.profiles import compute_profiles_many
    from optimizer.recommend import build_recommendations
    from recommender.allocation import allocate

    span = ds.time_range("gpu") or ds.time_range("pods")
    if span is None:
        raise UserError(f"--data: {ds.uri} has no samples")
    if not span[0] < split < span[1]:
        raise UserError(f"--split: {split.isoformat()} is not inside the data ({span[0].isoformat()} .. "
                        f"{span[1].isoformat()})")
    both = compute_profiles_many(ds, entities=("workload", "container"), end=split, tables=CONTAINER_PROFILE_TABLES)
    result = build_recommendations(ds, both["workload"], catalog, cfg, container_profiles=both["container"],
                                   end=split, consolidate_cluster=solver)
    doc = result.to_json_dict()
    replays = replay(ds, doc, cfg, split)
    after = allocate(ds, catalog, allocation_config, start=split)
    hours = after.window_days * 24
    after_monthly = round(after.total_cost / hours * HOURS_PER_MONTH, 2) if hours else 0.0
    summary = doc["summary"]
    saving = summary.get("monthly_bill_savings", summary["monthly_savings"])
    bill = {"before_monthly": summary["monthly_cost"], "plan_monthly_savings": saving,
            "plan_before_monthly": round(summary["monthly_cost"] - saving, 2),
            "after_observed_monthly": after_monthly, "plan_after_monthly": round(after_monthly - saving, 2)}

    def iso(t):
        return t.isoformat().replace("+00:00", "Z") if t else None

    return BacktestResult(split, {"start": iso(span[0]), "end": iso(split)},
                          {"start": iso(split), "end": iso(span[1])}, replays, bill)


def markdown(doc: dict) -> str:
    """The report section: one row per checked recommendation."""
    b = doc["bill"]
    lines = ["## Backtest", "",
             f"Recommended from the data before {doc['split']}, replayed against the data after it "
             f"({doc['window_after']['start']} .. {doc['window_after']['end']}).", "",
             f"Node bill per month: before the split ${b['before_monthly']:,.2f}; the plan claims "
             f"${b['plan_monthly_savings']:,.2f} less (${b['plan_before_monthly']:,.2f}); observed after the split "
             f"${b['after_observed_monthly']:,.2f}, with the plan ${b['plan_after_monthly']:,.2f}.", "",
             "| recommendation | intervals | OOM intervals | OOM share | compute above target | flagged |",
             "|---|---:|---:|---:|---:|---|"]
    for r in doc["recommendations"]:
        if r["action"] not in CHECKED or r["workload"]["kind"] in ("Node", "Cluster"):
            continue
        if not r["intervals"]:
            lines.append(f"| {r['id']} | 0 | – | – | – | no data after the split |")
            continue
        lines.append(f"| {r['id']} | {r['intervals']} | {r['oom_intervals']} | {100 * r['oom_share']:.1f} % | "
                     f"{100 * r['compute_exceeded_share']:.1f} % | {'**yes**' if r['flagged'] else 'no'} |")
    s = doc["summary"]
    lines += ["", f"{s['checked']} of {s['recommendations']} recommendations change a shape and were replayed: "
                  f"{s['oom_intervals']} OOM intervals, compute above target in "
                  f"{100 * s['compute_exceeded_share']:.1f} % of their intervals.", ""]
    return "\n".join(lines)


def html(doc: dict) -> str:
    import html as h

    rows = "".join(
        f"<tr><td>{h.escape(r['id'])}</td><td>{r['intervals']}</td><td>{r['oom_intervals']}</td>"
        f"<td>{100 * (r['oom_share'] or 0):.1f} %</td><td>{100 * (r['compute_exceeded_share'] or 0):.1f} %</td>"
        f"<td>{'yes' if r['flagged'] else 'no'}</td></tr>"
        for r in doc["recommendations"] if r["intervals"])
    b = doc["bill"]
    return ("<!doctype html><meta charset='utf-8'><title>rightsizer backtest</title><h2>Backtest</h2>"
            f"<p>Split {h.escape(doc['split'])}. Node bill per month: before ${b['before_monthly']:,.2f}, "
            f"plan ${b['plan_before_monthly']:,.2f}; after, observed ${b['after_observed_monthly']:,.2f}, "
            f"with the plan ${b['plan_after_monthly']:,.2f}.</p>"
            "<table><tr><th>recommendation</th><th>intervals</th><th>OOM intervals</th><th>OOM share</th>"
            f"<th>compute above target</th><th>flagged</th></tr>{rows}</table>\n")


def check_split(value: str) -> datetime:
    from store.reader import parse_time

    t = parse_time(value, "split")
    if t is None:
        raise UserError("--split: a time is required, e.g. 2026-01-12 or 2026-01-12T00:00:00Z")
    return t

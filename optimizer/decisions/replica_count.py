"""set-replicas: a GPU fleet that keeps more replicas up than are ever busy together runs fewer
(docs/recommendations.md, Replica count).

From the GPU work of its replicas per 5-minute bucket (optimizer/replicas.py): the replicas a bucket needs
are its work (the sum of its replicas' mean activity) over the class's target utilization, rounded up, so
idle replicas count for nothing and load spread thinly over many replicas counts for what it is. Replicas
whose GPU memory is nearly full (``replicas_memory_bound_fraction``) cannot take each other's load, so there
every replica busy in the bucket is needed and only idle ones go.
- **no autoscaler** (a fixed replica count): the count becomes the busiest bucket's need, plus
  ``replicas_spare_production`` for production, never under ``replicas_min_production`` there (1 else).
  Proposed ``min_replicas`` = ``max_replicas`` = that count; the patch sets the workload's
  ``spec.replicas``. Being wrong makes requests wait: consequence ``slower``.
- **an HPA or a KEDA ScaledObject** whose minimum keeps idle replicas up (the buckets where it ran no more
  than its minimum): the minimum becomes the largest need of those buckets (plus the spare, with the same
  floor). Proposed ``min_replicas``; the patch sets the autoscaler's ``minReplicas`` /
  ``minReplicaCount``. Above its minimum the autoscaler follows its own metric, so those buckets keep their
  count; at the minimum it runs the new one, assuming its metric asks for no more than that need plus the
  spare (the rationale says so). Being wrong means load waits for replicas that start cold:
  consequence ``restart``. A ScaledObject at 0 already is scale-to-zero's.

The need assumes a replica's activity grows with the load it is given up to the target (a batching
server's grows more slowly, so the estimate errs towards more replicas). Priced by the one cost model: the pods' cost in their shape on their nodes (``Context.shape_hourly``) times
the pod-time that remains (the new count per bucket over the observed one). The bill effect is
optimizer/bill.py's: a removed replica frees its GPUs; the bill drops only where a node empties.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.config import PRODUCTION
from optimizer.decisions import margins, risk
from optimizer.decisions.base import Candidate, Context
from optimizer.demand import Demand
from optimizer.inventory import Workload

ACTION = "set-replicas"
TAG = "replica-count"


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    cfg = ctx.config.decisions
    use = ctx.replica_use.get(w.key)
    if w.kind not in cfg.replicas_kinds or not w.gpus_per_pod or not d.enough_history or use is None:
        return None
    production = w.value_class.name == PRODUCTION
    spare = cfg.replicas_spare_production if production else 0
    floor = cfg.replicas_min_production if production else 1
    scaler = ctx.autoscalers.get(w.key)
    target = ctx.policy(w).target_utilization
    # replicas each bucket's work needs; 1e-4 of a replica absorbs float32 activity rounding (2 × 0.6 / 0.6
    # must need 2, not 3). Replicas with their GPU memory nearly full cannot take more load: every busy one
    # is needed, only idle ones go
    capacity = (w.gpu_memory_bytes or 0) * (w.gpus_per_pod or 0)
    mem_share = (d.gpu_mem_observed or 0) / capacity if capacity else 0.0
    memory_bound = mem_share >= cfg.replicas_memory_bound_fraction
    need = np.ceil(use.work / target - 1e-4).astype(int)
    if memory_bound:
        need = np.maximum(need, use.busy)
    if scaler is None:
        now = int(np.median(use.present))  # a fixed count: the replicas it ran most of the time
        if now < 2:
            return None
        cut = np.ones(use.buckets, dtype=bool)
    else:
        now = scaler.min_replicas
        if not now or now < 2:
            return None  # no minimum to lower (a ScaledObject at 0 is scale-to-zero's)
        cut = use.present <= now  # where the minimum, not the metric, set the count
        if not cut.any():
            return None
    top = int(np.argmax(np.where(cut, use.work, -1.0)))  # the busiest bucket where the cut applies
    peak = int(need[cut].max())
    new = max(floor, peak + spare)
    if new >= now:
        return None
    kept = np.where(cut, np.minimum(use.present, new), use.present)
    fraction = float(kept.sum() / use.present.sum())
    current_h = ctx.current_hourly(w)
    proposed_h = ctx.shape_hourly(w, replace(ctx.base_shape(w), replicas=fraction))
    if current_h is None or proposed_h is None or proposed_h >= current_h:
        return None
    cut_share = float((kept < use.present).mean())  # of the observed time, where replicas go
    gpus = int(w.gpus_per_pod)
    busiest = (f"the busiest {use.bucket_s / 60:.0f}-min interval had {int(use.busy[top])} of "
               f"{int(use.present[top])} busy and {use.work[top]:.2f} replicas' worth of GPU work (their summed "
               f"activity), which {_n(peak, 'replica')} carry at the {100 * target:.0f} % target")
    if memory_bound:
        top = int(np.argmax(np.where(cut, need, -1)))
        busiest = (f"the busiest {use.bucket_s / 60:.0f}-min interval had {int(use.busy[top])} of "
                   f"{int(use.present[top])} busy, and with {100 * mem_share:.0f} % of their GPU memory in use "
                   f"the busy ones cannot take each other's load")
    if new == floor and peak + spare < floor:
        why = f" (the {PRODUCTION} floor)"
    else:
        why = f" ({peak} + {spare} spare)" if spare else ""
    each = f"each holding {_n(gpus, 'GPU')}"
    if scaler is None:
        current = {"min_replicas": now, "max_replicas": now}
        proposed = {"min_replicas": new, "max_replicas": new}
        consequence = risk.SLOWER
        rationale = (f"Of its {now} replicas ({each}) over {d.history_hours:.0f} h, {busiest}; "
                     f"{_n(new, 'replica')}{why} serve that peak, so {_n(now - new, 'replica')} and "
                     f"{_n((now - new) * gpus, 'GPU')} go.")
    else:
        current = {"min_replicas": now, "max_replicas": scaler.max_replicas}
        proposed = {"min_replicas": new}
        consequence = risk.RESTART
        rationale = (f"{scaler.kind} {scaler.name} keeps at least {now} replicas ({each}); in the "
                     f"{100 * float(cut.mean()):.0f} % of {d.history_hours:.0f} h it sat at that minimum, {busiest}, "
                     f"so a minimum of {new}{why} drops up to {_n(now - new, 'idle replica')} there, "
                     f"{100 * cut_share:.0f} % of the time, as long as its own metric asks for no more; on load it "
                     f"scales up again with replicas that start cold.")
    rationale = margins.extend(rationale, risk.short_history_note(w, d, ctx.config.risk))
    extra = {"consequence": consequence, "replicas_needed_max": peak, "busy_replicas_max": int(use.busy[cut].max()),
             "gpu_work_max": round(float(use.work[cut].max()), 3), "target_utilization": target,
             "memory_bound": memory_bound,
             "spare_replicas": spare, "bucket_s": use.bucket_s, "replica_time_fraction": round(fraction, 4),
             "removed_replicas": now - new, "cut_time_fraction": round(cut_share, 4),
             "replicas_via": ({"kind": scaler.kind, "name": scaler.name} if scaler is not None
                              else {"kind": w.kind, "name": w.name})}
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, consequence), frozenset({TAG}), None, extra)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"

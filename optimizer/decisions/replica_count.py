"""set-replicas: a GPU fleet that keeps more replicas up than are ever busy together runs fewer
(docs/recommendations.md, Replica count).

From the replicas busy at once per 5-minute bucket (optimizer/replicas.py):
- **no autoscaler** (a fixed replica count): the count becomes the most replicas ever busy at once, plus
  ``replicas_spare_production`` for production, never under ``replicas_min_production`` there (1 else).
  Proposed ``min_replicas`` = ``max_replicas`` = that count; the patch sets the workload's
  ``spec.replicas``. Being wrong makes requests wait: consequence ``slower``.
- **an HPA or a KEDA ScaledObject** whose minimum keeps idle replicas up (the buckets where it ran no more
  than its minimum): the minimum becomes the most replicas busy at once in those buckets (plus the spare,
  with the same floor). Proposed ``min_replicas``; the patch sets the autoscaler's ``minReplicas`` /
  ``minReplicaCount``. Above its minimum the autoscaler follows its own metric, so those buckets keep their
  count; at the minimum it runs the new one, assuming its metric asks for no more than the busy replicas
  plus the spare (the rationale says so). Being wrong means load waits for replicas that start cold:
  consequence ``restart``. A ScaledObject at 0 already is scale-to-zero's.

Priced by the one cost model: the pods' cost in their shape on their nodes (``Context.shape_hourly``) times
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
    if scaler is None:
        now = int(np.median(use.present))  # a fixed count: the replicas it ran most of the time
        if now < 2:
            return None
        cut = np.ones(use.buckets, dtype=bool)
        peak = int(use.busy.max())
    else:
        now = scaler.min_replicas
        if not now or now < 2:
            return None  # no minimum to lower (a ScaledObject at 0 is scale-to-zero's)
        cut = use.present <= now  # where the minimum, not the metric, set the count
        if not cut.any():
            return None
        peak = int(use.busy[cut].max())
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
    bucket_min = use.bucket_s / 60
    p95 = float(np.percentile(use.busy[cut], 95))
    if new == floor and peak + spare < floor:
        why = f" (the {PRODUCTION} floor)"
    else:
        why = f" ({peak} + {spare} spare)" if spare else ""
    each = f"each holding {_n(gpus, 'GPU')}"
    were = "was" if peak == 1 else "were"
    if scaler is None:
        current = {"min_replicas": now, "max_replicas": now}
        proposed = {"min_replicas": new, "max_replicas": new}
        consequence = risk.SLOWER
        rationale = (f"Of its {now} replicas ({each}), at most {peak} {were} busy at the same time in any "
                     f"{bucket_min:.0f}-min interval over {d.history_hours:.0f} h (p95 {p95:.0f}); {_n(new, 'replica')}"
                     f"{why} serve that peak, so {_n(now - new, 'replica')} and {_n((now - new) * gpus, 'GPU')} go.")
    else:
        current = {"min_replicas": now, "max_replicas": scaler.max_replicas}
        proposed = {"min_replicas": new}
        consequence = risk.RESTART
        rationale = (f"{scaler.kind} {scaler.name} keeps at least {now} replicas ({each}); in the "
                     f"{100 * float(cut.mean()):.0f} % of {d.history_hours:.0f} h it sat at that minimum at most "
                     f"{peak} {were} busy at the same time in any {bucket_min:.0f}-min interval (p95 {p95:.0f}), so a "
                     f"minimum of {new}{why} drops up to {_n(now - new, 'idle replica')} there, "
                     f"{100 * cut_share:.0f} % of the time, as long as its own metric asks for no more; on load it "
                     f"scales up again with replicas that start cold.")
    rationale = margins.extend(rationale, risk.short_history_note(w, d, ctx.config.risk))
    extra = {"consequence": consequence, "busy_replicas_max": peak, "busy_replicas_p95": round(p95, 1),
             "spare_replicas": spare, "bucket_s": use.bucket_s, "replica_time_fraction": round(fraction, 4),
             "removed_replicas": now - new, "cut_time_fraction": round(cut_share, 4),
             "replicas_via": ({"kind": scaler.kind, "name": scaler.name} if scaler is not None
                              else {"kind": w.kind, "name": w.name})}
    return Candidate(ACTION, current, proposed, current_h, proposed_h, rationale,
                     risk.for_workload(ctx, w, d, consequence), frozenset({TAG}), None, extra)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"

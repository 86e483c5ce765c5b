"""Why a workload got no recommendation: the ``not_evaluated`` list of ``recommendations.json``
(docs/recommendations.md, Not evaluated). Nothing the agent saw is left out silently: every workload in
the window without a recommendation is listed with the first reason that applies."""

from __future__ import annotations

from dataclasses import dataclass

NO_SAMPLES = "no-samples"
UNKNOWN_INSTANCE_TYPE = "unknown-instance-type"
NO_PRICE = "no-price"
SHORT_HISTORY = "short-history"
NO_SAVING = "no-saving-within-policy"
REASONS = (NO_SAMPLES, UNKNOWN_INSTANCE_TYPE, NO_PRICE, SHORT_HISTORY, NO_SAVING)


@dataclass
class NotEvaluated:
    namespace: str | None
    kind: str
    name: str
    reason: str
    detail: str
    history_hours: float
    samples: int
    value_class: str | None = None
    team: str | None = None

    def to_json_dict(self) -> dict:
        return {"workload": {"namespace": self.namespace, "kind": self.kind, "name": self.name},
                "reason": self.reason, "detail": self.detail, "history_hours": round(self.history_hours, 1),
                "samples": self.samples, "value_class": self.value_class, "team": self.team}


def why_not(w, d, ctx) -> NotEvaluated:
    """The reason ``w`` (with demand ``d``) got no recommendation, in this order: no samples, a node type the
    catalog does not know, no price for its nodes, too short a history, or nothing cheaper within policy."""
    cfg = ctx.config
    types = sorted({ctx.node_of(p).instance_type for p in w.pods if ctx.node_of(p)})
    unknown = [t for t in types if ctx.pricing.instance(t) is None]
    if not d.samples and d.activity is None and d.gpu_mem_observed is None:
        reason, detail = NO_SAMPLES, "no utilization samples in the window (the pods ran, nothing was measured)"
    elif unknown:
        reason, detail = UNKNOWN_INSTANCE_TYPE, (f"instance type {', '.join(unknown)} is not in the catalog: "
                                                 "nothing to price a change against")
    elif ctx.current_hourly(w) is None:
        reason, detail = NO_PRICE, (f"no catalog price for its nodes ({', '.join(types) or 'none'}) in their region: "
                                    "a price is never guessed")
    elif not d.enough_history:
        reason, detail = SHORT_HISTORY, (f"{d.history_hours:.1f} h of history, below the "
                                         f"{cfg.demand.min_history_hours:g} h below which nothing is downsized")
    else:
        reason, detail = NO_SAVING, (f"evaluated over {d.history_hours:.0f} h: no change saves at least "
                                     f"${cfg.decisions.min_monthly_savings:g}/month within the "
                                     f"{w.value_class.name} policy")
    return NotEvaluated(w.namespace, w.kind, w.name, reason, detail, d.history_hours, d.samples,
                        w.value_class.name, w.team)

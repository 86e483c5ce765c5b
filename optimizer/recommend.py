"""Profiles + inventory + catalog → the ``recommendations.json`` document (its keys: docs/recommendations.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from optimizer.autoscalers import read_autoscalers, replica_effect
from optimizer.config import DEFAULT_OPTIMIZER_CONFIG, OptimizerConfig
from optimizer.costing import HOURS_PER_MONTH, Pricing
from optimizer.decisions import WORKLOAD_DECISIONS, consolidate, reclaim_idle, risk
from optimizer.decisions.base import Candidate, Context
from optimizer.decisions.resolve import resolve
from optimizer.demand import container_stats_by_workload, workload_demand
from optimizer.inventory import Inventory, build_inventory
from optimizer.not_evaluated import NotEvaluated, why_not
from store.reader import Dataset


def _money(hourly: float) -> float:
    return round(hourly * HOURS_PER_MONTH, 2)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def total_monthly_savings(workload_savings: float, consolidation_savings: float) -> float:
    """What the whole proposal saves per month (``summary.monthly_savings``): the larger of the summed
    per-workload savings and the cluster-wide node mix's saving, never their sum. Consolidation re-packs
    the right-sized pods onto the cheapest node mix, so its saving is the same money counted cluster-wide."""
    return round(max(workload_savings, consolidation_savings), 2)


@dataclass
class Recommendation:
    id: str
    namespace: str | None
    kind: str
    name: str
    team: str | None
    project: str | None
    use_case: str | None
    value_class: str | None
    value_class_inferred: bool
    action: str
    current: dict
    proposed: dict
    monthly_cost_current: float
    monthly_cost_proposed: float
    confidence: float
    risk: str
    rationale: str
    suggestion_file: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def monthly_savings(self) -> float:
        return round(self.monthly_cost_current - self.monthly_cost_proposed, 2)

    def to_json_dict(self) -> dict:
        return {
            "id": self.id,
            "workload": {"namespace": self.namespace, "kind": self.kind, "name": self.name},
            "team": self.team, "project": self.project, "use_case": self.use_case,
            "value_class": self.value_class,
            "action": self.action,
            "current": self.current, "proposed": self.proposed,
            "monthly_cost_current": self.monthly_cost_current,
            "monthly_cost_proposed": self.monthly_cost_proposed,
            "monthly_savings": self.monthly_savings,
            "confidence": self.confidence, "risk": self.risk, "rationale": self.rationale,
            "suggestion_file": self.suggestion_file,
            # extensions: the document only ever gains keys, never loses or renames one
            "value_class_inferred": self.value_class_inferred,
            "details": self.details,
        }


@dataclass
class RecommendationSet:
    generated_at: datetime
    window_start: datetime
    window_end: datetime
    recommendations: list[Recommendation]
    monthly_cost: float  # the cluster's node cost over the window, per 730-h month
    consolidation: dict = field(default_factory=dict)  # solver numbers
    notes: list[str] = field(default_factory=list)
    currency: str = "USD"
    not_evaluated: list[NotEvaluated] = field(default_factory=list)  # workloads without a recommendation, and why

    def summary(self) -> dict:
        workload = [r for r in self.recommendations if r.action != "consolidate-nodes"]
        cluster = next((r for r in self.recommendations if r.action == "consolidate-nodes"), None)
        by_action: dict[str, float] = {}
        for r in workload:
            by_action[r.action] = round(by_action.get(r.action, 0.0) + r.monthly_savings, 2)
        workload_savings = round(sum(r.monthly_savings for r in workload), 2)
        return {
            "monthly_cost": self.monthly_cost,
            "monthly_savings": total_monthly_savings(workload_savings, cluster.monthly_savings if cluster else 0.0),
            "workload_monthly_savings": workload_savings,
            "consolidation_monthly_savings": cluster.monthly_savings if cluster else 0.0,
            "savings_by_action": by_action,
            "recommendations": len(self.recommendations),
            "solver": self.consolidation,
            "notes": self.notes,
        }

    def to_json_dict(self) -> dict:
        return {
            "generated_at": _iso(self.generated_at),
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "currency": self.currency,
            "summary": self.summary(),
            "recommendations": [r.to_json_dict() for r in self.recommendations],
            "not_evaluated": [x.to_json_dict() for x in self.not_evaluated],
        }


def _to_rec(c: Candidate, *, namespace, kind, name, team=None, project=None, use_case=None, value_class=None,
            inferred=False, confidence=1.0) -> Recommendation:
    ident = f"{c.action}/{namespace or '-'}/{kind}/{name}".lower()
    details = {k: v for k, v in c.extra.items()}
    return Recommendation(ident, namespace, kind, name, team, project, use_case, value_class, inferred, c.action,
                          c.current, c.proposed, _money(c.hourly_current), _money(c.hourly_proposed),
                          round(confidence, 3), c.risk, c.rationale, None, details)


def _autoscaler_note(c: Candidate, w, autoscaler) -> None:
    """A request cut under a CPU- or memory-utilization autoscaler: say what it does to the replica count."""
    if autoscaler is None:
        return
    c.extra["autoscaler"] = {"kind": autoscaler.kind, "name": autoscaler.name, "min_replicas": autoscaler.min_replicas,
                             "max_replicas": autoscaler.max_replicas}
    cur, prop = c.current, c.proposed
    for resource, key, now in (("cpu", "cpu_request", w.cpu_request()), ("memory", "mem_request", w.mem_request())):
        if prop.get(key) is None:
            continue
        effect = replica_effect(autoscaler, resource, cur.get(key) or now, prop[key])
        if effect:
            c.rationale = c.rationale.rstrip(".") + "; " + effect + "."


def build_recommendations(dataset: str | Dataset, profiles, catalog, config: OptimizerConfig | None = None, *,
                          container_profiles=None, inventory: Inventory | None = None, start=None, end=None,
                          consolidate_cluster: bool = True) -> RecommendationSet:
    """Every recommendation for the dataset's window. ``profiles`` is the workload-level ProfileSet;
    container-level profiles are computed when not given.

    ``start``/``end`` bound the reads as in ``compute_profiles`` (start inclusive, end exclusive; None =
    the whole dataset): pass the same ones the profiles were computed with. The profiles' ``window`` is
    not used as a bound: its end is the last sample's timestamp, and reading up to it exclusively would
    drop that sample's interval from every node's uptime (the monthly cost would then be one sample
    interval short of the allocation's over the same data)."""
    cfg = config or DEFAULT_OPTIMIZER_CONFIG
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    inv = inventory or build_inventory(ds, start, end, cfg.value_class, cfg.labels)
    if container_profiles is None:
        from optimizer.profiles import compute_profiles

        container_profiles = compute_profiles(ds, start=start, end=end, entity="container")
    per_container = container_stats_by_workload(inv, container_profiles)
    pricing = Pricing(catalog, cfg.region)
    ctx = Context(inv, pricing, catalog, cfg)

    autoscalers = read_autoscalers(ds, start, end)
    recs: list[Recommendation] = []
    skipped: list[NotEvaluated] = []
    shapes, leaving = {}, set()
    for key, w in inv.workloads.items():
        policy = ctx.policy(w)
        d = workload_demand(w, inv, profiles, per_container.get(key, {}), policy, cfg.demand)
        chosen = resolve(w, [decide(w, d, ctx) for decide in WORKLOAD_DECISIONS], ctx)
        if chosen is None:
            skipped.append(why_not(w, d, ctx))
            continue
        if chosen.shape is not None:
            shapes[key] = chosen.shape
        if "replicas" in chosen.tags:
            leaving.add(key)
        _autoscaler_note(chosen, w, autoscalers.get(key))
        chosen.extra.setdefault("value_class_reason", w.value_class.reason)
        chosen.extra.setdefault("history_hours", round(d.history_hours, 1))
        if d.activity_source:
            chosen.extra.setdefault("activity_source", d.activity_source)
        recs.append(_to_rec(chosen, namespace=w.namespace, kind=w.kind, name=w.name, team=w.team, project=w.project,
                            use_case=w.use_case, value_class=w.value_class.name, inferred=w.value_class.inferred,
                            confidence=d.confidence))
    for node, cand in reclaim_idle.unallocated(ctx):
        if cand.hourly_savings * HOURS_PER_MONTH >= cfg.decisions.min_monthly_savings:
            confidence = risk.history_confidence(cand.extra["observed_hours"], cfg.demand.full_confidence_days)
            recs.append(_to_rec(cand, namespace=None, kind="Node", name=node.name, confidence=confidence))

    solver_stats: dict = {}
    if consolidate_cluster:
        cand, solver_stats = consolidate.decide(ctx, shapes, leaving)
        if cand is not None:
            # the plan is as sure as its least-known workload; wrong, re-packed pods restart or wait: restart
            confidence = min([r.confidence for r in recs if r.kind not in ("Node", "Cluster")] or [1.0])
            cand.risk = risk.rate(confidence, risk.RESTART, cfg.risk)
            cand.extra["consequence"] = risk.RESTART
            recs.append(_to_rec(cand, namespace=None, kind="Cluster", name="cluster", confidence=confidence))
    recs.sort(key=lambda r: (-r.monthly_savings, r.id))

    node_cost = 0.0
    for n in inv.nodes.values():
        h = pricing.node_hourly(n)
        if h is not None:
            node_cost += h * min(1.0, (n.seconds + inv.interval_s) / inv.window_seconds)
    notes = []
    if pricing.unknown:
        notes.append(f"no catalog price for instance types {', '.join(sorted(pricing.unknown))}: their workloads "
                     "got no dollar recommendation")
    if pricing.spot_fallback:
        notes.append(f"no spot price in the catalog for {', '.join(sorted(pricing.spot_fallback))}: those spot nodes "
                     "are priced at on-demand, an upper bound")
    result = RecommendationSet(datetime.now(UTC), inv.start, inv.end, recs, _money(node_cost),
                               {k: v for k, v in solver_stats.items() if k != "placement"}, notes)
    result.not_evaluated = sorted(skipped, key=lambda x: (x.reason, x.namespace or "", x.kind, x.name))
    return result

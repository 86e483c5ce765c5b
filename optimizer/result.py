"""The typed result of ``recommend``: each ``Recommendation``, the node bill (``NodeBill``) and the whole
``RecommendationSet``, which the output stage reads and serialises once into recommendations.json (its keys:
docs/recommendations.md; the money: recommender/allocation/SPEC.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from optimizer.costing import HOURS_PER_MONTH, priced_sentence
from optimizer.inventory import Inventory
from optimizer.not_evaluated import NotEvaluated


def _money(hourly: float) -> float:
    return round(hourly * HOURS_PER_MONTH, 2)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def total_monthly_savings(workload_savings: float, consolidation_savings: float) -> float:
    """The larger of the summed per-workload showback changes and the node mix's saving, never their sum
    (a fallback for documents without ``summary.monthly_bill_savings``; that is the headline now)."""
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
    monthly_bill_savings: float = 0.0  # the node bill change if applied alone (optimizer/bill.py)

    @property
    def monthly_savings(self) -> float:
        """The showback change: the workload's allocated cost now minus its proposed shape's cost."""
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
            "monthly_bill_savings": self.monthly_bill_savings,
            "confidence": self.confidence, "risk": self.risk, "rationale": self.rationale,
            "suggestion_file": self.suggestion_file,
            # extensions: the document only ever gains keys, never loses or renames one
            "value_class_inferred": self.value_class_inferred,
            "details": self.details,
        }


@dataclass
class NodeBill:
    """Today's node bill and the plan's, USD per hour (optimizer/bill.py)."""

    today_hourly: float = 0.0  # priced nodes running at the window's end
    plan_hourly: float = 0.0  # every recommended change applied, then the node mix (or no repack if cheaper)
    by_action: dict = field(default_factory=dict)  # action -> plan's bill without it minus with it, $/h
    priced_nodes: int = 0
    nodes: int = 0  # nodes with samples in the window
    unpriced: list = field(default_factory=list)  # optimizer.costing.UnpricedNode
    prices: dict = field(default_factory=dict)  # summary.prices
    managed_api_hourly: float = 0.0  # the plan's managed-API spend (use-managed-api), part of plan_hourly

    @property
    def monthly_bill_savings(self) -> float:
        return _money(self.today_hourly) - _money(self.plan_hourly)

    @property
    def priced(self) -> str:
        """``priced N of M nodes`` (summary.node_bill.priced)."""
        return priced_sentence(self.priced_nodes, self.nodes)


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
    bill: NodeBill = field(default_factory=NodeBill)
    # the window's token summaries per serving pod and model (optimizer/llm/usage.py), for tokens.csv
    serving_usage: list = field(default_factory=list)
    # the observed cluster it was decided on: the writers read container specs from it, never re-derive them
    inventory: Inventory | None = field(default=None, repr=False, compare=False)

    @property
    def monthly_savings(self) -> float:
        """The showback change (summary.monthly_savings): the workloads' allocated cost now minus proposed,
        summed over the per-workload recommendations; not a bill saving."""
        return round(sum(r.monthly_savings for r in self.recommendations if r.kind not in ("Node", "Cluster")), 2)

    @property
    def consolidation_monthly_savings(self) -> float:
        cluster = next((r for r in self.recommendations if r.action == "consolidate-nodes"), None)
        return cluster.monthly_savings if cluster else 0.0

    @property
    def monthly_bill_savings(self) -> float:
        """The headline (summary.monthly_bill_savings): today's node bill minus the plan's."""
        return round(self.bill.monthly_bill_savings, 2)

    def summary(self) -> dict:
        workload = [r for r in self.recommendations if r.kind not in ("Node", "Cluster")]
        by_action: dict[str, float] = {}
        for r in workload:
            by_action[r.action] = round(by_action.get(r.action, 0.0) + r.monthly_savings, 2)
        b = self.bill
        return {
            "monthly_cost": self.monthly_cost,
            # the showback change: workloads' allocated cost now minus proposed; not a bill saving
            "monthly_savings": self.monthly_savings,
            "workload_monthly_savings": self.monthly_savings,
            "consolidation_monthly_savings": self.consolidation_monthly_savings,
            "savings_by_action": by_action,
            # the node bill: today's nodes minus the plan's (optimizer/bill.py)
            "monthly_bill_savings": self.monthly_bill_savings,
            # plan_monthly is the plan's nodes; a plan that moves tokens to a managed API also pays
            # managed_api_monthly, and the headline counts both (recommender/allocation/SPEC.md)
            "node_bill": {"today_monthly": _money(b.today_hourly),
                          "plan_monthly": _money(b.plan_hourly - b.managed_api_hourly),
                          "managed_api_monthly": _money(b.managed_api_hourly),
                          "priced_nodes": b.priced_nodes, "nodes": b.nodes,
                          "priced": b.priced},
            "bill_savings_by_action": {k: _money(v) for k, v in sorted(b.by_action.items())},
            "unpriced_nodes": [u.to_json_dict() for u in b.unpriced],
            "prices": b.prices,
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

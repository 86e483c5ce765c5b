"""The numbers a report shows, computed once for both report.html and report.md.

Inputs are typed: the cost allocation and the run's ``optimizer.recommend.RecommendationSet`` (its
``Recommendation``s and ``NotEvaluated``s are listed as they are, the headline reads its ``NodeBill``, the
panels' GPUs per pod its observed cluster, ``RecommendationSet.inventory``). ``current``, ``proposed`` and
``details`` stay dicts: their keys differ per action and are the contract's (docs/recommendations.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optimizer.not_evaluated import NotEvaluated
    from optimizer.result import Recommendation, RecommendationSet

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Headline:
    spend: float                 # cost in the window
    monthly_run_rate: float      # spend scaled to a 730-hour month
    monthly_savings: float       # the showback change: RecommendationSet.monthly_savings (summary.monthly_savings)
    workload_monthly_savings: float       # ... the per-workload recommendations' sum
    consolidation_monthly_savings: float  # ... the node mix's saving (the same money, not on top)
    gpu_hours_allocated: float
    gpu_hours_used: float
    gpu_hours_capacity: float
    gpu_idle_share: float        # share of GPU time (capacity) idle
    idle_cost: float             # cost of the idle rows
    idle_gpu_cost: float         # ... of which the GPUs' part
    idle_cpu_ram_cost: float     # ... and the CPU and memory part
    label_coverage: float        # share of workload cost with a team label
    alerts: int
    gpu_idle_activity: float = 0.05  # activity below which a GPU's time counts as idle (config thresholds)
    monthly_bill_savings: float = 0.0  # the headline: today's node bill minus the plan's (RecommendationSet.bill)
    bill_text: str = ""                # the one sentence stating it (format.bill_sentence)
    prices_text: str = ""              # where the prices come from (NodeBill.prices, summary.prices)


@dataclass
class WorkloadPanel:
    key: tuple[str, str, str]
    title: str
    savings: float
    cost: float
    activity_source: str | None = None
    histogram: tuple | None = None        # (edges, weights) of GPU activity
    hour_of_week: object | None = None    # (168,) mean activity
    memory: dict | None = None            # {"p50","p95","p99","max","capacity"} bytes, per GPU (or slice)
    gpus_per_pod: int = 1                 # a multi-GPU pod's memory is shown per GPU: its total / this


@dataclass
class ReportData:
    title: str
    generated_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    headline: Headline
    allocation: object
    recommendations: list[Recommendation]
    top: list[Recommendation]            # the largest savings, shown in full
    budgets: list
    spikes: list
    by_value_class: list[dict]
    panels: list[WorkloadPanel] = field(default_factory=list)
    delivery: object | None = None
    notes: list[str] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)  # workloads without a recommendation, and why
    tokens: object | None = None          # recommender.tokens.TokenCosts: the LLM serving section
    token_budgets: list = field(default_factory=list)  # alerts' token budget statuses
    token_spikes: list = field(default_factory=list)   # alerts' token spikes (Spike.cost holds tokens)

    @property
    def rest(self) -> list[Recommendation]:
        """The recommendations after the top ones: every one is listed, these in a compact table."""
        return self.recommendations[len(self.top):]

    @property
    def window_label(self) -> str:
        if not self.window_start or not self.window_end:
            return "no data"
        return f"{self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%Y-%m-%d %H:%M} UTC"


def build_report_data(*, allocation, result: RecommendationSet, alerts=None, profiles=None, config=None,
                      generated_at: datetime | None = None, title: str = "GPU & CPU cost and right-sizing report",
                      tokens=None) -> ReportData:
    """``result`` is the run's typed RecommendationSet, the one recommendations.json is serialised from; its
    ``inventory`` (the observed cluster) gives the container specs of the per-workload panels."""
    from recommender.config import Config
    from recommender.report.format import bill_sentence

    config = config or Config()
    recs = sorted(result.recommendations, key=lambda r: (-(r.monthly_bill_savings or 0), -(r.monthly_savings or 0)))
    rows = allocation.rows
    days = allocation.window_days
    idle = rows[rows["row_type"] == "idle"] if len(rows) else rows
    idle_cost = float(idle["total_cost"].sum()) if len(idle) else 0.0
    idle_gpu = float(idle["gpu_cost"].sum()) if len(idle) else 0.0
    n_alerts = len(alerts.alerts()) if alerts is not None else 0
    headline = Headline(
        spend=allocation.total_cents / 100.0,
        monthly_run_rate=allocation.total_cost / (days * 24) * HOURS_PER_MONTH if days else 0.0,
        monthly_savings=result.monthly_savings, workload_monthly_savings=result.monthly_savings,
        consolidation_monthly_savings=result.consolidation_monthly_savings,
        gpu_hours_allocated=allocation.gpu_hours_allocated,
        gpu_hours_used=allocation.gpu_hours_used, gpu_hours_capacity=allocation.gpu_hours_capacity,
        gpu_idle_share=allocation.gpu_idle_share, idle_cost=idle_cost, idle_gpu_cost=min(idle_gpu, idle_cost),
        idle_cpu_ram_cost=max(0.0, idle_cost - idle_gpu),
        label_coverage=allocation.label_coverage.get("team", 0.0), alerts=n_alerts,
        gpu_idle_activity=config.thresholds.gpu_idle_activity,
        monthly_bill_savings=result.monthly_bill_savings, bill_text=bill_sentence(result),
        prices_text=_prices(result.bill.prices))
    data = ReportData(
        title=title, generated_at=generated_at or datetime.now(UTC), window_start=allocation.window_start,
        window_end=allocation.window_end, headline=headline, allocation=allocation, recommendations=recs,
        top=recs[: config.report.top_recommendations], budgets=list(alerts.budgets) if alerts else [],
        spikes=list(alerts.spikes) if alerts else [], by_value_class=_value_classes(allocation, recs, days),
        delivery=getattr(alerts, "delivery", None), not_evaluated=list(result.not_evaluated),
        tokens=tokens if tokens is not None and not tokens.empty else None,
        token_budgets=list(getattr(alerts, "token_budgets", [])), token_spikes=list(getattr(alerts, "token_spikes", [])))
    if tokens is not None:
        data.notes.extend(tokens.notes)
    if headline.prices_text:
        data.notes.append(headline.prices_text)
    data.panels = _panels(allocation, recs, profiles, config.report.workload_charts, result.inventory)
    if profiles is None:
        data.notes.append("Per-workload charts need GPU profiles; none were given.")
    return data


def _prices(prices: dict | None) -> str:
    if not prices:
        return ""
    regions = ", ".join(prices.get("regions") or []) or "none"
    text = f"Prices: catalog snapshot {prices.get('snapshot_date')} ({prices.get('source')}); regions priced: {regions}"
    return text + (f"; overrides from {prices['overrides']}" if prices.get("overrides") else "") + "."


def _value_classes(allocation, recs: list[Recommendation], days: float) -> list[dict]:
    rows = allocation.rows[allocation.rows["row_type"] == "workload"]
    scale = HOURS_PER_MONTH / (days * 24) if days else 0.0
    out = []
    for vc in ("production", "experimental", "background"):
        mine = rows[rows["value_class"] == vc]
        sav = sum(r.monthly_savings or 0 for r in recs if r.value_class == vc)
        monthly = float(mine["total_cost"].sum()) * scale
        out.append({"value_class": vc, "spend": float(mine["total_cost"].sum()), "monthly": monthly,
                    "savings": float(sav), "workloads": int(len(mine)),
                    "inferred": int(mine["value_class_inferred"].astype(bool).sum()),
                    "gpu_hours": float(mine["gpu_hours"].sum()), "gpu_hours_used": float(mine["gpu_hours_used"].sum())})
    return out


def _panels(allocation, recs: list[Recommendation], profiles, limit: int, inventory) -> list[WorkloadPanel]:
    if limit <= 0:
        return []
    rows = allocation.rows[(allocation.rows["row_type"] == "workload") & (allocation.rows["gpu_hours"] > 0)]
    cost = {(r.namespace, r.kind, r.workload): float(r.total_cost) for r in rows.itertuples(index=False)}
    savings: dict = {}
    for r in recs:
        key = (r.namespace, r.kind, r.name)
        if key in cost:
            savings[key] = savings.get(key, 0.0) + float(r.monthly_savings or 0)
    order = sorted(cost, key=lambda k: (-savings.get(k, 0.0), -cost[k]))[:limit]
    panels = []
    for key in order:
        p = WorkloadPanel(key, f"{key[0]}/{key[2]} ({key[1]})", savings.get(key, 0.0), cost[key],
                          memory=None, gpus_per_pod=_gpus_per_pod(inventory, key))
        if profiles is not None:
            p.activity_source = _safe(lambda k=key: profiles.activity_source(k))
            p.histogram = _safe(lambda k=key: profiles.histogram(k, "gpu_activity"))
            p.hour_of_week = _safe(lambda k=key: profiles.hour_of_week(k, "gpu_activity"))
            stats = _safe(lambda k=key: profiles.stats(k, "gpu_mem_bytes"))
            capacity = allocation.gpu_memory_capacity.get(key)
            if stats is not None:
                # The profile sums a pod's GPU memory over its GPUs; capacity is one device's (or slice's).
                # Per GPU on both sides keeps one unit on the axis: a pod's total over N GPUs, divided by N.
                n = p.gpus_per_pod
                p.memory = {"p50": stats.p50 / n, "p95": stats.p95 / n, "p99": stats.p99 / n, "max": stats.max / n,
                            "capacity": capacity}
        panels.append(p)
    return panels


def _gpus_per_pod(inventory, key) -> int:
    """Whole GPUs a pod of the workload requests (nvidia.com/gpu, summed over its containers in the observed
    cluster, ``optimizer.inventory.Inventory``); 1 for a slice, a shared GPU, no request or no inventory."""
    workload = inventory.workloads.get(key) if inventory is not None else None
    whole = sum(float(c.gpu_request or 0) for c in (workload.containers if workload else [])
                if c.gpu_resource == "nvidia.com/gpu")
    return max(1, int(round(whole)))


def _safe(fn):
    try:
        return fn()
    except (KeyError, ValueError, AttributeError, TypeError):
        return None

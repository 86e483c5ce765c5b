"""Budgets and spike alerts (alerts.json) and their delivery to a webhook."""

from __future__ import annotations

from datetime import UTC, datetime

from recommender.alerts.budgets import BudgetStatus, evaluate_budgets
from recommender.alerts.spikes import Spike, complete_days, detect_spikes
from recommender.alerts.tokens import (
    TokenBudgetStatus,
    detect_token_spikes,
    evaluate_token_budgets,
    token_alerts,
)
from recommender.alerts.webhook import Delivery, post_json, slack_payload
from recommender.config import Config

__all__ = ["AlertSet", "BudgetStatus", "TokenBudgetStatus", "Delivery", "Spike", "build_alerts", "evaluate_budgets", "detect_spikes",
           "post_json", "slack_payload"]


class AlertSet:
    """Budget statuses and spikes of one run; ``to_json_dict`` is the alerts.json document."""

    def __init__(self, budgets: list[BudgetStatus], spikes: list[Spike], window, generated_at: datetime, *,
                 token_budgets: list[TokenBudgetStatus] = (), token_spikes: list[Spike] = ()):
        self.budgets = budgets
        self.spikes = spikes
        self.token_budgets = list(token_budgets)  # the token guard rails (alerts/tokens.py)
        self.token_spikes = list(token_spikes)
        self.window = window
        self.generated_at = generated_at
        self.delivery: Delivery | None = None

    def alerts(self) -> list[dict]:
        out = []
        for b in self.budgets:
            if b.status == "ok":
                continue
            verb = "is projected over" if b.status == "over" else f"is projected to use {b.ratio:.0%} of"
            out.append({
                "type": "budget", "severity": "critical" if b.status == "over" else "warning",
                "scope": b.scope, "name": b.name, "status": b.status,
                "message": f"{b.scope} {b.name} {verb} its {b.month} budget: ${b.projected:,.0f} projected "
                           f"of ${b.monthly_budget:,.0f} ({b.ratio:.0%})", **b.to_dict()})
        for s in self.spikes:
            size = f"{s.factor:.1f}x" if s.factor is not None else "new spend"
            out.append({
                "type": "spike", "severity": "critical" if (s.factor or 99) >= 3 else "warning",
                "scope": s.scope, "name": s.name,
                "message": f"{s.scope} {s.name} spent ${s.cost:,.0f} on {s.date}, ${s.delta_usd:,.0f} above its "
                           f"{s.baseline_kind} baseline of ${s.baseline:,.0f} ({size})", **s.to_dict()})
        out += token_alerts(self.token_budgets, self.token_spikes)
        return [{"id": f"alert-{i:03d}", **a} for i, a in enumerate(out, 1)]

    def to_json_dict(self) -> dict:
        start, end = self.window
        return {
            "generated_at": self.generated_at.isoformat().replace("+00:00", "Z"),
            "window": {"start": _iso(start), "end": _iso(end)},
            "currency": "USD",
            "budgets": [b.to_dict() for b in self.budgets],
            "token_budgets": [b.to_dict() for b in self.token_budgets],
            "alerts": self.alerts(),
            "notification": self.delivery.to_dict() if self.delivery else None,
        }


def build_alerts(alloc, config: Config, *, generated_at: datetime | None = None, tokens=None) -> AlertSet:
    """Cost budgets and spikes from the allocation; token budgets and spikes from ``tokens`` (a
    ``recommender.tokens.TokenCosts`` of the same window) when given."""
    th = config.thresholds
    days = complete_days(alloc.day_hours, alloc.window_start, alloc.window_end)
    spikes = detect_spikes(alloc.daily_by("team"), "team", th, days)
    work = alloc.daily[alloc.daily["row_type"] == "workload"].copy()
    if not work.empty:
        work["key"] = work["namespace"] + "/" + work["kind"] + "/" + work["workload"]
        per_workload = work.pivot_table(index="date", columns="key", values="cost", aggfunc="sum", fill_value=0.0)
        spikes += detect_spikes(per_workload, "workload", th, days)
    return AlertSet(evaluate_budgets(alloc, config), spikes, (alloc.window_start, alloc.window_end),
                    generated_at or datetime.now(UTC), token_budgets=evaluate_token_budgets(tokens, config),
                    token_spikes=detect_token_spikes(tokens, config))


def _iso(value) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

"""Monthly budgets per team and project: month-end projection from the window's run rate."""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from recommender.config import Config


@dataclass(frozen=True)
class BudgetStatus:
    scope: str               # team | project
    name: str
    month: str               # YYYY-MM the projection is for (the month the window ends in)
    monthly_budget: float
    month_to_date: float     # cost observed in the window inside that month
    run_rate_daily: float    # window cost / window days
    projected: float         # month_to_date + run rate x the month's days the window did not observe
    ratio: float             # projected / budget
    status: str              # ok | warning | over

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("monthly_budget", "month_to_date", "run_rate_daily", "projected"):
            d[key] = round(d[key], 2)
        d["ratio"] = round(d["ratio"], 4)
        return d


def classify(ratio: float, warning: float) -> str:
    if ratio >= 1.0:
        return "over"
    return "warning" if ratio >= warning else "ok"


def month_of(start: datetime, end: datetime) -> tuple[str, int, float]:
    """(YYYY-MM, days in it, days of it the window observed) of the month the window ends in."""
    last_instant = end - timedelta(milliseconds=1)
    month_start = datetime(last_instant.year, last_instant.month, 1, tzinfo=UTC)
    days_in_month = calendar.monthrange(last_instant.year, last_instant.month)[1]
    observed_days = max(0.0, (end - max(start, month_start)).total_seconds() / 86400.0)
    return month_start.strftime("%Y-%m"), days_in_month, observed_days


def project(total: float, month_to_date: float, window_days: float, days_in_month: int,
            observed_days: float) -> tuple[float, float]:
    """(daily run rate, month-end projection): month to date + the window's run rate × the days unobserved."""
    rate = total / window_days if window_days else 0.0
    return rate, month_to_date + rate * max(0.0, days_in_month - observed_days)


def evaluate_budgets(alloc, config: Config) -> list[BudgetStatus]:
    """One status per budget in the config, in config order (teams, then projects)."""
    if alloc.window_start is None or alloc.window_end is None:
        return []
    month_key, days_in_month, observed_days = month_of(alloc.window_start, alloc.window_end)
    window_days = alloc.window_days
    daily = alloc.daily[alloc.daily["row_type"] == "workload"]
    out = []
    for scope, column, budgets in (("team", "team", config.budgets.teams),
                                   ("project", "project", config.budgets.projects)):
        for name, budget in budgets.items():
            mine = daily[daily[column] == name]
            total = float(mine["cost"].sum())
            mtd = float(mine[mine["date"].str.startswith(month_key)]["cost"].sum())
            rate, projected = project(total, mtd, window_days, days_in_month, observed_days)
            ratio = projected / budget.monthly_usd if budget.monthly_usd > 0 else float("inf") if projected else 0.0
            out.append(BudgetStatus(scope, name, month_key, budget.monthly_usd, mtd, rate, projected, ratio,
                                    classify(ratio, config.thresholds.budget_warning)))
    return out

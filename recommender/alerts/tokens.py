"""Token guard rails: monthly token budgets (tokens and dollars) per team and per served model, with the
month-end projection of the cost budgets, and spikes in daily tokens per team and model (docs/llm.md).

The projection and the spike test are the cost alerts' own (``budgets.project``, ``spikes.detect_spikes``);
only the unit differs: tokens, or the dollars tokens.csv gives each team's and model's tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from recommender.alerts.budgets import classify, month_of, project
from recommender.alerts.spikes import Spike, complete_days, detect_spikes
from recommender.config import Config

UNITS = ("tokens", "usd")


@dataclass(frozen=True)
class TokenBudgetStatus:
    scope: str               # team | model
    name: str
    unit: str                # tokens | usd
    month: str               # YYYY-MM the projection is for
    monthly_budget: float
    month_to_date: float
    run_rate_daily: float
    projected: float
    ratio: float
    status: str              # ok | warning | over

    def to_dict(self) -> dict:
        d = asdict(self)
        digits = 2 if self.unit == "usd" else 0
        for key in ("monthly_budget", "month_to_date", "run_rate_daily", "projected"):
            d[key] = round(d[key], digits) if digits else int(round(d[key]))
        d["ratio"] = round(d["ratio"], 4)
        return d

    def amount(self, value: float) -> str:
        return f"${value:,.0f}" if self.unit == "usd" else f"{tokens_text(value)} tokens"


def tokens_text(value: float) -> str:
    """1.2B, 34.5M, 12.3k, 950: token counts as people read them."""
    value = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.1f}{unit}"
    return f"{value:,.0f}"


def evaluate_token_budgets(tokens, config: Config) -> list[TokenBudgetStatus]:
    """One status per configured budget and unit, teams then models, in config order."""
    if tokens is None or tokens.window_start is None or tokens.window_end is None:
        return []
    budgets = config.tokens.budgets
    if not budgets.teams and not budgets.models:
        return []
    month, days_in_month, observed = month_of(tokens.window_start, tokens.window_end)
    window_days = max((tokens.window_end - tokens.window_start).total_seconds() / 86400.0, 1e-9)
    daily = tokens.daily
    out = []
    for scope, column, entries in (("team", "team", budgets.teams), ("model", "model", budgets.models)):
        for name, budget in entries.items():
            mine = daily[daily[column] == name]
            in_month = mine[mine["date"].str.startswith(month)]
            for unit, limit, field in (("tokens", budget.monthly_tokens, "tokens"), ("usd", budget.monthly_usd, "cost")):
                if limit is None:
                    continue
                total = float(mine[field].fillna(0).sum())
                mtd = float(in_month[field].fillna(0).sum())
                rate, projected = project(total, mtd, window_days, days_in_month, observed)
                ratio = projected / limit if limit > 0 else (float("inf") if projected else 0.0)
                out.append(TokenBudgetStatus(scope, name, unit, month, limit, mtd, rate, projected, ratio,
                                             classify(ratio, config.thresholds.budget_warning)))
    return out


def detect_token_spikes(tokens, config: Config) -> list[Spike]:
    """Days whose tokens per team or per model stand out against the weekday-aware baseline (the cost
    spikes' test, with ``tokens.spike_min_tokens`` as the smallest excess). ``Spike.cost`` holds tokens."""
    if tokens is None or tokens.daily.empty:
        return []
    th = config.thresholds
    days = complete_days(tokens.daily["date"].unique(), tokens.window_start, tokens.window_end)
    out: list[Spike] = []
    for scope in ("team", "model"):
        series = tokens.daily.pivot_table(index="date", columns=scope, values="tokens", aggfunc="sum",
                                          fill_value=0).astype(float)
        out += detect_spikes(series, scope, th, days, min_delta=config.tokens.spike_min_tokens)
    return out


def token_alerts(budgets: list[TokenBudgetStatus], spikes: list[Spike]) -> list[dict]:
    """alerts.json entries (``type`` token-budget or token-spike), without ids."""
    out = []
    for b in budgets:
        if b.status == "ok":
            continue
        verb = "is projected over" if b.status == "over" else f"is projected to use {b.ratio:.0%} of"
        what = "token budget" if b.unit == "tokens" else "token cost budget"
        out.append({"type": "token-budget", "severity": "critical" if b.status == "over" else "warning",
                    "scope": b.scope, "name": b.name, "status": b.status,
                    "message": f"{b.scope} {b.name} {verb} its {b.month} {what}: {b.amount(b.projected)} projected "
                               f"of {b.amount(b.monthly_budget)} ({b.ratio:.0%})", **b.to_dict()})
    for s in spikes:
        size = f"{s.factor:.1f}x" if s.factor is not None else "new traffic"
        out.append({"type": "token-spike", "severity": "critical" if (s.factor or 99) >= 3 else "warning",
                    "scope": s.scope, "name": s.name,
                    "message": f"{s.scope} {s.name} served {tokens_text(s.cost)} tokens on {s.date}, "
                               f"{tokens_text(s.delta_usd)} above its {s.baseline_kind} baseline of "
                               f"{tokens_text(s.baseline)} ({size})", **token_spike_dict(s)})
    return out


def token_spike_dict(s: Spike) -> dict:
    """A token spike's fields, named in tokens."""
    d = s.to_dict()
    return {"scope": d["scope"], "name": d["name"], "date": d["date"], "tokens": int(round(s.cost)),
            "baseline_tokens": int(round(s.baseline)), "delta_tokens": int(round(s.delta_usd)),
            "factor": d["factor"], "z": d["z"], "baseline_days": d["baseline_days"],
            "baseline_kind": d["baseline_kind"]}


def daily_tokens_by(tokens, column: str) -> pd.DataFrame:
    """A date × value table of daily tokens (the report's chart)."""
    if tokens is None or tokens.daily.empty:
        return pd.DataFrame()
    return tokens.daily.pivot_table(index="date", columns=column, values="tokens", aggfunc="sum", fill_value=0)

"""The one risk rule, for every action (docs/recommendations.md, Risk).

risk = the highest of
1. the **confidence band**: low at confidence ≥ ``RiskConfig.low_risk_confidence`` (0.7), medium at
   ≥ ``medium_risk_confidence`` (0.35), high below;
2. the **floor of the consequence of being wrong**:
   - ``slower``: the estimate is too low and the work runs slower or waits (a CPU request cut, a slower
     GPU, GPUs taken from a node no pod held): low;
   - ``restart``: pods restart or start cold (spot interruptions, scale-to-zero's cold start, a node
     repack that reschedules every pod): medium; low only when the restart's cost is bounded and
     known (a spot job with a stated checkpoint interval in an interruption band under 10 %);
   - ``failure``: the pod fails (GPU or container memory below need is an OOM kill, a GPU taken from work
     that uses it): medium. Failure is worse than slower, so at the same confidence a failure-consequence
     action is never low;
3. for a **production downsizing on less than one daily cycle** of history (``daily_cycle_hours``): medium.

Confidence comes from the history (``optimizer.demand``): for workloads the smaller of history over a
full week and samples over ``full_confidence_samples``; for a node, its GPUs' observed hours over a
week; for the cluster plan, the lowest confidence of the workloads it re-packs.
"""

from __future__ import annotations

from optimizer.config import PRODUCTION, RiskConfig
from optimizer.demand import risk_from_confidence

RISKS = ("low", "medium", "high")
SLOWER, RESTART, FAILURE = "slower", "restart", "failure"
CONSEQUENCES = (SLOWER, RESTART, FAILURE)
_FLOOR = {SLOWER: "low", RESTART: "medium", FAILURE: "medium"}


def rate(confidence: float, consequence: str, cfg: RiskConfig, *, bounded: bool = False,
         production_downsizing_hours: float | None = None) -> str:
    """The risk of one recommendation by the rule above. ``bounded``: a restart whose cost is known and
    small; ``production_downsizing_hours``: the history of a production workload being made smaller."""
    if consequence not in _FLOOR:
        raise ValueError(f"unknown consequence {consequence!r}; expected one of {', '.join(CONSEQUENCES)}")
    levels = [risk_from_confidence(confidence, cfg.low_risk_confidence, cfg.medium_risk_confidence),
              "low" if consequence == RESTART and bounded else _FLOOR[consequence]]
    if production_downsizing_hours is not None and production_downsizing_hours < cfg.daily_cycle_hours:
        levels.append("medium")
    return max(levels, key=RISKS.index)


def for_workload(ctx, w, d, consequence: str, *, bounded: bool = False, downsizing: bool = True) -> str:
    """``rate`` for a workload's candidate: its demand's confidence, and the daily-cycle rule when it is a
    production workload being made smaller (``downsizing``)."""
    hours = d.history_hours if downsizing and w.value_class.name == PRODUCTION else None
    return rate(d.confidence, consequence, ctx.config.risk, bounded=bounded, production_downsizing_hours=hours)


def worst(*consequences: str) -> str:
    return max(consequences, key=CONSEQUENCES.index)


def history_confidence(hours: float, full_confidence_days: float) -> float:
    """Confidence of a node-level observation: its observed hours over the full-confidence history."""
    return round(max(0.0, min(1.0, hours / (full_confidence_days * 24))), 3)


def short_history_note(w, d, cfg: RiskConfig) -> str:
    """The rationale's clause for a production downsizing seen over less than a weekly cycle ('' else)."""
    if w.value_class.name != PRODUCTION or d.history_hours >= cfg.weekly_cycle_hours:
        return ""
    cycle = "one daily cycle" if d.history_hours < cfg.daily_cycle_hours else "a weekly cycle"
    return (f"seen over {d.history_hours:.0f} h, less than {cycle}, so a weekly peak may be missing "
            f"(confidence {d.confidence:.2f})")

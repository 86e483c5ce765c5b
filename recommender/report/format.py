"""Number and text formatting shared by report.html and report.md."""

from __future__ import annotations

ACTIONS = {
    "rightsize-requests": "Right-size requests",
    "change-instance-type": "Change instance type",
    "use-mig-slice": "Use a MIG slice",
    "share-gpu": "Share a GPU",
    "use-spot": "Run on spot",
    "scale-to-zero": "Scale to zero",
    "reclaim-idle-gpu": "Reclaim idle GPU",
    "consolidate-nodes": "Consolidate nodes",
    "set-replicas": "Set replica count",
}
GIB = 1024**3


def usd(value: float) -> str:
    """The one way money is written (report.html, report.md, charts, the terminal): whole dollars from
    $1,000, cents below; a minus sign before the dollar sign; never "-$0.00"."""
    value = round(float(value or 0), 2) + 0.0
    text = f"${abs(value):,.0f}" if abs(value) >= 1000 else f"${abs(value):,.2f}"
    return f"-{text}" if value < 0 else text


def workload_name(w) -> str:
    """``namespace/name (Kind)`` of a Recommendation or a NotEvaluated (anything with namespace, kind, name)."""
    ns = w.namespace
    return f"{ns + '/' if ns else ''}{w.name or ''} ({w.kind or '?'})"


def pct(value: float) -> str:
    value = float(value or 0) * 100
    return f"{value:.1f}%" if 0 < abs(value) < 10 else f"{value:.0f}%"


def gpu_hours(value: float) -> str:
    return f"{value:,.0f} h" if value >= 100 else f"{value:,.1f} h"


def action_label(action: str) -> str:
    return ACTIONS.get(action, action)


def _value(key: str, value) -> str:
    if value is None:
        return "–"
    if key in ("mem_request", "gpu_memory_bytes"):
        return f"{value / GIB:.1f} GiB"
    if key == "cpu_request":
        return f"{value:g} cores"
    if key == "gpu_fraction":
        return f"{value:.2g} GPU"
    return str(value)


def change_summary(rec) -> str:
    """``instance_type g5.12xlarge → g6.xlarge; gpu_count 4 → 1`` for the keys of a Recommendation's
    ``proposed`` that change."""
    cur, prop = rec.current or {}, rec.proposed or {}
    parts = []
    for key in ("instance_type", "capacity_type", "gpu_model", "gpu_count", "mig_profile", "gpu_fraction",
                "cpu_request", "mem_request", "min_replicas"):
        if key in prop and prop.get(key) != cur.get(key):
            parts.append(f"{key.replace('_', ' ')} {_value(key, cur.get(key))} → {_value(key, prop.get(key))}")
    return "; ".join(parts[:3])


def savings_sentence(total: float, workload: float, consolidation: float) -> str:
    """The one way savings are stated (report.html, report.md, the terminal): the total is
    ``summary.monthly_savings``; consolidation's saving overlaps the per-workload ones."""
    if consolidation > 0:
        return (f"{usd(total)} per month: per-workload changes save {usd(workload)}; the cluster-wide node mix "
                f"(consolidate-nodes) saves {usd(consolidation)}. The two overlap (the node mix re-packs the "
                "right-sized pods: the same money, not on top), so the total is the larger, not the sum")
    return f"{usd(total)} per month, from per-workload changes"


def bill_sentence(result) -> str:
    """The headline (report.html, report.md, the terminal, the webhook) of a RecommendationSet:
    ``monthly_bill_savings``, what the node bill loses when every recommendation is applied and the node
    plan with it; the showback change (``monthly_savings``) is named apart, as what it is."""
    text = f"{usd(result.monthly_bill_savings)} per month (today's node bill minus the plan's"
    if result.bill.priced:
        text += f"; {result.bill.priced}"
    return text + f"); the workloads' showback change is {usd(result.monthly_savings)} per month, not a bill saving"

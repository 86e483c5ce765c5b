"""report.md: the same numbers as report.html, as Markdown tables (charts are in the HTML report)."""

from __future__ import annotations

from recommender.report.format import action_label, change_summary, gpu_hours, pct, usd
from recommender.report.model import ReportData


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(d: ReportData) -> str:
    h = d.headline
    a = d.allocation
    out = [f"# {d.title}", "", f"Window: {d.window_label} · generated {d.generated_at:%Y-%m-%d %H:%M} UTC", "",
           "## Headline", "",
           f"- **Spend:** {usd(h.spend)} in the window ({usd(h.monthly_run_rate)} per month at this rate)",
           "- **Node bill savings:** " + h.bill_text,
           f"- **GPU-hours:** {gpu_hours(h.gpu_hours_allocated)} allocated, {gpu_hours(h.gpu_hours_used)} used "
           f"(of {gpu_hours(h.gpu_hours_capacity)} available)",
           f"- **GPU time idle:** {pct(h.gpu_idle_share)} (idle cost {usd(h.idle_cost)})",
           "- **Label coverage:** " + ", ".join(f"{k.replace('_', ' ')} {pct(v)}" for k, v in a.label_coverage.items()),
           f"- **Alerts:** {h.alerts}", ""]
    out += ["## Spend", ""]
    for dim, title in (("team", "Team"), ("project", "Project"), ("use_case", "Use case")):
        s = a.by(dim) if len(a.rows) else None
        if s is None or s.empty:
            continue
        total = float(s.sum()) or 1.0
        out += [f"### By {title.lower()}", "",
                _table([title, "Spend", "Share"], [[k, usd(v), pct(v / total)] for k, v in s.items()], {1, 2}), ""]
    out += ["## Value-class portfolio", "", _table(
        ["Value class", "Spend", "Per month", "Savings / month", "Workloads", "Inferred"],
        [[r["value_class"], usd(r["spend"]), usd(r["monthly"]), usd(r["savings"]), r["workloads"], r["inferred"]]
         for r in d.by_value_class], {1, 2, 3, 4, 5}), ""]
    out += ["## Top recommendations", ""]
    if d.top:
        out += [f"{len(d.recommendations)} recommendations; node bill savings " + h.bill_text
                + f". The {len(d.top)} largest (showback: the workload's allocated cost now minus proposed; bill: "
                "the node bill change if applied alone, without repacking):", ""]
        rows = []
        for i, r in enumerate(d.top, 1):
            w = r.get("workload") or {}
            file = r.get("suggestion_file")
            rows.append([i, f"{w.get('namespace') or '-'}/{w.get('name')} ({w.get('kind')})",
                         action_label(r.get("action", "")), change_summary(r), usd(r.get("monthly_savings") or 0),
                         usd(r.get("monthly_bill_savings") or 0), r.get("risk", ""), (r.get("rationale") or "") + (f" → `{file}`" if file else "")])
        out += [_table(["#", "Workload", "Action", "Change", "Showback / month", "Bill / month", "Risk", "Rationale"],
                       rows, {0, 4, 5}), ""]
    else:
        out += ["No recommendations for this window.", ""]
    out += ["## Budgets", ""]
    if d.budgets:
        out += [_table(["Scope", "Name", "Month", "Budget", "Month to date", "Projected", "Of budget", "Status"],
                       [[b.scope, b.name, b.month, usd(b.monthly_budget), usd(b.month_to_date), usd(b.projected),
                         pct(b.ratio), f"**{b.status}**" if b.status != "ok" else b.status] for b in d.budgets],
                       {3, 4, 5, 6}), ""]
    else:
        out += ["No budgets configured.", ""]
    out += ["## Cost spikes", ""]
    if d.spikes:
        out += [_table(["Date", "Scope", "Name", "Cost", "Baseline", "Above", "Size"],
                       [[s.date, s.scope, s.name, usd(s.cost), usd(s.baseline), usd(s.delta_usd),
                         f"{s.factor:.1f}x" if s.factor else "new"] for s in d.spikes], {3, 4, 5, 6}), ""]
    else:
        out += ["No spikes against the weekday-aware baseline.", ""]
    if d.panels:
        out += ["## Workloads", "", "Charts for these workloads are in report.html.", ""]
        rows = []
        for p in d.panels:
            mem = p.memory or {}
            cap = mem.get("capacity")
            rows.append([p.title, usd(p.cost), usd(p.savings),
                         f"{(mem.get('p99') or 0) / 1024**3:.1f} GiB" if mem else "–",
                         f"{cap / 1024**3:.0f} GiB" if cap else "–"])
        out += [_table(["Workload", "Cost", "Savings / month", "GPU mem p99", "GPU mem capacity"], rows, {1, 2, 3, 4}),
                ""]
    if d.delivery is not None:
        out += [f"_{d.delivery.describe()}_", ""]
    if d.notes:
        out += ["## Notes", "", *[f"- {n}" for n in d.notes], ""]
    return "\n".join(out)

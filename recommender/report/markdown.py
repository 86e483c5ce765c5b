"""report.md: the same numbers as report.html, as Markdown tables (charts are in the HTML report)."""

from __future__ import annotations

from recommender.report import tokens as tokens_section
from recommender.report.format import action_label, change_summary, gpu_hours, pct, usd, workload_name
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
           f"(of {gpu_hours(h.gpu_hours_capacity)} available; used = allocated GPU-hours weighted by GPU activity)",
           f"- **GPU time idle:** {pct(h.gpu_idle_share)} of all GPU-hours (allocated to nobody or below "
           f"{pct(h.gpu_idle_activity)} activity); idle cost {usd(h.idle_cost)}: GPU {usd(h.idle_gpu_cost)}, "
           f"CPU/RAM {usd(h.idle_cpu_ram_cost)}",
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
    out += ["## Recommendations", ""]
    if d.recommendations:
        out += [f"{len(d.recommendations)} recommendations; node bill savings " + h.bill_text
                + f". The {len(d.top)} largest in full" + (f", then the other {len(d.rest)}" if d.rest else "")
                + " (showback: the workload's allocated cost now minus proposed; bill: the node bill change if "
                "applied alone, without repacking):", ""]
        rows = []
        for i, r in enumerate(d.top, 1):
            file = r.suggestion_file
            rows.append([i, workload_name(r), action_label(r.action or ""), change_summary(r),
                         usd(r.monthly_savings or 0), usd(r.monthly_bill_savings or 0), r.risk or "",
                         (r.rationale or "") + (f" → `{file}`" if file else ""), f"`{r.id}`"])
        out += [_table(["#", "Workload", "Action", "Change", "Showback / month", "Bill / month", "Risk", "Rationale",
                        "Id"], rows, {0, 4, 5}), ""]
        if d.rest:
            out += [f"### The other {len(d.rest)}", "", _table(
                ["#", "Workload", "Action", "Showback / month", "Bill / month", "Risk", "Id"],
                [[i, workload_name(r), action_label(r.action or ""), usd(r.monthly_savings or 0),
                  usd(r.monthly_bill_savings or 0), r.risk or "", f"`{r.id}`"]
                 for i, r in enumerate(d.rest, len(d.top) + 1)], {0, 3, 4}), ""]
    else:
        out += ["No recommendations for this window.", ""]
    if d.not_evaluated:
        out += [f"### Not evaluated ({len(d.not_evaluated)})", "",
                "No recommendation is made for these workloads, and none is implied: the reason says what is missing.",
                "", _table(["Workload", "Reason", "History"],
                           [[workload_name(i), i.reason or "",
                             "–" if i.history_hours is None else f"{round(float(i.history_hours), 1):,.1f} h"]
                            for i in d.not_evaluated], {2}), ""]
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
    out += tokens_section.render_markdown(d, _table)
    if d.panels:
        out += ["## Workloads", "", "Charts for these workloads are in report.html.", ""]
        rows = []
        for p in d.panels:
            mem = p.memory or {}
            cap = mem.get("capacity")
            rows.append([p.title, usd(p.cost), usd(p.savings),
                         f"{(mem.get('p99') or 0) / 1024**3:.1f} GiB" if mem else "–",
                         f"{cap / 1024**3:.0f} GiB" if cap else "–", p.gpus_per_pod])
        out += [_table(["Workload", "Cost", "Savings / month", "GPU mem p99 per GPU", "Capacity per GPU", "GPUs per pod"],
                       rows, {1, 2, 3, 4, 5}), ""]
    if d.delivery is not None:
        out += [f"_{d.delivery.describe()}_", ""]
    if d.notes:
        out += ["## Notes", "", *[f"- {n}" for n in d.notes], ""]
    return "\n".join(out)

"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from recommender.alerts.spikes import complete_days
from recommender.report import charts
from recommender.report import tokens as tokens_section
from recommender.report.format import action_label, change_summary, gpu_hours, pct, usd, workload_name
from recommender.report.model import ReportData

CSS = (Path(__file__).with_name("report.css")).read_text(encoding="utf-8")


def render_html(data: ReportData) -> str:
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body><main>",
        _header(data), _headline(data), _spend(data), _portfolio(data), _recommendations(data),
        _budgets(data), _spikes(data), tokens_section.render_html(data), _workloads(data), _footer(data),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _figure(name: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{escape(name)}">{svg}{cap}</figure>'


def _header(d: ReportData) -> str:
    return (f'<header class="top"><div><p class="eyebrow">rightsizer weekly report</p>'
            f"<h1>{escape(d.title)}</h1><p class=\"window\">{escape(d.window_label)}</p></div>"
            f'<p class="generated">generated {d.generated_at:%Y-%m-%d %H:%M} UTC</p></header>')


def _headline(d: ReportData) -> str:
    h = d.headline
    used = h.gpu_hours_used / h.gpu_hours_allocated if h.gpu_hours_allocated else 0.0
    cards = [
        ("spend", "Spend in window", usd(h.spend), f"{usd(h.monthly_run_rate)} per month at this rate"),
        ("savings", "Node bill savings", f"{usd(h.monthly_bill_savings)}/mo",
         f"{pct(h.monthly_bill_savings / h.monthly_run_rate) if h.monthly_run_rate else '0%'} of the monthly run rate; "
         f"today's node bill minus the plan's (showback change {usd(h.monthly_savings)}, not a bill saving)"),
        ("gpu-hours", "GPU-hours allocated / used", f"{gpu_hours(h.gpu_hours_allocated)} / {gpu_hours(h.gpu_hours_used)}",
         f"used = allocated GPU-hours weighted by GPU activity: {pct(used)} of allocated"),
        ("gpu-idle", "GPU time idle", pct(h.gpu_idle_share),
         f"of all {gpu_hours(h.gpu_hours_capacity)} GPU-hours: allocated to nobody or below "
         f"{pct(h.gpu_idle_activity)} activity; idle cost {usd(h.idle_cost)} (GPU {usd(h.idle_gpu_cost)}, "
         f"CPU/RAM {usd(h.idle_cpu_ram_cost)})"),
        ("coverage", "Label coverage", pct(h.label_coverage), "of workload cost has a team label"),
        ("alerts", "Alerts", str(h.alerts), "budgets and spikes below"),
    ]
    html = "".join(
        f'<div class="card {"good" if key == "savings" else "warn" if key == "alerts" and h.alerts else ""}" '
        f'data-metric="{key}"><p class="label">{escape(label)}</p><p class="value">{escape(value)}</p>'
        f'<p class="sub">{escape(sub)}</p></div>' for key, label, value, sub in cards)
    return f'<section class="headline" aria-label="headline numbers">{html}</section>'


def _spend(d: ReportData) -> str:
    a = d.allocation
    figs = []
    for dim, title in (("team", "By team"), ("project", "By project"), ("use_case", "By use case")):
        s = a.by(dim) if len(a.rows) else None
        if s is None or s.empty:
            continue
        figs.append(f"<div><h3>{title}</h3>" + _figure(
            f"spend-{dim}", charts.bar_h([str(i) for i in s.index], list(s.values), f"spend by {dim}",
                                         highlight={"idle", "unallocated"})) + "</div>")
    daily = a.daily_by("team")
    whole = complete_days(a.day_hours, a.window_start, a.window_end)
    daily = daily[daily.index.isin(whole)] if not daily.empty else daily
    daily_fig = ""
    if not daily.empty:
        marks = [(s.name, s.date) for s in d.spikes if s.scope == "team"]
        daily_fig = "<h3>Daily spend by team</h3>" + _figure(
            "daily-team", charts.daily_stacked(daily, "daily spend by team", spikes=marks),
            "Whole days only; idle node cost is not included; spikes are the days flagged below.")
    cov = a.label_coverage
    coverage = " · ".join(f"{k.replace('_', ' ')} {pct(v)}" for k, v in cov.items())
    return (f'<section id="spend"><h2>Where the money goes</h2><p class="lead">{usd(d.headline.spend)} in the window, '
            f"of which {usd(d.headline.idle_cost)} is idle capacity (nodes paid for but not used by any pod): "
            f"{usd(d.headline.idle_gpu_cost)} of GPUs and {usd(d.headline.idle_cpu_ram_cost)} of CPU and memory. "
            f"Cost without labels is <em>unallocated</em>. Label coverage by cost: {escape(coverage)}.</p>"
            f'<div class="grid3">{"".join(figs)}</div>{daily_fig}</section>')


def _portfolio(d: ReportData) -> str:
    rows = "".join(
        f"<tr><td><span class=\"pill vc-{r['value_class']}\">{r['value_class']}</span></td>"
        f"<td class=num>{usd(r['spend'])}</td><td class=num>{usd(r['monthly'])}</td>"
        f"<td class=num>{usd(r['savings'])}</td><td class=num>{r['workloads']}</td><td class=num>{r['inferred']}</td>"
        f"<td class=num>{pct(r['gpu_hours_used'] / r['gpu_hours']) if r['gpu_hours'] else '–'}</td></tr>"
        for r in d.by_value_class)
    table = ("<table><thead><tr><th>value class</th><th class=num>spend</th><th class=num>per month</th>"
             "<th class=num>savings / month</th><th class=num>workloads</th><th class=num>inferred</th>"
             f"<th class=num>GPU use</th></tr></thead><tbody>{rows}</tbody></table>")
    fig = _figure("portfolio", charts.portfolio(d.by_value_class, "value-class portfolio"))
    return (f'<section id="portfolio"><h2>Value-class portfolio</h2><p class="lead">Production, experimental '
            "and background work are held to different policies (headroom, spot, scale-to-zero). "
            "<em>Inferred</em> counts workloads without a value-class label (Jobs are background, "
            f'dev/test namespaces experimental).</p><div class="split">{table}{fig}</div></section>')


def _who(r) -> tuple[str, str]:
    return str(r.name or ""), f"{r.namespace or '-'} · {r.kind or ''}"


def _recommendations(d: ReportData) -> str:
    if not d.recommendations:
        return ('<section id="recommendations"><h2>Recommendations</h2>'
                "<p class=\"lead\">No recommendations for this window.</p>" + _not_evaluated(d) + "</section>")
    rows = []
    for i, r in enumerate(d.top, 1):
        name, where = _who(r)
        file = r.suggestion_file
        link = f'<br><a href="{escape(file)}"><code>{escape(file)}</code></a>' if file else ""
        rows.append(
            f"<tr data-rec=\"{escape(str(r.id))}\"><td class=num>{i}</td><td><strong>{escape(name)}</strong><br>"
            f"<span class=muted>{escape(where)}</span><br><code>{escape(str(r.id))}</code></td>"
            f"<td>{escape(action_label(r.action or ''))}<br><span class=muted>{escape(change_summary(r))}</span></td>"
            f"<td class=num><strong>{usd(r.monthly_savings or 0)}</strong><br><span class=muted>"
            f"{usd(r.monthly_cost_current or 0)} → {usd(r.monthly_cost_proposed or 0)}</span></td>"
            f"<td class=num>{usd(r.monthly_bill_savings or 0)}</td>"
            f"<td><span class=\"pill risk-{escape(str(r.risk))}\">{escape(str(r.risk))}</span><br>"
            f"<span class=muted>confidence {pct(r.confidence or 0)}</span></td>"
            f"<td class=rationale>{escape(r.rationale or '')}{link}</td></tr>")
    h = d.headline
    rest = ""
    if d.rest:
        body = "".join(
            f"<tr data-rec=\"{escape(str(r.id))}\"><td class=num>{i}</td><td>{escape(_who(r)[0])} "
            f"<span class=muted>{escape(_who(r)[1])}</span></td><td>{escape(action_label(r.action or ''))}</td>"
            f"<td class=num>{usd(r.monthly_savings or 0)}</td>"
            f"<td class=num>{usd(r.monthly_bill_savings or 0)}</td><td>{escape(str(r.risk))}</td>"
            f"<td><code>{escape(str(r.id))}</code>"
            + (f' · <a href="{escape(r.suggestion_file)}">patch</a>' if r.suggestion_file else "")
            + "</td></tr>" for i, r in enumerate(d.rest, len(d.top) + 1))
        rest = (f"<h3>The other {len(d.rest)}</h3><table class=compact><thead><tr><th class=num>#</th>"
                "<th>workload</th><th>action</th><th class=num>showback / month</th><th class=num>bill / month</th>"
                f"<th>risk</th><th>id</th></tr></thead><tbody>{body}</tbody></table>")
    return (f'<section id="recommendations"><h2>Recommendations</h2><p class="lead">{len(d.recommendations)} '
            f"recommendations; node bill savings {escape(h.bill_text)}. Showback: the workload's allocated cost now "
            "minus proposed; bill: the node bill change if applied alone, without repacking. "
            f"The {len(d.top)} largest in full, "
            + (f"the other {len(d.rest)} in the table after them; " if d.rest else "")
            + "each with a kubectl-ready file in <code>suggestions/</code> where it changes a Kubernetes object.</p>"
            "<table class=recs><thead><tr><th class=num>#</th><th>workload</th><th>action</th>"
            "<th class=num>showback / month</th><th class=num>bill / month</th><th>risk</th><th>why</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{rest}{_not_evaluated(d)}</section>")


def _not_evaluated(d: ReportData) -> str:
    """Workloads the optimizer did not judge (``NotEvaluated``: recommendations.json ``not_evaluated``), with
    its reason."""
    if not d.not_evaluated:
        return ""
    body = "".join(
        f"<tr><td>{escape(workload_name(i))}</td><td>{escape(str(i.reason or ''))}</td>"
        f"<td class=num>{escape(_hours(i.history_hours))}</td></tr>" for i in d.not_evaluated)
    return (f"<h3>Not evaluated ({len(d.not_evaluated)})</h3><p class=muted>No recommendation is made for these "
            "workloads, and none is implied: the reason says what is missing.</p><table class=compact><thead><tr>"
            f"<th>workload</th><th>reason</th><th class=num>history</th></tr></thead><tbody>{body}</tbody></table>")


def _hours(value) -> str:
    return "–" if value is None else f"{round(float(value), 1):,.1f} h"


def _budgets(d: ReportData) -> str:
    if not d.budgets:
        return ('<section id="budgets"><h2>Budgets</h2><p class="lead">No budgets configured '
                "(config key <code>budgets</code>).</p></section>")
    rows = "".join(
        f"<tr><td>{escape(b.scope)}</td><td class=nowrap><strong>{escape(b.name)}</strong></td><td class=nowrap>{b.month}</td>"
        f"<td class=num>{usd(b.monthly_budget)}</td><td class=num>{usd(b.month_to_date)}</td>"
        f"<td class=num>{usd(b.run_rate_daily)}/day</td><td class=num>{usd(b.projected)}</td>"
        f"<td class=num>{pct(b.ratio)}</td><td><span class=\"pill status-{b.status}\">{b.status}</span></td></tr>"
        for b in d.budgets)
    fig = _figure("budgets", charts.budgets(d.budgets, "budgets: projected share"),
                  "Projected month-end spend as a share of each budget.")
    return ('<section id="budgets"><h2>Budgets</h2><p class="lead">Month-end projection = spend so far this month '
            "+ the window's daily run rate × the days not observed. Warning from 80 % of the budget.</p>"
            "<table><thead><tr><th>scope</th><th>name</th><th>month</th><th class=num>budget</th>"
            "<th class=num>month to date</th><th class=num>run rate</th><th class=num>projected</th>"
            f"<th class=num>of budget</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>{fig}</section>")


def _spikes(d: ReportData) -> str:
    if not d.spikes:
        return ('<section id="spikes"><h2>Cost spikes</h2><p class="lead">No day stood out against its '
                "weekday-aware baseline (median and MAD of the trailing days).</p></section>")
    rows = "".join(
        f"<tr><td>{s.date}</td><td>{escape(s.scope)}</td><td><strong>{escape(s.name)}</strong></td>"
        f"<td class=num>{usd(s.cost)}</td><td class=num>{usd(s.baseline)}</td><td class=num>+{usd(s.delta_usd)}</td>"
        f"<td class=num>{f'{s.factor:.1f}×' if s.factor else 'new'}</td><td>{escape(s.baseline_kind)} "
        f"({s.baseline_days} d)</td></tr>" for s in d.spikes)
    return ('<section id="spikes"><h2>Cost spikes</h2><p class="lead">Days whose cost is far above the median of '
            "comparable trailing days (robust z-score, ratio and dollar thresholds all passed).</p>"
            "<table><thead><tr><th>date</th><th>scope</th><th>name</th><th class=num>cost</th>"
            "<th class=num>baseline</th><th class=num>above</th><th class=num>size</th><th>baseline of</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></section>")


def _workloads(d: ReportData) -> str:
    if not d.panels:
        note = " ".join(d.notes) or "No GPU workloads in the window."
        return f'<section id="workloads"><h2>Workloads</h2><p class="lead">{escape(note)}</p></section>'
    blocks = []
    for p in d.panels:
        figs = []
        slug = "-".join(p.key).lower()
        if p.histogram is not None:
            figs.append(_figure(f"util-{slug}", charts.utilization_histogram(
                *p.histogram, f"GPU activity distribution of {p.title}", source=p.activity_source),
                "Utilization distribution"))
        if p.hour_of_week is not None:
            figs.append(_figure(f"how-{slug}", charts.hour_of_week_heatmap(
                p.hour_of_week, f"hour-of-week GPU activity of {p.title}"), "Hour of week (UTC)"))
        if p.memory is not None:
            per = f" (pod total ÷ {p.gpus_per_pod} GPUs)" if p.gpus_per_pod > 1 else ""
            figs.append(_figure(f"mem-{slug}", charts.memory_vs_capacity(
                p.memory, f"GPU memory of {p.title}", gpus_per_pod=p.gpus_per_pod),
                f"Memory used vs capacity, per GPU{per}"))
        if not figs:
            figs.append('<p class="muted">No GPU profile for this workload.</p>')
        blocks.append(f'<article class="workload"><h3>{escape(p.title)}</h3><p class="muted">cost {usd(p.cost)} '
                      f"in the window · potential savings {usd(p.savings)}/month</p>"
                      f'<div class="grid3">{"".join(figs)}</div></article>')
    return ('<section id="workloads"><h2>Workloads</h2><p class="lead">The GPU workloads with the largest savings '
            f"(then the largest cost): how busy their GPUs are, when, and how much memory they hold.</p>{''.join(blocks)}"
            "</section>")


def _footer(d: ReportData) -> str:
    delivery = f" · {escape(d.delivery.describe())}" if d.delivery else ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in d.notes if not n.startswith("Per-workload charts"))
    notes = f"<ul class=notes>{notes}</ul>" if notes else ""
    return (f"<footer>{notes}<p>Cost model: node prices from the instance catalog split into GPU, CPU and RAM parts; each "
            "pod is charged max(request, usage) per resource for the time it ran; shared GPUs are split by "
            "max(equal slot, measured share), MIG slices by their share of the GPU's SMs; what no pod is charged is idle. Node bill savings are today's node "
            "bill minus the plan's; a recommendation's showback change is not a bill saving. "
            f"Money is USD; a month is 730 hours.{delivery}</p></footer>")

"""The report's LLM serving section (report.html and report.md): $ per 1M tokens by model and team, tokens
per GPU-hour, the busiest and idlest hours, the prompt share of the cost, prompt-length outliers, the
prefix-cache hit rate and the token guard rails. Numbers: recommender/tokens (SPEC.md)."""

from __future__ import annotations

from html import escape

from recommender.alerts.tokens import tokens_text
from recommender.report import charts
from recommender.report.format import pct, usd
from recommender.report.model import ReportData


def rate(value: float | None) -> str:
    """$ per 1M tokens: cents shown down to a tenth of a cent (a managed API's $0.22 is a typical rate)."""
    if value is None:
        return "–"
    return f"${value:,.0f}" if value >= 1000 else f"${value:,.2f}" if value >= 1 else f"${value:,.3f}"


def _tokens_or_dash(value: float | None) -> str:
    return "–" if value is None else tokens_text(value)


def _pct_or_dash(value: float | None) -> str:
    return "–" if value is None else pct(value)


def _totals(d: ReportData) -> dict:
    return d.tokens.summary()


def _lead(d: ReportData) -> str:
    s = _totals(d)
    rules = sorted({r.split_rule for r in d.tokens.priced}) or ["no rule (nothing priced)"]
    priced = d.tokens.priced
    share = sum(r.prompt_cost for r in priced) / s["cost"] if s["cost"] else None
    text = (f"{s['serving_workloads']} serving workload(s) served {tokens_text(s['prompt_tokens'] + s['generation_tokens'])} "
            f"tokens ({tokens_text(s['prompt_tokens'])} prompt, {tokens_text(s['generation_tokens'])} generated) "
            f"for {usd(s['cost'])} of allocated cost: {rate(s['usd_per_1m_tokens'])} per 1M tokens blended, "
            f"{rate(s['usd_per_1m_prompt_tokens'])} per 1M prompt and {rate(s['usd_per_1m_generation_tokens'])} per "
            f"1M generated tokens")
    if share is not None:
        text += f"; prompts take {pct(share)} of the cost"
    text += (". Cost is each serving workload's allocated cost (shared GPUs and MIG slices included), split over "
             "its models by tokens and over prompt and generation by " + " or ".join(rules) + " (docs/llm.md).")
    busiest, idlest = d.tokens.busiest_and_idlest_hours()
    if busiest and idlest:
        text += (f" Busiest hour: {busiest[0]:%Y-%m-%d %H:00} UTC with {tokens_text(busiest[1])} tokens; idlest: "
                 f"{idlest[0]:%Y-%m-%d %H:00} UTC with {tokens_text(idlest[1])}.")
    if s["unpriced_tokens"]:
        text += f" {tokens_text(s['unpriced_tokens'])} tokens of unpriced workloads have no cost."
    return text


MODEL_HEADER = ["model", "servers", "tokens", "cost", "$/1M", "$/1M prompt", "$/1M gen.", "prompt $ share",
                "tokens/GPU-h", "p99 prompt", "cache hits"]


def _model_cells(m: dict) -> list[str]:
    return [str(m["name"]), ", ".join(m["servers"]), tokens_text(m["tokens"]), usd(m["cost"]),
            rate(m["usd_per_1m_tokens"]), rate(m["usd_per_1m_prompt_tokens"]), rate(m["usd_per_1m_generation_tokens"]),
            _pct_or_dash(m["prompt_share_of_cost"]), _tokens_or_dash(m["tokens_per_gpu_hour"]),
            "–" if m["prompt_tokens_p99"] is None else f"{m['prompt_tokens_p99']:,.0f}",
            _pct_or_dash(m["prefix_cache_hit_rate"])]


TEAM_HEADER = ["team", "tokens", "cost", "$/1M", "$/1M prompt", "$/1M gen.", "tokens/GPU-h"]


def _team_cells(t: dict) -> list[str]:
    return [str(t["name"]), tokens_text(t["tokens"]), usd(t["cost"]), rate(t["usd_per_1m_tokens"]),
            rate(t["usd_per_1m_prompt_tokens"]), rate(t["usd_per_1m_generation_tokens"]),
            _tokens_or_dash(t["tokens_per_gpu_hour"])]


BUDGET_HEADER = ["scope", "name", "unit", "month", "budget", "month to date", "projected", "of budget", "status"]


def _budget_cells(b) -> list[str]:
    return [b.scope, b.name, b.unit, b.month, b.amount(b.monthly_budget), b.amount(b.month_to_date),
            b.amount(b.projected), pct(b.ratio), b.status]


SPIKE_HEADER = ["date", "scope", "name", "tokens", "baseline", "above", "size"]


def _spike_cells(s) -> list[str]:
    return [s.date, s.scope, s.name, tokens_text(s.cost), tokens_text(s.baseline), tokens_text(s.delta_usd),
            f"{s.factor:.1f}×" if s.factor else "new"]


# -- HTML ----------------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]], name: str, first_text: int = 2) -> str:
    head = "".join(f"<th{'' if i < first_text else ' class=num'}>{escape(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{'' if i < first_text else ' class=num'}>{escape(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class=compact data-table="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(name: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{escape(name)}">{svg}{cap}</figure>'


def render_html(d: ReportData) -> str:
    if d.tokens is None:
        return ""
    models, teams = d.tokens.models(), d.tokens.by("team")
    figs = []
    priced = [m for m in models if m["usd_per_1m_tokens"] is not None]
    if priced:
        figs.append("<div><h3>$ per 1M tokens by model</h3>" + _figure("tokens-usd-per-1m-model", charts.bar_h(
            [m["name"] for m in priced], [m["usd_per_1m_tokens"] for m in priced], "$ per 1M tokens by model",
            fmt=rate, others=False)) + "</div>")
    by_team = [t for t in teams if t["usd_per_1m_tokens"] is not None]
    if by_team:
        figs.append("<div><h3>$ per 1M tokens by team</h3>" + _figure("tokens-usd-per-1m-team", charts.bar_h(
            [t["name"] for t in by_team], [t["usd_per_1m_tokens"] for t in by_team], "$ per 1M tokens by team",
            fmt=rate, others=False)) + "</div>")
    per_gpu = [m for m in models if m["tokens_per_gpu_hour"] is not None]
    if per_gpu:
        figs.append("<div><h3>Tokens per GPU-hour</h3>" + _figure("tokens-per-gpu-hour", charts.bar_h(
            [m["name"] for m in per_gpu], [m["tokens_per_gpu_hour"] for m in per_gpu], "tokens per GPU-hour by model",
            fmt=tokens_text, others=False)) + "</div>")
    hours = d.tokens.hour_of_day()
    hourly = ""
    if (hours == hours).any():
        busiest, idlest = _nanarg(hours, max), _nanarg(hours, min)
        hourly = "<h3>Tokens by hour of the day</h3>" + _figure(
            "tokens-hourly", charts.hour_of_day_bars(hours, "mean tokens per hour by hour of the day (UTC)",
                                                     busiest=busiest, idlest=idlest, fmt=tokens_text),
            f"Mean tokens per hour over the window; busiest hour of the day {busiest:02d}:00 UTC (red), "
            f"idlest {idlest:02d}:00 UTC (grey).")
    legend = ("<p class=muted>$/1M: cost per million tokens (blended, prompt, generated); prompt $ share: the "
              "prompts' part of the cost; p99 prompt: 99th percentile of prompt length in tokens (from the "
              "server's histogram); cache hits: prompt tokens served from the prefix cache.</p>")
    return (f'<section id="tokens"><h2>LLM serving: cost per token</h2><p class="lead">{escape(_lead(d))}</p>'
            + _table(MODEL_HEADER, [_model_cells(m) for m in models], "tokens-models") + legend
            + f'<div class="grid3">{"".join(figs)}</div>{hourly}<h3>By team</h3>'
            + _table(TEAM_HEADER, [_team_cells(t) for t in teams], "tokens-teams", first_text=1)
            + _guard_rails_html(d) + "</section>")


def _nanarg(values, pick) -> int:
    valid = [(v, h) for h, v in enumerate(values) if v == v]
    return pick(valid)[1]


def _guard_rails_html(d: ReportData) -> str:
    out = "<h3>Token guard rails</h3>"
    if d.token_budgets:
        out += _table(BUDGET_HEADER, [_budget_cells(b) for b in d.token_budgets], "token-budgets", first_text=4)
    else:
        out += "<p class=muted>No token budgets configured (config key <code>tokens.budgets</code>).</p>"
    if d.token_spikes:
        out += _table(SPIKE_HEADER, [_spike_cells(s) for s in d.token_spikes], "token-spikes", first_text=3)
    else:
        out += "<p class=muted>No day's tokens stood out against the weekday-aware baseline.</p>"
    return out


# -- Markdown ------------------------------------------------------------------------------------------
def render_markdown(d: ReportData, table) -> list[str]:
    """report.md's lines for the section; ``table`` is report.md's table writer."""
    if d.tokens is None:
        return []
    models, teams = d.tokens.models(), d.tokens.by("team")
    out = ["## LLM serving: cost per token", "", _lead(d), "", "### By model", "",
           table(MODEL_HEADER, [_model_cells(m) for m in models], set(range(2, len(MODEL_HEADER)))), "",
           "### By team", "", table(TEAM_HEADER, [_team_cells(t) for t in teams], set(range(1, len(TEAM_HEADER)))), ""]
    hours = d.tokens.hour_of_day()
    if (hours == hours).any():
        out += [f"Mean tokens per hour peak at {_nanarg(hours, max):02d}:00 UTC and are lowest at "
                f"{_nanarg(hours, min):02d}:00 UTC (charts in report.html).", ""]
    out += ["### Token guard rails", ""]
    if d.token_budgets:
        out += [table(BUDGET_HEADER, [_budget_cells(b) for b in d.token_budgets], {4, 5, 6, 7}), ""]
    else:
        out += ["No token budgets configured (config key `tokens.budgets`).", ""]
    if d.token_spikes:
        out += [table(SPIKE_HEADER, [_spike_cells(s) for s in d.token_spikes], {3, 4, 5, 6}), ""]
    else:
        out += ["No day's tokens stood out against the weekday-aware baseline.", ""]
    return out

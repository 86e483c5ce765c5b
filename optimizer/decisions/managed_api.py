"""use-managed-api: serve a self-hosted model's tokens through a managed API that offers the same model, when
the tokens the pods served, at their measured prompt/generation mix, would cost less there than the pods
cost (docs/llm.md).

    API $/month          = (prompt tokens × input $/1M + generation tokens × output $/1M) ÷ 10⁶ × 730 ÷ window h
    break-even tokens/mo = the pods' cost per month ÷ the blended API $ per token at the measured mix

Above the break-even volume self-hosting wins again (the pods cost the same at any load they can serve;
the API's bill grows with every token). The managed model comes only from the configured mapping
(``managed_api.models``: same-model offers by default) and a price in the workload's region; anything
else is not compared, never guessed.
"""

from __future__ import annotations

from optimizer.config import PRODUCTION
from optimizer.costing import HOURS_PER_MONTH
from optimizer.decisions import risk
from optimizer.decisions.base import RISKS, Candidate, Context
from optimizer.demand import Demand
from optimizer.inventory import Workload
from optimizer.llm.managed import managed_model_for

ACTION = "use-managed-api"


def break_even_tokens_per_month(self_hosted_monthly: float, prompt_tokens: float, generation_tokens: float,
                                input_per_1m: float, output_per_1m: float) -> float:
    """Tokens a month at which the API's bill, at this prompt/generation mix, equals the self-hosted cost."""
    total = prompt_tokens + generation_tokens
    per_token = (prompt_tokens * input_per_1m + generation_tokens * output_per_1m) / 1e6 / total
    return float("inf") if per_token <= 0 else self_hosted_monthly / per_token


def _millions(x: float) -> str:
    return f"{x / 1e6:,.1f}M" if x < 1e9 else f"{x / 1e9:,.2f}B"


def decide(w: Workload, d: Demand, ctx: Context) -> Candidate | None:
    cfg = ctx.config.llm.managed
    usages = (ctx.serving or {}).get(w.key) or []
    if not cfg.enabled or ctx.managed_prices is None or not usages or not d.enough_history:
        return None
    production = w.value_class.name == PRODUCTION
    if production and cfg.production == "never":
        return None
    named = (w.labels or {}).get(ctx.config.llm.kv.model_annotation)
    served = {named} if named else {u.model for u in usages if u.model}
    if len(served) != 1:
        return None  # no model label (TGI), or several models behind one workload: no single offer to compare
    model = next(iter(served))
    managed_id = managed_model_for(model, cfg.models)
    if managed_id is None:
        return None
    region = ctx.region_of(w)
    price = ctx.managed_prices.price(managed_id, region)
    if price is None:
        return None
    prompt = sum(u.prompt_tokens for u in usages)
    generation = sum(u.generation_tokens for u in usages)
    if prompt + generation <= 0:
        return None
    window_h = ctx.inventory.window_seconds / 3600
    current_h = ctx.current_hourly(w)
    if current_h is None or window_h <= 0:
        return None
    api_h = price.cost(prompt, generation) / window_h
    if api_h >= current_h:
        return None  # the pods serve these tokens for less: nothing to propose
    per_month = HOURS_PER_MONTH / window_h
    monthly_tokens = (prompt + generation) * per_month
    self_hosted = current_h * HOURS_PER_MONTH
    api_monthly = api_h * HOURS_PER_MONTH
    break_even = break_even_tokens_per_month(self_hosted, prompt, generation, price.input_per_1m,
                                             price.output_per_1m)
    prompt_share = prompt / (prompt + generation)
    rationale = (f"{w.name} served {_millions(monthly_tokens)} tokens a month of {model} "
                 f"({100 * prompt_share:.0f} % prompt) for ${self_hosted:,.2f}/month of GPU pods; "
                 f"{price.name} on {ctx.managed_prices.service} in {region} at ${price.input_per_1m:g}/"
                 f"${price.output_per_1m:g} per 1M input/output tokens would cost ${api_monthly:,.2f}/month for "
                 f"the same tokens, ${self_hosted - api_monthly:,.2f} less; self-hosting wins again above "
                 f"{_millions(break_even)} tokens a month ({break_even / monthly_tokens:.1f}× today's volume) "
                 f"at this mix; prices as of {price.as_of or 'an unknown date'}"
                 + ("" if price.verified else ", not verified against the live price page")
                 + "; the API spend is a new bill line, not a saving on its own")
    level = risk.for_workload(ctx, w, d, risk.SLOWER, downsizing=False)
    proposal_only = production and cfg.production == "proposal"
    if proposal_only:
        level = max(level, cfg.production_min_risk, key=RISKS.index)
        rationale += (f"; production: a proposal to evaluate (latency, quotas, data residency), "
                      f"risk at least {cfg.production_min_risk}")
    rationale += "."
    current = {"model": model, "server": usages[0].server, "pods": len({u.pod for u in usages}),
               "monthly_tokens": round(monthly_tokens), "prompt_share": round(prompt_share, 4)}
    proposed = {"managed_model": managed_id, "provider": ctx.managed_prices.service, "region": region,
                "monthly_tokens": round(monthly_tokens)}
    extra = {"consequence": risk.SLOWER, "managed_price": price.to_json_dict(),
             "managed_api_monthly": round(api_monthly, 2), "self_hosted_monthly": round(self_hosted, 2),
             "monthly_difference": round(self_hosted - api_monthly, 2),
             "break_even_tokens_per_month": round(break_even), "window_tokens": {"prompt": prompt,
                                                                                "generation": generation},
             "proposal_only": proposal_only}
    return Candidate(ACTION, current, proposed, current_h, api_h, rationale, level, frozenset({"managed"}), None,
                     extra)

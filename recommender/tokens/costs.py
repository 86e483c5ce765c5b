"""$ per 1M tokens: the serving workloads' allocated cost split over the models they served (SPEC.md).

One ``TokenRow`` per (workload, server, model): the workload's cost in allocation.csv (the one cost model:
shared GPUs and MIG slices included) split over its models by tokens, in cents that add up exactly to the
workload's allocated cost, then over prompt and generation tokens by the measured prefill/decode time
shares, or by the configured generation weight where the server exports no times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.llm.usage import ServingUsage, bucket_quantile, read_tokens, serving_usage
from recommender.allocation.labels import UNALLOCATED
from recommender.allocation.result import round_to_cents

CSV_COLUMNS = ["team", "project", "use_case", "value_class", "namespace", "workload", "model", "server",
               "prompt_tokens", "generation_tokens", "requests", "cost", "usd_per_1m_tokens",
               "usd_per_1m_prompt_tokens", "usd_per_1m_generation_tokens"]
PER_MILLION = 1_000_000
NO_MODEL = "(no model label)"  # how a TGI pod's rows (the server has no model label) are named in the report


@dataclass
class TokenRow:
    """One serving workload × server × model over the window."""

    team: str
    project: str
    use_case: str
    value_class: str
    namespace: str
    kind: str
    workload: str
    server: str
    model: str | None
    prompt_tokens: int
    generation_tokens: int
    requests: int | None
    cached_prompt_tokens: int | None    # None: the server exports no prefix-cache counter
    prefill_seconds: float | None
    decode_seconds: float | None
    prompt_hist: dict = field(default_factory=dict)  # le -> requests (cumulative), summed over the pods
    cost: float | None = None           # USD over the window, in cents; None: the workload is unpriced
    prompt_cost: float | None = None
    generation_cost: float | None = None
    split_rule: str = ""                # "prefill/decode time" | "generation weight N" | "" (no cost)
    gpu_hours: float = 0.0              # the row's share of the workload's allocated GPU-hours

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generation_tokens

    @property
    def model_name(self) -> str:
        return self.model if self.model is not None else NO_MODEL

    @property
    def usd_per_1m_tokens(self) -> float | None:
        return per_million(self.cost, self.tokens)

    @property
    def usd_per_1m_prompt_tokens(self) -> float | None:
        return per_million(self.prompt_cost, self.prompt_tokens)

    @property
    def usd_per_1m_generation_tokens(self) -> float | None:
        return per_million(self.generation_cost, self.generation_tokens)

    @property
    def prompt_share_of_cost(self) -> float | None:
        return None if not self.cost else self.prompt_cost / self.cost


def per_million(cost: float | None, tokens: int) -> float | None:
    """cost ÷ tokens × 10⁶; None when there is no cost or no token to divide by."""
    if cost is None or tokens <= 0:
        return None
    return cost / tokens * PER_MILLION


@dataclass
class TokenCosts:
    """Everything the outputs say about tokens in one run: tokens.csv's rows, the daily series of the
    guard rails and the report's hours."""

    rows: list[TokenRow]
    window_start: datetime | None
    window_end: datetime | None
    daily: pd.DataFrame      # date, team, model, tokens, cost (cost NaN where unpriced)
    hourly: pd.Series        # tokens per UTC hour (index: hour start, tz-aware), every hour of the window
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def priced(self) -> list[TokenRow]:
        return [r for r in self.rows if r.cost is not None]

    def write_csv(self, path) -> None:
        """tokens.csv: the contract columns; money in USD over the window (the same as allocation.csv's),
        $ per 1M tokens unrounded (cost ÷ tokens × 10⁶ of the cost as written), empty where undefined."""
        out = []
        for r in self.rows:
            out.append({"team": r.team, "project": r.project, "use_case": r.use_case, "value_class": r.value_class,
                        "namespace": r.namespace, "workload": r.workload, "model": r.model or "", "server": r.server,
                        "prompt_tokens": r.prompt_tokens, "generation_tokens": r.generation_tokens,
                        "requests": "" if r.requests is None else r.requests,
                        "cost": "" if r.cost is None else f"{r.cost:.2f}",
                        "usd_per_1m_tokens": _num(r.usd_per_1m_tokens),
                        "usd_per_1m_prompt_tokens": _num(r.usd_per_1m_prompt_tokens),
                        "usd_per_1m_generation_tokens": _num(r.usd_per_1m_generation_tokens)})
        pd.DataFrame(out, columns=CSV_COLUMNS).to_csv(path, index=False)

    def by(self, column: str) -> list[dict]:
        """Priced rows summed per ``column`` (model_name, team, project, use_case, value_class, namespace):
        tokens, cost, $ per 1M tokens (blended and split), GPU-hours and tokens per GPU-hour, largest cost first."""
        groups: dict[str, list[TokenRow]] = {}
        for r in self.priced:
            groups.setdefault(getattr(r, column), []).append(r)
        out = []
        for name, rows in groups.items():
            tokens = sum(r.tokens for r in rows)
            prompt = sum(r.prompt_tokens for r in rows)
            gen = sum(r.generation_tokens for r in rows)
            cost = round(sum(r.cost for r in rows), 2)
            pcost = sum(r.prompt_cost for r in rows)
            gpu_h = sum(r.gpu_hours for r in rows)
            out.append({"name": name, "tokens": tokens, "prompt_tokens": prompt, "generation_tokens": gen,
                        "cost": cost, "usd_per_1m_tokens": per_million(cost, tokens),
                        "usd_per_1m_prompt_tokens": per_million(pcost, prompt),
                        "usd_per_1m_generation_tokens": per_million(cost - pcost, gen),
                        "prompt_share_of_cost": pcost / cost if cost else None, "gpu_hours": gpu_h,
                        "tokens_per_gpu_hour": tokens / gpu_h if gpu_h > 0 else None})
        return sorted(out, key=lambda g: (-g["cost"], str(g["name"])))

    def models(self) -> list[dict]:
        """Per served model: the by-model sums plus p99 prompt length (from the prompt-length histogram,
        None where not exported) and the prefix-cache hit rate (None where not exported)."""
        out = []
        for g in self.by("model_name"):
            rows = [r for r in self.rows if r.model_name == g["name"]]
            hist: dict[float, int] = {}
            for r in rows:
                for le, c in r.prompt_hist.items():
                    hist[le] = hist.get(le, 0) + c
            cached = [r for r in rows if r.cached_prompt_tokens is not None]
            cached_prompt = sum(r.prompt_tokens for r in cached)
            out.append({**g, "servers": sorted({r.server for r in rows}),
                        "requests": sum(r.requests or 0 for r in rows),
                        "prompt_tokens_p99": bucket_quantile(hist, 0.99),
                        "prefix_cache_hit_rate": (sum(r.cached_prompt_tokens for r in cached) / cached_prompt
                                                  if cached and cached_prompt else None)})
        return out

    def busiest_and_idlest_hours(self) -> tuple[tuple[datetime, int] | None, tuple[datetime, int] | None]:
        """(hour start, tokens) of the busiest and of the idlest whole UTC hour of the window."""
        if self.hourly.empty:
            return None, None
        return ((self.hourly.idxmax().to_pydatetime(), int(self.hourly.max())),
                (self.hourly.idxmin().to_pydatetime(), int(self.hourly.min())))

    def hour_of_day(self) -> np.ndarray:
        """Mean tokens per hour for each UTC hour of the day (0..23; NaN where the window has no such hour)."""
        out = np.full(24, np.nan)
        if self.hourly.empty:
            return out
        means = self.hourly.groupby(self.hourly.index.hour).mean()
        out[means.index.to_numpy()] = means.to_numpy()
        return out

    def summary(self) -> dict:
        """recommendations.json ``summary.tokens``: the window's totals (additive key)."""
        priced = self.priced
        tokens = sum(r.tokens for r in priced)
        cost = round(sum(r.cost for r in priced), 2)
        prompt = sum(r.prompt_tokens for r in priced)
        pcost = sum(r.prompt_cost for r in priced)
        return {"serving_workloads": len({(r.namespace, r.kind, r.workload) for r in self.rows}),
                "models": sorted({r.model_name for r in self.rows}),
                "prompt_tokens": sum(r.prompt_tokens for r in self.rows),
                "generation_tokens": sum(r.generation_tokens for r in self.rows),
                "cost": cost, "usd_per_1m_tokens": _round(per_million(cost, tokens)),
                "usd_per_1m_prompt_tokens": _round(per_million(pcost, prompt)),
                "usd_per_1m_generation_tokens": _round(per_million(cost - pcost, tokens - prompt)),
                "unpriced_tokens": sum(r.tokens for r in self.rows if r.cost is None)}


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# -- building -------------------------------------------------------------------------------------------
def token_costs(dataset, allocation, config=None, *, start: datetime | None = None,
                end: datetime | None = None, usage: list[ServingUsage] | None = None,
                pod_workload: dict[tuple[str, str], tuple[str, str, str]] | None = None) -> TokenCosts:
    """The token rows of ``dataset``'s tokens table over [start, end), priced with ``allocation`` (the
    AllocationResult of the same window). An empty result when the dataset has no tokens table. ``usage``:
    the table's summaries per serving pod when the caller has them (a recommend run's), else summed here.
    ``pod_workload``: (namespace, pod) -> workload key of the run's observed cluster
    (``Inventory.pod_workload``), else read from the observed cluster's pods change log here."""
    from recommender.config import Config

    config = config or Config()
    table = read_tokens(dataset, start, end)
    window = (allocation.window_start, allocation.window_end)
    if table is None or table.num_rows == 0:
        return TokenCosts([], *window, _empty_daily(), pd.Series(dtype=float))
    usage = serving_usage(table) if usage is None else usage
    if pod_workload is None:
        from optimizer.observed_scan import PodsLog

        pod_workload = PodsLog(dataset.read("pods", None, end)).pod_workload
    rows, notes = _rows(usage, pod_workload, allocation, config.tokens.generation_weight)
    daily, hourly = _series(table, pod_workload, rows, allocation)
    return TokenCosts(rows, *window, daily, hourly, notes)


def _rows(usage: list[ServingUsage], pods: dict, allocation, weight: float) -> tuple[list[TokenRow], list[str]]:
    costs = allocation.workload_costs()  # cents, exactly as allocation.csv writes them
    alloc_rows = allocation.rows[allocation.rows["row_type"] == "workload"]
    gpu_hours = {(r.namespace, r.kind, r.workload): float(r.gpu_hours) for r in alloc_rows.itertuples(index=False)}
    merged: dict[tuple, TokenRow] = {}
    for u in usage:
        key = pods.get((u.namespace, u.pod), (u.namespace, "Pod", u.pod))
        row = merged.get((key, u.server, u.model))
        if row is None:
            owner = allocation.owners.get(key)
            row = merged[(key, u.server, u.model)] = TokenRow(
                team=owner.team if owner else UNALLOCATED, project=owner.project if owner else UNALLOCATED,
                use_case=owner.use_case if owner else UNALLOCATED, value_class=owner.value_class if owner else "",
                namespace=key[0], kind=key[1], workload=key[2], server=u.server, model=u.model, prompt_tokens=0,
                generation_tokens=0, requests=None, cached_prompt_tokens=None, prefill_seconds=None,
                decode_seconds=None)
        row.prompt_tokens += u.prompt_tokens
        row.generation_tokens += u.generation_tokens
        row.requests = _add(row.requests, u.requests)
        row.cached_prompt_tokens = _add(row.cached_prompt_tokens, u.cached_prompt_tokens)
        row.prefill_seconds = _add(row.prefill_seconds, u.prefill_seconds)
        row.decode_seconds = _add(row.decode_seconds, u.decode_seconds)
        for le, c in u.prompt_hist.items():
            row.prompt_hist[le] = row.prompt_hist.get(le, 0) + c
    per_workload: dict[tuple, list[TokenRow]] = {}
    for row in merged.values():
        per_workload.setdefault((row.namespace, row.kind, row.workload), []).append(row)
    unpriced = []
    for key, rows in per_workload.items():
        if key not in costs:
            unpriced.append(f"{key[0]}/{key[2]}")
            continue
        tokens = np.array([r.tokens for r in rows], dtype=float)
        shares = tokens / tokens.sum() if tokens.sum() > 0 else np.full(len(rows), 1 / len(rows))
        cents = round_to_cents(costs[key] * shares, round(costs[key] * 100))
        for r, c, s in zip(rows, cents, shares, strict=True):
            r.cost = int(c) / 100.0
            r.gpu_hours = gpu_hours.get(key, 0.0) * float(s)
            _split(r, weight)
    notes = []
    if unpriced:
        notes.append(f"Tokens of {len(unpriced)} serving workload(s) have no allocated cost (their nodes are "
                     f"unpriced or they ran outside the window), so no $ per 1M tokens: {', '.join(sorted(unpriced))}.")
    rows = sorted(merged.values(), key=lambda r: (-(r.cost or 0), r.namespace, r.workload, r.model_name))
    return rows, notes


def _split(row: TokenRow, weight: float) -> None:
    """Prompt and generation cost: by the measured prefill/decode time where the server exports both
    histograms (and they measured some time), else by ``weight`` generation-token units per prompt token."""
    pre, dec = row.prefill_seconds, row.decode_seconds
    if pre is not None and dec is not None and pre + dec > 0:
        share = pre / (pre + dec)
        row.split_rule = "prefill/decode time"
    else:
        units = row.prompt_tokens + weight * row.generation_tokens
        share = row.prompt_tokens / units if units > 0 else 0.5
        row.split_rule = f"generation weight {weight:g}"
    if row.prompt_tokens == 0:
        share = 0.0 if row.generation_tokens else share
    elif row.generation_tokens == 0:
        share = 1.0
    row.prompt_cost = row.cost * share
    row.generation_cost = row.cost - row.prompt_cost


def _add(total, value):
    if value is None:
        return total
    return value if total is None else total + value


def _empty_daily() -> pd.DataFrame:
    return pd.DataFrame(columns=["date", "team", "model", "tokens", "cost"])


def _series(table, pods: dict, rows: list[TokenRow], allocation) -> tuple[pd.DataFrame, pd.Series]:
    """Daily tokens and cost per (team, model), and tokens per UTC hour of the window.

    The rows (millions for a week of servers at 10 s) are summed per (day, pod, server, model) and per hour
    with Arrow and numpy first; only those sums are mapped to workloads."""
    ms = table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    tokens = (pc.fill_null(table.column("prompt_tokens"), 0).to_numpy(zero_copy_only=False).astype(np.int64)
              + pc.fill_null(table.column("generation_tokens"), 0).to_numpy(zero_copy_only=False).astype(np.int64))
    # tokens per UTC hour: a row's tokens belong to the hour its interval ends in (a row stamped on the
    # hour closes the hour before)
    hour = (ms - 1) // 3_600_000
    lo = int(hour.min())
    per_hour = np.bincount(hour - lo, weights=tokens)
    present = np.bincount(hour - lo) > 0
    hours = pd.DatetimeIndex(pd.to_datetime((np.flatnonzero(present) + lo) * 3_600_000, unit="ms", utc=True), name="ts")
    hourly = pd.Series(per_hour[present].astype(np.int64), index=hours, name="tokens")
    if allocation.window_start is not None and allocation.window_end is not None and len(hourly):
        full = pd.date_range(pd.Timestamp(allocation.window_start).ceil("h"),
                             pd.Timestamp(allocation.window_end).floor("h") - pd.Timedelta(hours=1), freq="h")
        hourly = hourly.reindex(full, fill_value=0) if len(full) else hourly
    day = pa.array(ms // 86_400_000, pa.int64())
    sums = pa.table({"day": day, "namespace": table.column("namespace"), "pod": table.column("pod"),
                     "server": table.column("server"), "model": table.column("model"),
                     "tokens": pa.array(tokens, pa.int64())}).unify_dictionaries().group_by(
        ["day", "namespace", "pod", "server", "model"]).aggregate([("tokens", "sum")])
    day_tokens: dict[tuple, int] = {}
    for d, ns, pod, server, model, n in zip(*(sums.column(c).to_pylist() for c in
                                               ("day", "namespace", "pod", "server", "model", "tokens_sum")),
                                            strict=True):
        date = pd.Timestamp(d * 86_400_000, unit="ms").strftime("%Y-%m-%d")
        key = (date, pods.get((ns, pod), (ns, "Pod", pod)), server, model)
        day_tokens[key] = day_tokens.get(key, 0) + int(n)
    by_row = {(r.namespace, r.kind, r.workload, r.server, r.model): r for r in rows}
    wl_daily = allocation.daily[allocation.daily["row_type"] == "workload"]
    wl_cost = {((r.namespace, r.kind, r.workload), r.date): float(r.cost) for r in wl_daily.itertuples(index=False)}
    # each workload-day's cost is split over its models by that day's tokens (evenly on a day without any)
    per_day: dict[tuple, list] = {}
    for (date, key, server, model) in sorted(day_tokens, key=lambda k: (k[0], k[1], k[2], k[3] is None, k[3] or "")):
        per_day.setdefault((key, date), []).append((by_row.get((*key, server, model)), day_tokens[(date, key, server,
                                                                                                    model)]))
    out = []
    for (key, date), items in per_day.items():
        total = sum(t for _, t in items)
        cost = wl_cost.get((key, date))
        for row, n in items:
            if row is None:
                continue
            share = n / total if total else 1 / len(items)
            out.append({"date": date, "team": row.team, "model": row.model_name, "tokens": n,
                        "cost": np.nan if row.cost is None or cost is None else cost * share})
    daily = pd.DataFrame(out, columns=["date", "team", "model", "tokens", "cost"]) if out else _empty_daily()
    return daily, hourly.astype(float)

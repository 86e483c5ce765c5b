"""The LLM servers' series a real Prometheus would hold, from the true tokens rows (``llm_cluster.py``).

Each counter is the running sum of the rows' increments, sampled at ``ts - 3S/4`` and ``ts - S/4`` (the
last sample of a row's interval is the counter at its end), starting one step before the pod's first row
from a value that is not 0 where the server ran before the window. The restarted container's counters
all start again from 0 within the reset row's interval; a scrape gap has no samples at all (the counter
keeps counting, so the first row after it jumps). Gauges are sampled at ``ts - S/2``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tests.prometheus.llm_cluster import BLOCK_SIZE, BLOCKS, GPU_MEMORY_UTILIZATION, NS, Serving

COLLECTOR = {"namespace": "monitoring", "pod": "otel-collector-6f7d9c8b5-xk2pq", "container": "otel-collector",
             "job": "otel-collector", "instance": "10.2.0.9:8889"}


def write_llm(w, tokens: pd.DataFrame, servings: tuple[Serving, ...], step_s: int, seconds) -> None:
    """Add every serving pod's series to the OpenMetrics writer ``w`` (exposition.Writer)."""
    for i, p in enumerate(servings):
        rows = tokens[tokens.pod == p.pod].sort_values("ts")
        t = seconds(rows.ts)
        for job in p.jobs:
            _server(w, p, rows, t, step_s, _target(p, job, i))
    _static_scrape(w, tokens, step_s, seconds)


def _target(p: Serving, job: str, i: int) -> dict:
    if p.dialect == "exported":
        base = {**COLLECTOR, "exported_namespace": NS, "exported_pod": p.pod, "exported_container": p.container}
    else:
        base = {"namespace": NS, "pod": p.pod, "container": p.container, "job": job, "instance": f"10.1.0.{i}:8000",
                "endpoint": "http"}
        if "servicemonitor" in job:
            base["service"] = p.workload_name
    own = {"vllm": {"model_name": p.model, "engine": "0"}, "triton": {"model": p.model, "version": "1"},
           "sglang": {"model_name": p.model, "tp_rank": "0"}, "tgi": {}}[p.server]
    return {**base, **own}


class _Counter:
    """Cumulative samples of one series from per-row increments, with the pod's restart and first row."""

    def __init__(self, p: Serving, rows: pd.DataFrame, t: np.ndarray, step_s: int):
        self.p, self.t, self.step = p, t, step_s
        ts = rows.ts.to_numpy()
        first = rows.ts.min()
        grid_first = first.value // 1_000_000  # ms
        self.reset = np.zeros(len(t), dtype=bool)
        if p.reset_row is not None:
            reset_ms = grid_first + (p.reset_row - p.first_row) * step_s * 1000
            self.reset = np.array([x.value // 1_000_000 == reset_ms for x in ts])
            assert self.reset.any()

    def samples(self, inc: np.ndarray, base: float) -> tuple[np.ndarray, np.ndarray]:
        base = base if self.p.first_row == 0 else 0.0  # a server started in the window counts from 0
        times, values, cum = [self.t[0] - 1.25 * self.step], [base], base
        for k, x in enumerate(np.asarray(inc, dtype=np.float64)):
            if self.reset[k]:
                cum = 0.0
            times += [self.t[k] - 0.75 * self.step, self.t[k] - 0.25 * self.step]
            values += [cum + x / 2, cum + x]
            cum += x
        return np.array(times), np.array(values)


def _server(w, p: Serving, rows: pd.DataFrame, t: np.ndarray, step_s: int, labels: dict) -> None:
    c = _Counter(p, rows, t, step_s)

    def counter(family: str, sample: str, inc, base: float, extra: dict | None = None, kind: str = "counter"):
        ts, vs = c.samples(np.asarray(inc, dtype=np.float64), base)
        w.add_many(family, kind, sample, {**labels, **(extra or {})}, ts, vs)

    def gauge(name: str, values) -> None:
        w.add_many(name, "gauge", name, labels, t - 0.5 * step_s, np.asarray(values, dtype=np.float64))

    prompt, gen, requests = rows.prompt_tokens.to_numpy(), rows.generation_tokens.to_numpy(), rows.requests.to_numpy()
    if p.server in ("vllm", "triton"):
        counter("vllm:prompt_tokens", "vllm:prompt_tokens_total", prompt, 9_000_000)
        counter("vllm:generation_tokens", "vllm:generation_tokens_total", gen, 4_000_000)
        length = requests // 3
        counter("vllm:request_success", "vllm:request_success_total", requests - length, 9_000,
                {"finished_reason": "stop"})
        counter("vllm:request_success", "vllm:request_success_total", length, 3_000, {"finished_reason": "length"})
        gauge("vllm:kv_cache_usage_perc", rows.kv_cache_usage.to_numpy())
    if p.server == "vllm":
        counter("vllm:prefix_cache_hits", "vllm:prefix_cache_hits_total", rows.cached_prompt_tokens.to_numpy(),
                5_000_000)
        for family, column, base in (("vllm:request_prefill_time_seconds", "prefill_seconds", 3_000.0),
                                     ("vllm:request_decode_time_seconds", "decode_seconds", 40_000.0)):
            counter(family, family + "_sum", rows[column].to_numpy(), base, kind="histogram")
            counter(family, family + "_count", requests, 12_000, kind="histogram")
            counter(family, family + "_bucket", requests, 12_000, {"le": "+Inf"}, kind="histogram")
        _histogram(counter, "vllm:request_prompt_tokens", rows, prompt, requests)
        info = {"block_size": str(BLOCK_SIZE), "num_gpu_blocks": str(BLOCKS), "cache_dtype": "auto",
                "gpu_memory_utilization": str(GPU_MEMORY_UTILIZATION), "enable_prefix_caching": "True",
                "engine": "0"}
        w.add_many("vllm:cache_config_info", "gauge", "vllm:cache_config_info", {**labels, **info},
                   t - 0.5 * step_s, np.ones(len(t)))
    if p.server == "sglang":
        counter("sglang:prompt_tokens", "sglang:prompt_tokens_total", prompt, 7_000_000)
        counter("sglang:generation_tokens", "sglang:generation_tokens_total", gen, 2_000_000)
        counter("sglang:cached_tokens", "sglang:cached_tokens_total", rows.cached_prompt_tokens.to_numpy(), 3_000_000)
        counter("sglang:num_requests", "sglang:num_requests_total", requests, 8_000)
        gauge("sglang:token_usage", rows.kv_cache_usage.to_numpy())
    if p.server == "tgi":
        _histogram(counter, "tgi_request_input_length", rows, prompt, requests)
        counter("tgi_request_generated_tokens", "tgi_request_generated_tokens_sum", gen, 3_000_000, kind="histogram")
        counter("tgi_request_generated_tokens", "tgi_request_generated_tokens_count", requests, 6_000,
                kind="histogram")
        counter("tgi_request_generated_tokens", "tgi_request_generated_tokens_bucket", requests, 6_000,
                {"le": "+Inf"}, kind="histogram")
        counter("tgi_request_success", "tgi_request_success", requests, 6_000)  # no _total in TGI


def _histogram(counter, family: str, rows: pd.DataFrame, prompt, requests) -> None:
    hists = [json.loads(h) for h in rows.prompt_tokens_hist]
    for le in hists[0]:
        counter(family, family + "_bucket", [h[le] for h in hists], 1_000 + 100 * len(le), {"le": le},
                kind="histogram")
    counter(family, family + "_sum", prompt, 9_000_000, kind="histogram")
    counter(family, family + "_count", requests, 12_000, kind="histogram")


def _static_scrape(w, tokens: pd.DataFrame, step_s: int, seconds) -> None:
    """A vLLM scraped by a static config: no namespace or pod, so no row can name its pod."""
    t = np.unique(seconds(tokens.ts))
    labels = {"job": "static-vllm", "instance": "10.9.9.9:8000", "model_name": "phi-3-mini", "engine": "0"}
    values = np.arange(1, len(t) + 1) * 1000.0
    w.add_many("vllm:prompt_tokens", "counter", "vllm:prompt_tokens_total", labels, t - 0.25 * step_s, values)
    w.add_many("vllm:generation_tokens", "counter", "vllm:generation_tokens_total", labels, t - 0.25 * step_s, values)

"""Which series each model server exports for each ``tokens`` column, and how a series' labels name its row.

Names as the servers document them (docs/prometheus.md, "LLM serving series", lists the sources): vLLM
``vllm:*`` (Triton's vLLM backend exports the same names with label ``model`` instead of ``model_name``),
SGLang ``sglang:*`` (only with ``--enable-metrics``), Hugging Face TGI ``tgi_*`` (token counts are the
``_sum`` of its length histograms; counters without ``_total``; no model label), NVIDIA NIM for LLMs
(vLLM's names without the prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

# Counter columns: per-interval increments of cumulative series (summed over a row's series).
COUNTER_COLUMNS = ("prompt_tokens", "generation_tokens", "cached_prompt_tokens", "requests", "prefill_seconds",
                   "decode_seconds")
# Labels that say where a sample was scraped from, not what it counts: two scrapes of one server (a
# ServiceMonitor and a PodMonitor, HA Prometheus replicas) differ only in these and are collapsed with max.
SCRAPE_LABELS = ("job", "instance", "endpoint", "service", "metrics_path", "prometheus", "prometheus_replica",
                 "__replica__", "receive", "tenant_id")
MODEL_LABELS = ("model_name", "model")
# Labels that split one server's pool between engines (vLLM data parallel): capacities add up across them.
ENGINE_LABELS = ("engine", "dp_rank")


@dataclass(frozen=True)
class Family:
    """The series of one server software, per tokens column (a tuple lists alternatives, first present wins,
    except ``requests`` whose series are summed: TGI's successes and failures)."""

    name: str  # vllm, sglang, tgi, nim (Triton's vLLM backend is told apart from vLLM per series)
    prompt: str
    generation: str
    cached: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    kv_usage: tuple[str, ...] = ()
    prefill: tuple[str, ...] = ()
    decode: tuple[str, ...] = ()
    prompt_hist: tuple[str, ...] = ()  # a histogram's _bucket series
    cache_info: tuple[str, ...] = ()  # vLLM cache_config_info (labels num_gpu_blocks, block_size, ...)

    def counters(self) -> dict[str, tuple[str, ...]]:
        return {"prompt_tokens": (self.prompt,), "generation_tokens": (self.generation,),
                "cached_prompt_tokens": self.cached, "requests": self.requests, "prefill_seconds": self.prefill,
                "decode_seconds": self.decode}

    def all_metrics(self) -> tuple[str, ...]:
        return (self.prompt, self.generation, *self.cached, *self.requests, *self.kv_usage, *self.prefill,
                *self.decode, *self.prompt_hist, *self.cache_info)


FAMILIES: dict[str, Family] = {
    "vllm": Family(
        "vllm", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
        cached=("vllm:prefix_cache_hits_total",), requests=("vllm:request_success_total",),
        # gpu_cache_usage_perc: the name before vLLM 0.9 (removed in 2025-11)
        kv_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        prefill=("vllm:request_prefill_time_seconds_sum",), decode=("vllm:request_decode_time_seconds_sum",),
        prompt_hist=("vllm:request_prompt_tokens_bucket",), cache_info=("vllm:cache_config_info",)),
    "sglang": Family(
        "sglang", "sglang:prompt_tokens_total", "sglang:generation_tokens_total",
        cached=("sglang:cached_tokens_total",), requests=("sglang:num_requests_total",),
        kv_usage=("sglang:token_usage",)),
    "tgi": Family(
        "tgi", "tgi_request_input_length_sum", "tgi_request_generated_tokens_sum",
        requests=("tgi_request_success", "tgi_request_failure"),
        prompt_hist=("tgi_request_input_length_bucket",)),
    "nim": Family(
        "nim", "prompt_tokens_total", "generation_tokens_total", requests=("request_success_total",),
        kv_usage=("gpu_cache_usage_perc",), prompt_hist=("request_prompt_tokens_bucket",)),
}
# The one query for discovery: every name any family uses.
ALL_METRICS = tuple(sorted({m for f in FAMILIES.values() for m in f.all_metrics()}))

# What a user can do when a family lacks a column's series (discovery's "null … — fix" lines).
NOT_EXPORTED = {
    ("vllm", "cached_prompt_tokens"): "vllm:prefix_cache_hits_total is not exported (vLLM before v1 metrics, "
                                      "or prefix caching off: --enable-prefix-caching)",
    ("vllm", "kv_cache_usage"): "neither vllm:kv_cache_usage_perc nor vllm:gpu_cache_usage_perc is exported",
    ("vllm", "kv_cache_capacity_tokens"): "vllm:cache_config_info is not exported",
    ("vllm", "prefill_seconds"): "vllm:request_prefill_time_seconds is not exported (a newer vLLM has it)",
    ("vllm", "decode_seconds"): "vllm:request_decode_time_seconds is not exported (a newer vLLM has it)",
    ("vllm", "prompt_tokens_hist"): "vllm:request_prompt_tokens is not exported",
    ("vllm", "requests"): "vllm:request_success_total is not exported",
    ("sglang", "cached_prompt_tokens"): "sglang:cached_tokens_total is not exported",
    ("sglang", "requests"): "sglang:num_requests_total is not exported",
    ("sglang", "kv_cache_usage"): "sglang:token_usage is not exported",
    ("tgi", "requests"): "tgi_request_success is not exported",
    ("nim", "kv_cache_usage"): "gpu_cache_usage_perc is not exported",
    ("nim", "requests"): "request_success_total is not exported",
    ("nim", "prompt_tokens_hist"): "request_prompt_tokens is not exported",
}
# Columns a family never has, said once as a note rather than as a fault.
NEVER = {
    "sglang": ("kv_cache_capacity_tokens", "prefill_seconds", "decode_seconds", "prompt_tokens_hist"),
    "tgi": ("model", "cached_prompt_tokens", "kv_cache_usage", "kv_cache_capacity_tokens", "prefill_seconds",
            "decode_seconds"),
    "nim": ("cached_prompt_tokens", "kv_cache_capacity_tokens", "prefill_seconds", "decode_seconds"),
}
OPTIONAL_COLUMNS = ("cached_prompt_tokens", "requests", "kv_cache_usage", "kv_cache_capacity_tokens",
                    "prefill_seconds", "decode_seconds", "prompt_tokens_hist")


def family_columns(family: Family) -> dict[str, tuple[str, ...]]:
    """Every optional column → the metric names that can fill it."""
    return {"cached_prompt_tokens": family.cached, "requests": family.requests, "kv_cache_usage": family.kv_usage,
            "kv_cache_capacity_tokens": family.cache_info, "prefill_seconds": family.prefill,
            "decode_seconds": family.decode, "prompt_tokens_hist": family.prompt_hist}


@dataclass(frozen=True)
class Target:
    """Who served a series: the row key's labels, from the scrape target's labels."""

    namespace: str
    pod: str
    container: str | None
    server: str
    model: str | None
    node: str | None  # a `node` label, where relabelling put one on the target


def target(labels: dict[str, str], family: str) -> Target | None:
    """The serving pod, server and model of a series; None when it names no pod (a static scrape config).

    ``exported_*`` win: with ``honorLabels: false`` Prometheus renames the labels a scraped process already
    carries, and the plain ones then name whatever exposed the series (a collector), not the server.
    """
    if labels.get("exported_pod"):
        ns, pod, container = labels.get("exported_namespace"), labels["exported_pod"], labels.get("exported_container")
    else:
        ns, pod, container = labels.get("namespace"), labels.get("pod"), labels.get("container")
    if not ns or not pod:
        return None
    model = next((labels[m] for m in MODEL_LABELS if labels.get(m)), None)
    server = family
    if family == "vllm" and not labels.get("model_name") and labels.get("model"):
        server = "triton"  # Triton's vLLM backend: vLLM's names, Triton's model/version labels
    return Target(ns, pod, container or None, server, model, labels.get("node") or None)


def engine(labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(k, "") for k in ENGINE_LABELS)

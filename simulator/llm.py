"""LLM serving pods: the ``tokens`` table a vLLM-like (or TGI) server's metrics give, driven by the pod's load.

Per sample interval the server finishes ``Poisson(rate × interval)`` requests, where the rate follows the
pod's load a(t) (``base_share`` of the peak at a = 0, the peak at a = 1). Each request's prompt and
generated tokens are drawn from the Azure LLM inference trace's percentiles (llm_trace.py), so the
interval's counters are sums of whole requests:

- prompt/generation tokens, requests: the sums and the count;
- prefill/decode seconds: Σ prompt ÷ the prefill speed and Σ generated ÷ the decode speed (one request's
  speeds on this GPU);
- the prompt-length histogram: vLLM's 1-2-5 buckets (``request_prompt_tokens``), cumulative;
- prefix-cache hits: a binomial share of the interval's prompt tokens;
- KV-cache usage at the sample: the KV tokens of the requests in flight (the interval's arrival rate × the
  mean over its requests of (prompt + generated/2) tokens × the request's seconds, Little's law) ÷ the pool.

The pool is what ``--gpu-memory-utilization`` leaves after the weights and the runtime's overhead, as vLLM
sizes it; the GPU memory the GPU rows show is that fraction of the device whatever the load (the
pre-allocation trap, docs/llm.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from simulator.llm_trace import GENERATED_TOKENS_PERCENTILES, PROMPT_TOKENS_PERCENTILES, draw

GIB = 1024**3
# vLLM's request_prompt_tokens buckets: build_1_2_5_buckets(max_model_len) for a 131,072-token context
PROMPT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
RUNTIME_OVERHEAD_BYTES = 2 * GIB  # CUDA context, activations and graphs vLLM reserves besides weights and KV


@dataclass(frozen=True)
class ServedModel:
    """A model's memory facts (Llama 3.1 8B: 8.03 B parameters in bf16; 32 layers × 8 KV heads × 128 head
    dims × 2 (K and V) × 2 bytes = 131,072 bytes of KV cache per token; Meta's model card and config.json)."""

    name: str
    weights_bytes: int
    kv_bytes_per_token: int


LLAMA_31_8B = ServedModel("meta-llama/Llama-3.1-8B-Instruct", 16_060_522_496, 131_072)


@dataclass(frozen=True)
class LlmServing:
    """How a serving template's pods serve tokens (see the module docstring)."""

    server: str                       # vllm | sglang | tgi (the tokens table's server)
    model: ServedModel
    peak_requests_per_s: float        # finished requests per second per pod at load 1
    base_share: float                 # share of the peak rate at load 0 (nights still see some traffic)
    prefill_tokens_per_s: float       # one request's prefill speed on this GPU
    decode_tokens_per_s: float        # one sequence's decode speed on this GPU (in a running batch)
    prefix_cache_share: float | None  # prompt tokens served from the prefix cache; None: not exported
    gpu_memory_utilization: float | None = 0.9  # --gpu-memory-utilization; None: not a vLLM-style pool
    exports_model: bool = True        # TGI has no model label
    exports_kv: bool = True           # KV-cache usage and pool size (vLLM, SGLang)
    exports_times: bool = True        # prefill/decode time histograms (vLLM)
    exports_prompt_histogram: bool = True

    def kv_capacity_tokens(self, gpu_memory_bytes: int) -> int | None:
        if self.gpu_memory_utilization is None:
            return None
        pool = self.gpu_memory_utilization * gpu_memory_bytes - self.model.weights_bytes - RUNTIME_OVERHEAD_BYTES
        return max(0, int(pool // self.model.kv_bytes_per_token))

    def rate(self, load: np.ndarray) -> np.ndarray:
        """Requests per second at load a (0..1)."""
        return self.peak_requests_per_s * (self.base_share + (1.0 - self.base_share) * load.astype(np.float64))

    def container_args(self) -> list[str]:
        """The server's command-line arguments in the manifest."""
        if self.server == "tgi":
            return ["--model-id", self.model.name, "--port", "8080"]
        args = ["--model", self.model.name, "--served-model-name", self.model.name, "--port", "8000"]
        if self.gpu_memory_utilization is not None:
            args += ["--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}"]
        return args


def tokens_columns(spec: LlmServing, load: np.ndarray, interval_s: int, gpu_memory_bytes: int,
                   rng: np.random.Generator) -> dict[str, object]:
    """The tokens table's value columns for one pod's samples (``load``: its a(t) at each sample)."""
    n = len(load)
    counts = rng.poisson(spec.rate(load) * interval_s)
    total = int(counts.sum())
    prompt = draw(PROMPT_TOKENS_PERCENTILES, rng, total)
    gen = draw(GENERATED_TOKENS_PERCENTILES, rng, total)
    ends = np.cumsum(counts)
    starts = ends - counts

    def per_interval(values: np.ndarray) -> np.ndarray:
        sums = np.concatenate([[0], np.cumsum(values, dtype=np.float64)])
        return sums[ends] - sums[starts]

    prompt_sum = per_interval(prompt).astype(np.int64)
    gen_sum = per_interval(gen).astype(np.int64)
    seconds = prompt / spec.prefill_tokens_per_s + gen / spec.decode_tokens_per_s
    out: dict[str, object] = {"prompt_tokens": prompt_sum, "generation_tokens": gen_sum,
                              "requests": counts.astype(np.int64)}
    none = [None] * n
    out["cached_prompt_tokens"] = (rng.binomial(prompt_sum, spec.prefix_cache_share).astype(np.int64)
                                   if spec.prefix_cache_share is not None else none)
    if spec.exports_times:
        out["prefill_seconds"] = per_interval(prompt) / spec.prefill_tokens_per_s
        out["decode_seconds"] = per_interval(gen) / spec.decode_tokens_per_s
    else:
        out["prefill_seconds"] = out["decode_seconds"] = none
    capacity = spec.kv_capacity_tokens(gpu_memory_bytes)
    if spec.exports_kv and capacity:
        # Little's law: KV tokens in flight = arrivals per second × E[KV tokens held × seconds held]
        held = per_interval((prompt + gen / 2.0) * seconds)
        in_flight = held / interval_s
        noise = 1.0 + rng.standard_normal(n) * 0.03
        out["kv_cache_usage"] = np.clip(in_flight * noise / capacity, 0.0, 1.0).astype(np.float32)
        out["kv_cache_capacity_tokens"] = np.full(n, capacity, dtype=np.int64)
        out["gpu_memory_utilization"] = np.full(n, spec.gpu_memory_utilization, dtype=np.float32)
    else:
        out["kv_cache_usage"] = out["kv_cache_capacity_tokens"] = out["gpu_memory_utilization"] = none
    out["prompt_tokens_hist"] = _histograms(prompt, starts, ends) if spec.exports_prompt_histogram else none
    return out


def _histograms(prompt: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """Per interval, the cumulative bucket counts of its requests' prompt lengths as vLLM exports them."""
    bucket = np.searchsorted(np.asarray(PROMPT_BUCKETS), prompt, side="left")  # first bound >= length
    labels = [str(b) for b in PROMPT_BUCKETS] + ["+Inf"]
    k = len(labels)
    interval = np.repeat(np.arange(len(starts)), ends - starts)
    counts = np.bincount(interval * k + bucket, minlength=len(starts) * k).reshape(len(starts), k)
    cumulative = np.cumsum(counts, axis=1)
    return [json.dumps(dict(zip(labels, map(int, row), strict=True)), separators=(",", ":")) for row in cumulative]

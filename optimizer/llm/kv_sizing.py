"""KV-cache-aware GPU memory need of pre-allocating model servers (docs/llm.md).

vLLM, SGLang, NIM and Triton's vLLM backend reserve a fixed share of the GPU at start (vLLM's
``--gpu-memory-utilization`` defaults to 0.9) and fill it with a KV-cache pool, so NVML shows ~90 % of the
GPU used at any load. Sized by that memory such a pod never gets smaller. What it needs is

    weights + runtime overhead + the KV cache it uses (kv_cache_usage × the pool)

The pool is ``kv_cache_capacity_tokens × KV bytes per token`` where the server exports its size and the
model table (or nothing) gives the bytes per token; then the runtime overhead is measured: memory used −
weights − pool. Otherwise the pool is memory used − weights − the assumed runtime overhead
(``KvSizingConfig.runtime_overhead_bytes``). The value class's memory margins then apply as to any pod:
``need = max(observed × (1 + headroom), peak × (1 + peak margin))`` with observed = weights + runtime + KV
p99 and peak = weights + runtime + KV peak, so a proposal is never below the weights plus the observed KV
peak. The KV fraction is the time-weighted p99 of ``kv_cache_usage`` (every class: the tokens table keeps
that percentile), the pool and overhead the largest over the workload's pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer.llm.config import KvSizingConfig
from optimizer.llm.models import ModelSpec, find_model
from optimizer.llm.usage import ServingUsage

GIB = 1024**3
# the server's own flag for the share of GPU memory it pre-allocates, where it is a command-line argument
MEMORY_FLAGS = {"vllm": "--gpu-memory-utilization", "sglang": "--mem-fraction-static", "tgi": "--cuda-memory-fraction"}
DEFAULT_FRACTION = {"vllm": 0.9}  # vLLM's documented default of --gpu-memory-utilization


@dataclass
class KvSizing:
    """How one workload's GPU memory need was built (per pod, bytes)."""

    server: str
    model: str | None
    model_source: str | None  # the table row's source URL, or the annotation that named the weights
    weights_bytes: int
    weights_from: str  # "model table" | the annotation key
    runtime_bytes: int
    runtime_measured: bool
    pool_bytes: int
    pool_from: str  # "capacity" | "memory used"
    kv_p99: float
    kv_max: float
    nvml_observed: int | None
    nvml_max: int
    capacity_tokens: int | None
    bytes_per_token: int | None
    memory_fraction: float | None  # the server's pre-allocated share now (tokens table), if known

    @property
    def kv_p99_bytes(self) -> int:
        return int(math.ceil(self.kv_p99 * self.pool_bytes))

    @property
    def kv_max_bytes(self) -> int:
        return int(math.ceil(self.kv_max * self.pool_bytes))

    @property
    def observed_bytes(self) -> int:
        return self.weights_bytes + self.runtime_bytes + self.kv_p99_bytes

    @property
    def peak_bytes(self) -> int:
        return self.weights_bytes + self.runtime_bytes + self.kv_max_bytes

    @property
    def floor_bytes(self) -> int:
        """What no proposal may go below: weights + runtime + the observed KV peak."""
        return self.peak_bytes

    def to_json_dict(self) -> dict:
        return {"server": self.server, "model": self.model, "model_source": self.model_source,
                "weights_bytes": self.weights_bytes, "weights_from": self.weights_from,
                "runtime_bytes": self.runtime_bytes, "runtime_measured": self.runtime_measured,
                "kv_pool_bytes": self.pool_bytes, "kv_pool_from": self.pool_from,
                "kv_cache_capacity_tokens": self.capacity_tokens, "kv_bytes_per_token": self.bytes_per_token,
                "kv_usage_p99": round(self.kv_p99, 4), "kv_usage_max": round(self.kv_max, 4),
                "kv_p99_bytes": self.kv_p99_bytes, "kv_max_bytes": self.kv_max_bytes,
                "observed_bytes": self.observed_bytes, "peak_bytes": self.peak_bytes,
                "nvml_observed_bytes": self.nvml_observed, "nvml_max_bytes": self.nvml_max,
                "server_memory_fraction_now": None if self.memory_fraction is None else round(self.memory_fraction, 4)}


def _annotation_bytes(labels: dict, key: str) -> int | None:
    raw = (labels or {}).get(key)
    if raw is None:
        return None
    try:
        value = int(float(str(raw).strip()))
    except ValueError:
        return None
    return value if value > 0 else None


def for_workload(labels: dict, usages: list[ServingUsage], nvml_observed: int | None, nvml_max: int | None,
                 cfg: KvSizingConfig) -> KvSizing | None:
    """The KV-aware sizing of a workload whose pods are serving pods that export their KV-cache usage, or
    None (not a serving pod, no KV usage exported, no NVML memory, weights unknown, or the weights alone
    fill the memory used: nothing pre-allocated to see through)."""
    usages = [u for u in usages if u.kv_usage_p99 is not None]
    if not cfg.enabled or not usages or not nvml_max:
        return None
    named = (labels or {}).get(cfg.model_annotation)
    model_name = named or next((u.model for u in usages if u.model), None)
    spec: ModelSpec | None = find_model(model_name)
    weights = _annotation_bytes(labels, cfg.weights_annotation)
    weights_from = cfg.weights_annotation
    source = None
    if weights is None and spec is not None:
        weights, weights_from, source = spec.weights_bytes, "model table", spec.source
    elif spec is not None:
        source = spec.source
    if weights is None:
        return None
    bpt = spec.kv_bytes_per_token if spec is not None and weights_from == "model table" else None
    capacity = max((u.kv_capacity_tokens for u in usages if u.kv_capacity_tokens), default=None)
    kv_p99 = max(u.kv_usage_p99 for u in usages)
    kv_max = max(u.kv_usage_max if u.kv_usage_max is not None else u.kv_usage_p99 for u in usages)
    fraction = next((u.gpu_memory_utilization for u in usages if u.gpu_memory_utilization), None)
    server = usages[0].server
    if capacity and bpt and weights + capacity * bpt <= nvml_max:
        pool, pool_from = capacity * bpt, "capacity"
        runtime, measured = nvml_max - weights - pool, True
    else:
        # the pool's size in tokens is not exported (or does not fit: a narrower KV dtype than the model's)
        runtime, measured = cfg.runtime_overhead_bytes, False
        pool, pool_from = nvml_max - weights - runtime, "memory used"
    if pool <= 0:
        return None
    return KvSizing(server, model_name, source, int(weights), weights_from, int(runtime), measured, int(pool),
                    pool_from, float(kv_p99), float(kv_max), nvml_observed, int(nvml_max), capacity, bpt, fraction)


def apply(d, kv: KvSizing, policy) -> None:
    """Replace the demand's NVML memory by the KV-aware figures and recompute its need with the class's
    margins (optimizer/demand.py's rule)."""
    d.gpu_mem_observed = kv.observed_bytes
    d.gpu_mem_max = kv.peak_bytes
    d.gpu_mem_need = int(math.ceil(max(kv.observed_bytes * (1 + policy.mem_headroom),
                                       kv.peak_bytes * (1 + policy.mem_peak_margin))))
    d.kv = kv


def _gib(b: float) -> str:
    return f"{b / GIB:.1f} GiB"


def rationale_clause(kv: KvSizing) -> str:
    runtime = "measured" if kv.runtime_measured else "assumed"
    pool = (f"{kv.capacity_tokens:,} tokens × {kv.bytes_per_token:,} B" if kv.pool_from == "capacity"
            else "memory used − weights − runtime")
    held = f" (it pre-allocates {kv.memory_fraction:g} of the GPU)" if kv.memory_fraction else ""
    return (f"GPU memory sized KV-cache-aware: weights {_gib(kv.weights_bytes)} ({kv.weights_from}) + runtime "
            f"{_gib(kv.runtime_bytes)} ({runtime}) + KV cache p99 {_gib(kv.kv_p99_bytes)} "
            f"({100 * kv.kv_p99:.0f} % of a {_gib(kv.pool_bytes)} pool, {pool}; peak {100 * kv.kv_max:.0f} %), "
            f"not the {_gib(kv.nvml_max)} NVML shows {kv.server} holding{held}")


def memory_fraction(kv: KvSizing, need_per_gpu: float, visible_bytes: float, allotted_bytes: float) -> float:
    """The share of the device the server may pre-allocate on the proposed shape: the current share (vLLM's
    default where unknown) but no more than the shape gives the pod (a time-slicing share of the GPU), and no
    less than the need. ``visible_bytes``: the device as the server sees it (the slice, the whole shared GPU,
    the new GPU)."""
    if visible_bytes <= 0:
        return 1.0
    room = min(1.0, allotted_bytes / visible_bytes)
    now = round(kv.memory_fraction or DEFAULT_FRACTION.get(kv.server, 0.9), 4)  # float32 in the table: 0.8999999
    f = math.floor(min(now, room) * 100 + 1e-9) / 100
    if f * visible_bytes < need_per_gpu:
        f = min(room, math.ceil(need_per_gpu / visible_bytes * 100 - 1e-9) / 100)
    return round(f, 2)


def annotate(c, w, d) -> None:
    """A GPU-shape proposal for a KV-aware workload: the server's memory share on the new shape
    (``proposed.server_memory_fraction``, which the suggestion writes into the server's flag where the
    manifest carries it), ``details.kv_aware`` with the numbers, and the rationale's clause."""
    from optimizer.decisions.margins import extend

    kv = d.kv
    if kv is None or "gpu-shape" not in c.tags or d.gpu_mem_need is None:
        return
    prop = c.proposed
    gpus = max(1, int(prop.get("gpu_count") or w.gpus_per_pod or 1))
    whole = float(w.gpu_memory_bytes or 0)
    if prop.get("mig_profile"):
        visible = allotted = float(prop.get("gpu_memory_bytes") or 0)
    elif prop.get("gpu_fraction") is not None and prop["gpu_fraction"] < 1:
        visible, allotted = whole, whole * float(prop["gpu_fraction"])
    else:
        visible = allotted = float(prop.get("gpu_memory_bytes") or whole)
    f = memory_fraction(kv, d.gpu_mem_need / gpus, visible, allotted)
    prop["server_memory_fraction"] = f
    flag = MEMORY_FLAGS.get(kv.server)
    c.extra["kv_aware"] = {**kv.to_json_dict(), "need_bytes": int(d.gpu_mem_need), "floor_bytes": kv.floor_bytes,
                           "server_memory_fraction": f, "memory_flag": flag}
    now = None if kv.memory_fraction is None else round(kv.memory_fraction, 4)
    verb = f"stays {f:g}, which" if now == f else f"becomes {f:g} so it"
    setting = (f"{kv.server}'s {flag} {verb} pre-allocates {_gib(f * visible)}" if flag else
               f"{kv.server}'s pre-allocated memory share must be set to {f:g} of the device ({_gib(f * visible)})")
    c.rationale = extend(c.rationale, rationale_clause(kv), setting)


def size_demand(w, d, usages: list[ServingUsage], policy, cfg: KvSizingConfig) -> KvSizing | None:
    """Size a serving workload's GPU memory KV-cache-aware where its pods allow it (``for_workload``)."""
    if not usages or d.gpu_mem_max is None:
        return None
    kv = for_workload(w.labels, usages, d.gpu_mem_observed, d.gpu_mem_max, cfg)
    if kv is not None:
        apply(d, kv, policy)
    return kv

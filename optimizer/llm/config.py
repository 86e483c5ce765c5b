"""Settings of the LLM sizing and the managed-API comparison (docs/llm.md); part of ``OptimizerConfig``
as ``llm``. The recommender's config file sets them under ``llm_sizing`` and ``managed_api``."""

from __future__ import annotations

from dataclasses import dataclass, field

GIB = 1024**3

# Self-hosted model -> the same model offered on Amazon Bedrock (model IDs: docs.aws.amazon.com/bedrock/latest/
# userguide/models-supported.html). Only same-model offers: the user adds any other pairing they judge comparable.
DEFAULT_MANAGED_MODELS: dict[str, str] = {
    "meta-llama/Llama-3.1-8B-Instruct": "meta.llama3-1-8b-instruct-v1:0",
    "meta-llama/Llama-3.1-70B-Instruct": "meta.llama3-1-70b-instruct-v1:0",
    "meta-llama/Llama-3.1-405B-Instruct": "meta.llama3-1-405b-instruct-v1:0",
    "meta-llama/Llama-3.3-70B-Instruct": "meta.llama3-3-70b-instruct-v1:0",
    "meta-llama/Llama-3.2-1B-Instruct": "meta.llama3-2-1b-instruct-v1:0",
    "meta-llama/Llama-3.2-3B-Instruct": "meta.llama3-2-3b-instruct-v1:0",
    "meta-llama/Llama-3.2-11B-Vision-Instruct": "meta.llama3-2-11b-instruct-v1:0",
    "meta-llama/Llama-3.2-90B-Vision-Instruct": "meta.llama3-2-90b-instruct-v1:0",
}

PRODUCTION_POLICIES = ("proposal", "allowed", "never")


@dataclass(frozen=True)
class KvSizingConfig:
    """KV-cache-aware GPU memory need of pre-allocating model servers (optimizer/llm/kv_sizing.py)."""

    enabled: bool = True
    """Size vLLM/SGLang/NIM/Triton-vLLM pods by weights + runtime + the KV cache they use, not by the memory
    NVML shows them holding (their pre-allocated pool)."""

    runtime_overhead_bytes: int = 2 * GIB
    """Memory besides weights and KV pool (CUDA context, activations, CUDA graphs), assumed when it cannot be
    measured: measured as memory used − weights − pool when the pool's size in tokens is exported."""

    weights_annotation: str = "rightsizer.io/model-weights-bytes"
    """Pod label or annotation giving the model's weights in bytes (a quantized or unlisted model)."""

    model_annotation: str = "rightsizer.io/model"
    """Pod label or annotation naming the model (a Hugging Face id) when the served name is an alias."""


@dataclass(frozen=True)
class ManagedApiConfig:
    """The ``use-managed-api`` comparison (optimizer/decisions/managed_api.py)."""

    enabled: bool = True

    models: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_MANAGED_MODELS))
    """Self-hosted model (as served, matched like the model table) -> managed model id in the price list;
    None: no managed equivalent."""

    prices_file: str | None = None
    """A managed price file (``rightsizer catalog refresh-bedrock``); None: the bundled snapshot."""

    production: str = "proposal"
    """``proposal``: production workloads get the recommendation with at least ``production_min_risk`` and
    no patch to apply (moving to an API is an application change); ``allowed``: the usual risk rule;
    ``never``: not proposed for production."""

    production_min_risk: str = "medium"


@dataclass(frozen=True)
class LlmConfig:
    kv: KvSizingConfig = field(default_factory=KvSizingConfig)
    managed: ManagedApiConfig = field(default_factory=ManagedApiConfig)

"""The LLM sections of the recommender's config file (docs/configuration.md): ``tokens`` (tokens.csv's split
and the token guard rails, docs/llm.md), ``llm_sizing`` and ``managed_api`` (KV-cache-aware sizing and the
use-managed-api comparison, whose defaults live in optimizer/llm/config.py). Loaded by recommender/config.py's
annotation-driven builder like every other section."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.llm.config import (
    DEFAULT_MANAGED_MODELS,
    PRODUCTION_POLICIES,
    KvSizingConfig,
    LlmConfig,
    ManagedApiConfig,
)
from store.errors import UserError


@dataclass(frozen=True)
class TokenBudget:
    """A monthly token budget of one team or model: tokens, dollars or both (docs/llm.md)."""

    #: prompt + generation tokens per calendar month
    monthly_tokens: float | None = None
    #: the serving pods' cost of those tokens, USD per calendar month
    monthly_usd: float | None = None


@dataclass(frozen=True)
class TokenBudgets:
    teams: dict[str, TokenBudget] = field(default_factory=dict)
    #: keyed by the served model name (the tokens table's ``model``)
    models: dict[str, TokenBudget] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenSettings:
    """LLM serving economics: tokens.csv's prompt/generation split and the token guard rails (docs/llm.md)."""

    #: cost weight of one generation token against one prompt token, used to split a pod's cost when its
    #: server exports no prefill/decode time (the measured time shares are used where it does)
    generation_weight: float = 4.0
    #: a day's tokens must be at least this many above the baseline median to be a token spike
    spike_min_tokens: float = 1_000_000.0
    budgets: TokenBudgets = field(default_factory=TokenBudgets)


_KV = KvSizingConfig()
_MANAGED = ManagedApiConfig()


@dataclass(frozen=True)
class LlmSizingSettings:
    """KV-cache-aware GPU memory of model servers (defaults and meaning: optimizer/llm/config.py)."""

    #: size pre-allocating servers by weights + runtime + the KV cache they use, not NVML's memory
    enabled: bool = _KV.enabled
    #: runtime memory (CUDA context, activations, graphs) assumed when it cannot be measured, bytes
    runtime_overhead_bytes: int = _KV.runtime_overhead_bytes
    #: pod label/annotation giving the model's weights in bytes
    weights_annotation: str = _KV.weights_annotation
    #: pod label/annotation naming the model (a Hugging Face id) when the served name is an alias
    model_annotation: str = _KV.model_annotation


@dataclass(frozen=True)
class ManagedApiSettings:
    """The use-managed-api comparison (optimizer/llm/config.py)."""

    enabled: bool = _MANAGED.enabled
    #: self-hosted model -> managed model id, on top of the same-model defaults (null: no managed equivalent)
    models: dict[str, str | None] = field(default_factory=dict)
    #: managed price file from 'rightsizer catalog refresh-bedrock' (relative to the config file)
    prices_file: str | None = None
    #: production workloads: proposal (risk at least production_min_risk), allowed, or never
    production: str = _MANAGED.production
    #: the lowest risk of a production use-managed-api proposal: low, medium or high
    production_min_risk: str = _MANAGED.production_min_risk

    def mapping(self) -> dict[str, str | None]:
        """The defaults with this file's entries on top (an entry naming a default's model replaces it)."""
        from optimizer.llm.managed import mapping_key

        mine = {mapping_key(k) for k in self.models}
        out = {k: v for k, v in DEFAULT_MANAGED_MODELS.items() if mapping_key(k) not in mine}
        out.update(self.models)
        return out


def check_managed_api(m: ManagedApiSettings, source: str, base_dir: Path | None) -> ManagedApiSettings:
    """The managed_api section: its policy names, and a mapping whose every managed model has a price in the
    price file (the bundled snapshot or ``prices_file``), each key naming a different model."""
    from optimizer.decisions.base import RISKS
    from optimizer.llm.managed import check_mapping, load_managed_prices

    if m.production not in PRODUCTION_POLICIES:
        raise UserError(f"{source}: managed_api.production: expected one of {', '.join(PRODUCTION_POLICIES)}, "
                        f"got {m.production!r}")
    if m.production_min_risk not in RISKS:
        raise UserError(f"{source}: managed_api.production_min_risk: expected one of {', '.join(RISKS)}, "
                        f"got {m.production_min_risk!r}")
    if m.prices_file and base_dir is not None and not Path(m.prices_file).is_absolute():
        m = dataclasses.replace(m, prices_file=str(base_dir / m.prices_file))
    prices = load_managed_prices(m.prices_file)
    check_mapping(m.models, prices, f"{source}: managed_api.models")
    return m


def llm_config(kv: LlmSizingSettings, m: ManagedApiSettings) -> LlmConfig:
    """The optimizer's LLM settings from the file's two sections."""
    return LlmConfig(kv=KvSizingConfig(enabled=kv.enabled, runtime_overhead_bytes=kv.runtime_overhead_bytes,
                                       weights_annotation=kv.weights_annotation, model_annotation=kv.model_annotation),
                     managed=ManagedApiConfig(enabled=m.enabled, models=m.mapping(), prices_file=m.prices_file,
                                              production=m.production, production_min_risk=m.production_min_risk))

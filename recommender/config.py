"""The recommender's YAML config file, loaded into typed, frozen dataclasses.

Every key is optional; what is missing keeps its default (documented in docs/configuration.md).
An unknown key or a value of the wrong type is a ``UserError`` naming the file and the key path, e.g.
``config.yaml: budgets.teams.ml-platform.monthly_usd: expected a number, got 'abc'``.

The loader is driven by the dataclass annotations (``_build``), so adding a setting is adding a field
with a default and a docstring line; the file format follows automatically.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.config import (
    DEFAULT_PROFILE_CONFIG,
    VALUE_CLASSES,
    LabelConfig,
    SolverConfig,
    ValueClassConfig,
)
from optimizer.config import ValueClassPolicy as OptimizerPolicy
from recommender.config_llm import (
    LlmSizingSettings,
    ManagedApiSettings,
    TokenSettings,
    check_managed_api,
    llm_config,
)
from store.errors import UserError

_LABELS = LabelConfig()
_SOLVER = SolverConfig()


@dataclass(frozen=True)
class LabelKeys:
    """Which pod labels carry the attribution dimensions (defaults: optimizer/config.py ``LabelConfig``)."""

    team: str = _LABELS.team
    project: str = _LABELS.project
    #: used for ``project`` when the ``project`` label is missing (the Kubernetes recommended label)
    project_fallback: str | None = _LABELS.project_fallback
    use_case: str = _LABELS.use_case
    value_class: str = ValueClassConfig.label_key

    def optimizer_labels(self) -> LabelConfig:
        """The same keys as the optimizer's ``LabelConfig`` (recommendations.json uses them too)."""
        return LabelConfig(team=self.team, project=self.project, project_fallback=self.project_fallback,
                           use_case=self.use_case)


PERCENTILES = ("p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True)
class ValueClassPolicy:
    """How one value class is treated by the recommendations: the YAML face of the optimizer's
    ``ValueClassPolicy`` (optimizer/config.py holds the defaults and what each one means).

    A key left out of the file (None here while parsing) keeps that class's optimizer default."""

    #: GPU memory kept above ``mem_percentile`` of observed use (0.2 = 20 %); optimizer ``mem_headroom``
    headroom: float | None = None
    #: percentile of GPU memory use that sizes GPU memory (p50, p90, p95, p99 or max)
    mem_percentile: str | None = None
    #: percentile of GPU activity that sizes compute
    activity_percentile: str | None = None
    #: highest GPU activity a proposed shape may run at (0 < x <= 1)
    target_utilization: float | None = None
    #: may the class be moved to spot capacity
    spot_allowed: bool | None = None
    #: may every replica go to spot (else at most half of a replicated service's pods)
    spot_preferred: bool | None = None
    #: may the class be scaled to zero when idle
    scale_to_zero_allowed: bool | None = None
    #: may a GPU idle most of the window be taken away
    reclaim_idle_allowed: bool | None = None
    #: GPU memory kept above the observed maximum (0.1 = 10 %); optimizer ``mem_peak_margin``
    peak_margin: float | None = None
    #: must the busiest interval's compute fit in the proposed slice, share or GPU
    peak_check: bool | None = None
    #: highest expected per-request latency factor of a move to a slower GPU model (null: no limit)
    max_latency_factor: float | None = None

    @classmethod
    def from_optimizer(cls, p: OptimizerPolicy) -> ValueClassPolicy:
        return cls(headroom=p.mem_headroom, mem_percentile=p.mem_percentile,
                   activity_percentile=p.activity_percentile, target_utilization=p.target_utilization,
                   spot_allowed=p.spot_allowed, spot_preferred=p.spot_preferred,
                   scale_to_zero_allowed=p.scale_to_zero_allowed, reclaim_idle_allowed=p.reclaim_idle_allowed,
                   peak_margin=p.mem_peak_margin, peak_check=p.peak_check, max_latency_factor=p.max_latency_factor)

    def over(self, base: ValueClassPolicy) -> ValueClassPolicy:
        """This entry's keys on top of ``base`` (a key left out keeps the base value)."""
        return dataclasses.replace(base, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                                            if getattr(self, f.name) is not None})

    def to_optimizer(self) -> OptimizerPolicy:
        return OptimizerPolicy(mem_percentile=self.mem_percentile, mem_headroom=self.headroom,
                               activity_percentile=self.activity_percentile,
                               target_utilization=self.target_utilization, spot_allowed=self.spot_allowed,
                               spot_preferred=self.spot_preferred, scale_to_zero_allowed=self.scale_to_zero_allowed,
                               reclaim_idle_allowed=self.reclaim_idle_allowed, mem_peak_margin=self.peak_margin,
                               peak_check=self.peak_check, max_latency_factor=self.max_latency_factor)


def _default_policies() -> dict[str, ValueClassPolicy]:
    """The optimizer's policies (optimizer/config.py), the only place their numbers are written."""
    return {name: ValueClassPolicy.from_optimizer(p) for name, p in ValueClassConfig().policies.items()}


@dataclass(frozen=True)
class Budget:
    """A monthly budget in USD for one team or project."""

    monthly_usd: float


@dataclass(frozen=True)
class Budgets:
    teams: dict[str, Budget] = field(default_factory=dict)
    projects: dict[str, Budget] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Alerting and attribution thresholds."""

    #: a budget is in ``warning`` once the month-end projection reaches this share of it
    budget_warning: float = 0.8
    #: robust z-score (|x - median| / (1.4826 * MAD)) above which a day is a spike
    spike_z: float = 4.0
    #: ... and the day must cost at least this multiple of the baseline median
    spike_min_factor: float = 1.5
    #: ... and at least this many dollars above the baseline (ignores noise on tiny workloads)
    spike_min_usd: float = 20.0
    #: trailing days that form a baseline
    spike_baseline_days: int = 28
    #: fewest baseline days needed before a day can be judged
    spike_min_history_days: int = 3
    #: a GPU sample whose activity is below this is idle (default: the profiles' idle threshold)
    gpu_idle_activity: float = DEFAULT_PROFILE_CONFIG.idle_threshold


@dataclass(frozen=True)
class ReportSettings:
    #: recommendations listed in the report
    top_recommendations: int = 10
    #: workloads that get their own charts (the ones with the largest savings, then the largest cost)
    workload_charts: int = 6


@dataclass(frozen=True)
class NotifySettings:
    #: Slack-compatible incoming-webhook URL; ``--notify URL`` overrides it
    webhook_url: str | None = None
    #: seconds to wait for the webhook before reporting the delivery as failed
    timeout_s: float = 10.0
    #: where readers open the report (e.g. an https:// page in front of the bucket); the message links it.
    #: Default: DIR/report.html at --out (the s3:// URI when --out is one, else the absolute local path)
    report_url: str | None = None
    #: a failed delivery fails the run with exit code 3 (``--notify-required``), so a CronJob shows it
    required: bool = False


@dataclass(frozen=True)
class SolverSettings:
    """Where the node plan may put pods (defaults and meaning: optimizer/config.py ``SolverConfig``)."""

    #: may the node plan use burstable families (t2, t3, t3a, t4g)
    allow_burstable: bool = _SOLVER.allow_burstable
    #: pod label naming the architectures a workload's images run on (``any`` or e.g. ``amd64,arm64``)
    arch_label: str = _SOLVER.arch_label
    #: every image is multi-arch: any pod may move between x86_64 and arm64 nodes
    multi_arch_images: bool = _SOLVER.multi_arch_images


@dataclass(frozen=True)
class Config:
    """The whole config file. ``Config()`` is the default configuration."""

    #: AWS region used for prices when the nodes table does not say
    region: str = "us-east-1"
    #: CSV/JSON/YAML file with price overrides, passed to the catalog (relative to the config file)
    price_overrides: str | None = None
    labels: LabelKeys = field(default_factory=LabelKeys)
    value_classes: dict[str, ValueClassPolicy] = field(default_factory=_default_policies)
    budgets: Budgets = field(default_factory=Budgets)
    thresholds: Thresholds = field(default_factory=Thresholds)
    report: ReportSettings = field(default_factory=ReportSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    solver: SolverSettings = field(default_factory=SolverSettings)
    llm_sizing: LlmSizingSettings = field(default_factory=LlmSizingSettings)
    managed_api: ManagedApiSettings = field(default_factory=ManagedApiSettings)
    tokens: TokenSettings = field(default_factory=TokenSettings)


def load_config(path: str | Path | None) -> Config:
    """Read and check a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}") from None
    config = parse_config(raw if raw is not None else {}, source=path.name, base_dir=path.parent)
    if config.price_overrides and not Path(config.price_overrides).is_absolute():
        config = dataclasses.replace(config, price_overrides=str(path.parent / config.price_overrides))
    return config


def parse_config(raw: object, *, source: str = "config", base_dir: Path | None = None) -> Config:
    """Build a ``Config`` from already-parsed YAML (a dict); ``base_dir`` resolves relative file names."""
    config = _build(Config, raw, [], source)
    config = dataclasses.replace(config, managed_api=check_managed_api(config.managed_api, source, base_dir))
    unknown = sorted(set(config.value_classes) - set(VALUE_CLASSES))
    if unknown:
        raise UserError(f"{source}: value_classes.{unknown[0]}: unknown value class "
                        f"(expected one of {', '.join(VALUE_CLASSES)})")
    # A partial value_classes section overrides only the classes, and within them the keys, it names.
    defaults = _default_policies()
    policies = {name: config.value_classes[name].over(base) if name in config.value_classes else base
                for name, base in defaults.items()}
    for name, policy in policies.items():
        for key in ("mem_percentile", "activity_percentile"):
            if getattr(policy, key) not in PERCENTILES:
                raise UserError(f"{source}: value_classes.{name}.{key}: expected one of {', '.join(PERCENTILES)}, "
                                f"got {getattr(policy, key)!r}")
        if not 0 < policy.target_utilization <= 1:
            raise UserError(f"{source}: value_classes.{name}.target_utilization: must be above 0 and at most 1, "
                            f"got {policy.target_utilization}")
    for scope, budgets in (("teams", config.tokens.budgets.teams), ("models", config.tokens.budgets.models)):
        for name, budget in budgets.items():
            if budget.monthly_tokens is None and budget.monthly_usd is None:
                raise UserError(f"{source}: tokens.budgets.{scope}.{name}: give monthly_tokens, monthly_usd or both")
    for key, (lo, lo_open, hi) in _RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if (value <= lo if lo_open else value < lo) or (hi is not None and value > hi):
            bounds = f"{'above' if lo_open else 'at least'} {lo:g}" + (f" and at most {hi:g}" if hi is not None else "")
            raise UserError(f"{source}: {key}: must be {bounds}, got {value:g}")
    return dataclasses.replace(config, value_classes=policies)


# Settings with a range narrower than "finite and not negative": key -> (low, low excluded, high or None).
_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "thresholds.budget_warning": (0, True, None),
    "thresholds.spike_z": (0, True, None),
    "thresholds.spike_min_factor": (1, False, None),
    "thresholds.gpu_idle_activity": (0, False, 1),
    "thresholds.spike_baseline_days": (1, False, None),
    "notify.timeout_s": (0, True, None),
    "tokens.generation_weight": (0, True, None),
}


def optimizer_config(config: Config, *, region: str | None = None, solver=None):
    """The optimizer's ``OptimizerConfig`` for this file: its region, label keys and value-class policies
    (every ``value_classes`` key), with the optimizer's defaults for everything the file cannot set."""
    from optimizer.config import OptimizerConfig

    vc = dataclasses.replace(ValueClassConfig(), label_key=config.labels.value_class,
                             policies={name: p.to_optimizer() for name, p in config.value_classes.items()})
    placement = {f.name: getattr(config.solver, f.name) for f in dataclasses.fields(SolverSettings)}
    from optimizer.config import ConfigValueError, check_config

    llm = llm_config(config.llm_sizing, config.managed_api)
    cfg = OptimizerConfig(region=region or config.region, labels=config.labels.optimizer_labels(), value_class=vc,
                          solver=dataclasses.replace(solver or SolverConfig(), **placement), llm=llm)
    try:
        check_config(cfg)
    except ConfigValueError as exc:  # every file key is checked in parse_config; this names the optimizer's
        raise UserError(f"optimizer setting {exc.key}: {exc.message}") from None
    return cfg


# -- the annotation-driven builder ------------------------------------------------------------------
def _where(source: str, path: list[str]) -> str:
    return f"{source}: {'.'.join(path) if path else '(top level)'}"


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _build(tp, value, path: list[str], source: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _build(args[0], value, path, source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{_where(source, path)}: expected a mapping, got {_describe(value)}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        kwargs = {}
        for key, item in value.items():
            name = str(key)
            if name not in fields:
                known = ", ".join(sorted(fields))
                raise UserError(f"{_where(source, [*path, name])}: unknown key (known keys here: {known})")
            kwargs[name] = _build(hints[name], item, [*path, name], source)
        missing = [n for n, f in fields.items() if n not in kwargs
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise UserError(f"{_where(source, [*path, missing[0]])}: required key is missing")
        return tp(**kwargs)
    if origin is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise UserError(f"{_where(source, path)}: expected a mapping, got {_describe(value)}")
        return {str(k): _build(item_tp, v, [*path, str(k)], source) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{_where(source, path)}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{_where(source, path)}: expected a whole number, got {_describe(value)}")
        if value < 0:
            raise UserError(f"{_where(source, path)}: must not be negative, got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{_where(source, path)}: expected a number, got {_describe(value)}")
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise UserError(f"{_where(source, path)}: must be a non-negative finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise UserError(f"{_where(source, path)}: expected a non-empty string, got {_describe(value)}")
        return value
    raise TypeError(f"config field type {tp} is not supported")  # a programming error, not user input

"""The recommender's YAML config file, loaded into typed, frozen dataclasses.

Every key is optional; what is missing keeps its default (documented in docs/configuration.md).
An unknown key or a value of the wrong type is a ``UserError`` naming the file and the key path, e.g.
``config.yaml: budgets.teams.ml-platform.monthly_usd: expected a number, got 'abc'``.

The loader is driven by the dataclass annotations (``_build``), so adding a setting is adding a field
with a default and a docstring line; the file format follows automatically.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.config import DEFAULT_PROFILE_CONFIG, LabelConfig, ValueClassConfig
from store.errors import UserError

VALUE_CLASSES = ("production", "experimental", "background")


_LABELS = LabelConfig()


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


@dataclass(frozen=True)
class ValueClassPolicy:
    """How one value class is treated by the recommendations (mapped onto optimizer/config.py)."""

    #: extra GPU/CPU memory kept above the observed p99 (0.2 = 20 %)
    headroom: float = 0.2
    #: compute utilization the proposed shape should run at
    target_utilization: float = 0.7
    spot_allowed: bool = False
    scale_to_zero_allowed: bool = False


def _default_policies() -> dict[str, ValueClassPolicy]:
    return {
        "production": ValueClassPolicy(headroom=0.3, target_utilization=0.6, spot_allowed=False,
                                       scale_to_zero_allowed=False),
        "experimental": ValueClassPolicy(headroom=0.15, target_utilization=0.75, spot_allowed=True,
                                         scale_to_zero_allowed=True),
        "background": ValueClassPolicy(headroom=0.1, target_utilization=0.85, spot_allowed=True,
                                       scale_to_zero_allowed=True),
    }


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
    config = parse_config(raw if raw is not None else {}, source=path.name)
    if config.price_overrides and not Path(config.price_overrides).is_absolute():
        config = dataclasses.replace(config, price_overrides=str(path.parent / config.price_overrides))
    return config


def parse_config(raw: object, *, source: str = "config") -> Config:
    """Build a ``Config`` from already-parsed YAML (a dict)."""
    config = _build(Config, raw, [], source)
    unknown = sorted(set(config.value_classes) - set(VALUE_CLASSES))
    if unknown:
        raise UserError(f"{source}: value_classes.{unknown[0]}: unknown value class "
                        f"(expected one of {', '.join(VALUE_CLASSES)})")
    # A partial value_classes section overrides only the classes it names.
    policies = {**_default_policies(), **config.value_classes}
    return dataclasses.replace(config, value_classes=policies)


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
        if value != value or value < 0:
            raise UserError(f"{_where(source, path)}: must be a non-negative number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise UserError(f"{_where(source, path)}: expected a non-empty string, got {_describe(value)}")
        return value
    raise TypeError(f"config field type {tp} is not supported")  # a programming error, not user input

"""The check of the optimizer's settings (optimizer/config.py): every number finite, not negative, and in
its range, so a bad value is a one-line error naming its key instead of a NaN deep in a decision."""

from __future__ import annotations


class ConfigValueError(ValueError):
    """A setting the optimizer cannot work with; ``key`` is its dotted path, e.g. ``value_class.policies.
    production.mem_headroom`` (the recommender turns it into a one-line error naming its config key)."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


# Ranges beyond "a finite number, not negative" (which every float and int setting must be).
_FRACTIONS = ("idle_threshold", "idle_gpu_fraction", "share_gpu_max_activity", "change_min_savings_fraction",
              "max_spot_fraction_replicated", "scale_to_zero_max_duty_cycle", "node_reserved_mem_fraction",
              "rightsize_min_reduction", "replicas_memory_bound_fraction")


def check_config(config, path: str = "") -> None:
    """Raise ``ConfigValueError`` for the first setting of ``config`` (an ``OptimizerConfig`` or one of its
    sections; not ``ProfileConfig``, whose bin exponents are negative by design) that is NaN, infinite, negative, of the wrong type, or out of its range:
    ``target_utilization`` in (0, 1], the fractions in 0..1. Built in code or from a config file, a bad
    value would otherwise surface deep in a decision as a NaN or an overflow (exit 1, not 2)."""
    import dataclasses
    import math

    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(value):
            check_config(value, key)
        elif isinstance(value, dict):
            for name, item in value.items():
                if dataclasses.is_dataclass(item):
                    check_config(item, f"{key}.{name}")
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, int | float):
                    _check_number(key, item, math)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _check_number(key, value, math)
            if f.name == "target_utilization" and not 0 < value <= 1:
                raise ConfigValueError(key, f"must be above 0 and at most 1, got {value}")
            if f.name in _FRACTIONS and value > 1:
                raise ConfigValueError(key, f"must be at most 1 (a fraction), got {value}")
            if f.name == "replicas_bucket_s" and (value <= 0 or 86400 % value):
                raise ConfigValueError(key, f"must be a number of seconds that divides a day (300, 600, 3600), got {value}")


def _check_number(key: str, value, math) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigValueError(key, f"expected a number, got {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise ConfigValueError(key, f"must be a finite number, got {value}")
    if value < 0:
        raise ConfigValueError(key, f"must not be negative, got {value}")

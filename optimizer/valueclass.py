"""Value class of a workload: from its label, else inferred (DESIGN §5), with the reason recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from optimizer.config import BACKGROUND, EXPERIMENTAL, PRODUCTION, VALUE_CLASSES, ValueClassConfig


@dataclass(frozen=True)
class ValueClass:
    name: str
    inferred: bool
    reason: str


def resolve_value_class(labels: dict, kind: str, namespace: str, cfg: ValueClassConfig) -> ValueClass:
    label = (labels or {}).get(cfg.label_key)
    if isinstance(label, str) and label.strip().lower() in VALUE_CLASSES:
        return ValueClass(label.strip().lower(), False, f"label {cfg.label_key}={label}")
    bad = f" (label {cfg.label_key}={label!r} is not one of {', '.join(VALUE_CLASSES)})" if label else ""
    if kind in cfg.background_kinds:
        return ValueClass(BACKGROUND, True, f"inferred: kind {kind} is batch work{bad}")
    if re.search(cfg.experimental_namespace_pattern, namespace or ""):
        return ValueClass(EXPERIMENTAL, True, f"inferred: namespace '{namespace}' is a dev/test/sandbox one{bad}")
    return ValueClass(PRODUCTION, True, f"inferred: no label, so treated as production (the safe default){bad}")

"""Value class of a workload: from its label, else inferred from its kind and namespace, with the reason recorded.

The one place the inference rule lives: the recommendations and the cost allocation both call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from optimizer.config import BACKGROUND, EXPERIMENTAL, PRODUCTION, VALUE_CLASSES, ValueClassConfig

DEFAULT_VALUE_CLASS_CONFIG = ValueClassConfig()


@dataclass(frozen=True)
class ValueClass:
    name: str
    inferred: bool
    reason: str


def infer_value_class(namespace: str, kind: str, cfg: ValueClassConfig = DEFAULT_VALUE_CLASS_CONFIG) -> ValueClass:
    """The class of an unlabeled workload: batch kinds are background, dev/test-like namespaces
    (``cfg.experimental_namespace_pattern``) experimental, everything else production."""
    if kind in cfg.background_kinds:
        return ValueClass(BACKGROUND, True, f"inferred: kind {kind} is batch work")
    if re.search(cfg.experimental_namespace_pattern, namespace or "", re.IGNORECASE):
        return ValueClass(EXPERIMENTAL, True, f"inferred: namespace '{namespace}' is a dev/test/sandbox-like one")
    return ValueClass(PRODUCTION, True, "inferred: no label, so treated as production (the safe default)")


def resolve_value_class(labels: dict, kind: str, namespace: str, cfg: ValueClassConfig) -> ValueClass:
    """The class named by the ``cfg.label_key`` label, else ``infer_value_class``; the reason says which."""
    label = (labels or {}).get(cfg.label_key)
    if isinstance(label, str) and label.strip().lower() in VALUE_CLASSES:
        return ValueClass(label.strip().lower(), False, f"label {cfg.label_key}={label}")
    bad = f" (label {cfg.label_key}={label!r} is not one of {', '.join(VALUE_CLASSES)})" if label else ""
    inferred = infer_value_class(namespace, kind, cfg)
    return ValueClass(inferred.name, True, inferred.reason + bad)

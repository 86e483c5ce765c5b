"""Who a workload belongs to: team, project, use case and value class from its pods' labels."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass

from optimizer.config import ValueClassConfig
from optimizer.valueclass import DEFAULT_VALUE_CLASS_CONFIG, resolve_value_class
from recommender.config import LabelKeys

UNALLOCATED = "unallocated"
IDLE = "idle"


@dataclass(frozen=True)
class Owner:
    team: str
    project: str
    use_case: str
    value_class: str
    value_class_inferred: bool
    labeled: frozenset[str]  # which of team/project/use_case came from labels


def parse_labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


@functools.lru_cache(maxsize=16)
def _value_class_config(label_key: str) -> ValueClassConfig:
    return dataclasses.replace(DEFAULT_VALUE_CLASS_CONFIG, label_key=label_key)


def owner_of(namespace: str, kind: str, labels: dict[str, str], keys: LabelKeys) -> Owner:
    labeled = set()
    team, project, use_case = keys.optimizer_labels().attribution(labels)
    for name, value in (("team", team), ("project", project), ("use_case", use_case)):
        if value:
            labeled.add(name)
    vc = resolve_value_class(labels, kind, namespace, _value_class_config(keys.value_class))
    return Owner(team=team or UNALLOCATED, project=project or UNALLOCATED, use_case=use_case or UNALLOCATED,
                 value_class=vc.name, value_class_inferred=vc.inferred, labeled=frozenset(labeled))

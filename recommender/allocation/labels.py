"""Who a workload belongs to: team, project, use case and value class from its pods' labels."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from recommender.config import VALUE_CLASSES, LabelKeys

UNALLOCATED = "unallocated"
IDLE = "idle"
# Namespaces that by convention hold non-production work (DESIGN §5: inferred value class).
_EXPERIMENTAL_NS = re.compile(r"(^|[-_.])(dev|test|testing|sandbox|staging|playground|scratch)([-_.]|$)")
_BATCH_KINDS = {"Job", "CronJob"}


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


def infer_value_class(namespace: str, kind: str) -> str:
    if kind in _BATCH_KINDS:
        return "background"
    if _EXPERIMENTAL_NS.search(namespace.lower()):
        return "experimental"
    return "production"


def owner_of(namespace: str, kind: str, labels: dict[str, str], keys: LabelKeys) -> Owner:
    labeled = set()
    team = labels.get(keys.team)
    project = labels.get(keys.project) or (labels.get(keys.project_fallback) if keys.project_fallback else None)
    use_case = labels.get(keys.use_case)
    for name, value in (("team", team), ("project", project), ("use_case", use_case)):
        if value:
            labeled.add(name)
    value_class = labels.get(keys.value_class)
    inferred = value_class not in VALUE_CLASSES
    if inferred:
        value_class = infer_value_class(namespace, kind)
    return Owner(team=team or UNALLOCATED, project=project or UNALLOCATED, use_case=use_case or UNALLOCATED,
                 value_class=value_class, value_class_inferred=inferred, labeled=frozenset(labeled))

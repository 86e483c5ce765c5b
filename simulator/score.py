"""Score a recommendations.json document against the simulator's truth.json.

A workload scores right when it gets exactly what its behaviour calls for: no recommendation where
``expected_actions`` is empty, otherwise exactly one recommendation whose action is one of them. GPUs
allocated to nobody score right when their node gets a reclaim recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Miss:
    workload: str
    behaviour: str
    expected: tuple[str, ...]
    got: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    workloads: int
    workloads_right: int
    idle_nodes: int
    idle_nodes_right: int
    misses: list[Miss] = field(default_factory=list)

    @property
    def all_right(self) -> bool:
        return not self.misses and self.idle_nodes_right == self.idle_nodes


def score(truth: dict, document: dict) -> Score:
    by_workload: dict[tuple, list[str]] = {}
    for r in document.get("recommendations", []):
        w = r["workload"]
        by_workload.setdefault((w.get("namespace"), w["kind"], w["name"]), []).append(r["action"])
    misses = []
    for w in truth["workloads"]:
        got = tuple(by_workload.get((w["namespace"], w["kind"], w["name"]), []))
        expected = tuple(w["expected_actions"])
        right = not got if not expected else len(got) == 1 and got[0] in expected
        if not right:
            misses.append(Miss(f"{w['namespace']}/{w['kind']}/{w['name']}", w["behaviour"], expected, got))
    idle_nodes = {g["node"] for g in truth.get("unallocated_gpus", [])}
    reclaimed = {name for (_, kind, name), actions in by_workload.items()
                 if kind == "Node" and "reclaim-idle-gpu" in actions}
    return Score(workloads=len(truth["workloads"]), workloads_right=len(truth["workloads"]) - len(misses),
                 idle_nodes=len(idle_nodes), idle_nodes_right=len(idle_nodes & reclaimed), misses=misses)

"""Score a recommendations.json document against the simulator's truth.json.

A workload scores right when it gets exactly what its behaviour calls for: no recommendation where
``expected_actions`` is empty, otherwise exactly one recommendation whose action is one of them. GPUs
allocated to nobody score right when their node gets a reclaim recommendation.

An expectation may rely on an optimizer feature (truth.json ``requires``): ``llm-sizing`` is the KV-cache-aware
GPU memory need of pre-allocating LLM servers and the ``use-managed-api`` action (docs/llm.md). Until
the optimizer has it (``optimizer_has``: the action is in ``optimizer.decisions.ACTIONS``), such a workload
scores right when it gets no recommendation at all, and is counted in ``waiting``; once it has it, it is
scored like every other workload.
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
    waiting: list[str] = field(default_factory=list)  # workloads whose expected action needs a feature not built

    @property
    def all_right(self) -> bool:
        return not self.misses and self.idle_nodes_right == self.idle_nodes


def optimizer_has(feature: str) -> bool:
    """Whether the optimizer makes the decisions an expectation ``requires`` (see the module docstring)."""
    if feature == "llm-sizing":
        from optimizer.decisions import ACTIONS

        return "use-managed-api" in ACTIONS
    return True


def right_for(workload: dict, got: tuple[str, ...]) -> tuple[bool, bool]:
    """(right, waiting): exactly the expected action; or, for an expectation whose feature the optimizer
    does not have, no recommendation at all (then ``waiting``)."""
    expected = tuple(workload["expected_actions"])
    right = not got if not expected else len(got) == 1 and got[0] in expected
    needs = workload.get("requires")
    if not right and not got and needs and not optimizer_has(needs):
        return True, True
    return right, False


def score(truth: dict, document: dict) -> Score:
    by_workload: dict[tuple, list[str]] = {}
    for r in document.get("recommendations", []):
        w = r["workload"]
        by_workload.setdefault((w.get("namespace"), w["kind"], w["name"]), []).append(r["action"])
    misses, waiting = [], []
    for w in truth["workloads"]:
        got = tuple(by_workload.get((w["namespace"], w["kind"], w["name"]), []))
        expected = tuple(w["expected_actions"])
        right, wait = right_for(w, got)
        if wait:
            waiting.append(f"{w['namespace']}/{w['kind']}/{w['name']}")
        if not right:
            misses.append(Miss(f"{w['namespace']}/{w['kind']}/{w['name']}", w["behaviour"], expected, got))
    idle_nodes = {g["node"] for g in truth.get("unallocated_gpus", [])}
    reclaimed = {name for (_, kind, name), actions in by_workload.items()
                 if kind == "Node" and "reclaim-idle-gpu" in actions}
    return Score(workloads=len(truth["workloads"]), workloads_right=len(truth["workloads"]) - len(misses),
                 idle_nodes=len(idle_nodes), idle_nodes_right=len(idle_nodes & reclaimed), misses=misses,
                 waiting=waiting)

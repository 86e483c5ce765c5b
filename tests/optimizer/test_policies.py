"""Value-class resolution, resolution of conflicting actions, and the fixed-inventory packer."""

from __future__ import annotations

import pytest

from optimizer.config import DEFAULT_OPTIMIZER_CONFIG, ValueClassConfig
from optimizer.decisions.base import Candidate, Shape
from optimizer.decisions.resolve import resolve
from optimizer.solver import MIB, NodeType, PodSpec
from optimizer.solver.fixed import place_on_fixed_nodes
from optimizer.valueclass import resolve_value_class

CFG = ValueClassConfig()


@pytest.mark.parametrize("labels,kind,ns,want,inferred", [
    ({"rightsizer.io/value-class": "background"}, "Deployment", "prod", "background", False),
    ({"rightsizer.io/value-class": "Experimental"}, "Job", "prod", "experimental", False),
    ({}, "Job", "ml", "background", True),
    ({}, "CronJob", "sandbox", "background", True),
    ({}, "Deployment", "team-dev", "experimental", True),
    ({}, "StatefulSet", "sandbox", "experimental", True),
    ({}, "Deployment", "test", "experimental", True),
    ({}, "Deployment", "devices", "production", True),  # "dev" must be a word, not a prefix
    ({}, "Deployment", "search", "production", True),
    ({"rightsizer.io/value-class": "gold"}, "Deployment", "search", "production", True),
])
def test_value_class(labels, kind, ns, want, inferred):
    vc = resolve_value_class(labels, kind, ns, CFG)
    assert (vc.name, vc.inferred) == (want, inferred)
    assert vc.reason


def test_policies_match_the_documented_defaults():
    p = DEFAULT_OPTIMIZER_CONFIG.value_class.policies
    assert (p["production"].mem_headroom, p["production"].target_utilization, p["production"].spot_allowed,
            p["production"].scale_to_zero_allowed) == (0.20, 0.60, False, False)
    assert (p["experimental"].mem_headroom, p["experimental"].target_utilization, p["experimental"].spot_allowed) == \
        (0.10, 0.80, True)
    assert (p["background"].mem_headroom, p["background"].target_utilization, p["background"].spot_preferred) == \
        (0.10, 0.90, True)
    assert DEFAULT_OPTIMIZER_CONFIG.demand.min_history_hours == 6
    assert DEFAULT_OPTIMIZER_CONFIG.demand.full_confidence_days == 7


class _W:
    def __init__(self, kind="Deployment"):
        self.kind = kind


class _Ctx:
    config = DEFAULT_OPTIMIZER_CONFIG


def _cand(action, tags, cur, prop, **proposed):
    return Candidate(action, {}, proposed, cur, prop, f"{action} saves.", "low", frozenset(tags),
                     Shape(cpu=1, mem=MIB))


def test_release_excludes_everything_and_services_scale_to_zero():
    reclaim = _cand("reclaim-idle-gpu", {"release"}, 10.0, 1.0)
    s2z = _cand("scale-to-zero", {"replicas"}, 10.0, 2.0)
    rs = _cand("rightsize-requests", {"requests"}, 10.0, 9.0)
    assert resolve(_W("Deployment"), [reclaim, s2z, rs], _Ctx()).action == "scale-to-zero"
    assert resolve(_W("StatefulSet"), [reclaim, s2z, rs], _Ctx()).action == "reclaim-idle-gpu"
    assert resolve(_W("StatefulSet"), [reclaim, rs], _Ctx()).proposed == {}


def test_tiny_savings_are_dropped():
    assert resolve(_W(), [_cand("rightsize-requests", {"requests"}, 0.010, 0.005)], _Ctx()) is None


def test_fixed_packer_respects_models_and_fills_shares():
    nodes = [NodeType("a", "on-demand", 1, 16, 64 * 1024 * MIB, 2, "T4"),
             NodeType("b", "on-demand", 1, 16, 64 * 1024 * MIB, 1, "V100")]
    pods = [PodSpec("v", 2, MIB, gpus=1, gpu_models=frozenset({"V100"})),
            PodSpec("w", 2, MIB, gpus=1, gpu_models=frozenset({"V100"})),  # no second V100
            PodSpec("s1", 1, MIB, gpu_milli=600), PodSpec("s2", 1, MIB, gpu_milli=400),
            PodSpec("s3", 1, MIB, gpu_milli=500), PodSpec("c", 1, MIB)]
    res = place_on_fixed_nodes(nodes, pods)
    assert res.placed["v"] == 1 and "w" in res.unplaced
    assert {res.placed[p] for p in ("s1", "s2", "s3")} == {0}
    assert res.gpu_milli_placed() == 1000 + 1500


@pytest.mark.parametrize("ns,kind", [
    ("team-staging", "Deployment"), ("playground", "StatefulSet"), ("ml.scratch", "Deployment"),
    ("testing", "Deployment"), ("Team-Dev", "Deployment"), ("devices", "Deployment"), ("prod", "Deployment"),
    ("sandbox", "Job"), ("search", "CronJob"),
])
def test_recommendations_and_allocation_infer_the_same_value_class(ns, kind):
    from optimizer.valueclass import infer_value_class
    from recommender.allocation.labels import owner_of
    from recommender.config import LabelKeys

    optimizer_side = resolve_value_class({}, kind, ns, CFG)
    allocation_side = owner_of(ns, kind, {}, LabelKeys())
    assert optimizer_side.name == allocation_side.value_class == infer_value_class(ns, kind).name
    assert optimizer_side.inferred and allocation_side.value_class_inferred


@pytest.mark.parametrize("ns,want", [
    ("team-staging", "experimental"), ("playground", "experimental"), ("ml.scratch", "experimental"),
    ("testing", "experimental"), ("Team-Dev", "experimental"), ("devices", "production"),
    ("stagingarea", "production"),
])
def test_documented_namespace_pattern(ns, want):
    assert resolve_value_class({}, "Deployment", ns, CFG).name == want


def test_allocation_honours_a_configured_value_class_label():
    from recommender.allocation.labels import owner_of
    from recommender.config import LabelKeys

    owner = owner_of("prod", "Deployment", {"tier": " Background "}, LabelKeys(value_class="tier"))
    assert (owner.value_class, owner.value_class_inferred) == ("background", False)

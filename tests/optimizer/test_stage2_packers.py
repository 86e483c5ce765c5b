"""Stage 2's packers for one node type: GPU-first packing, the slot model and pattern packing, checked
node by node (and pattern packing against exhaustive search)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver import MIG_80GB, NodeType, PodSpec
from optimizer.solver.classes import build_classes
from optimizer.solver.ffd import ffd_pack
from optimizer.solver.gpufirst import gpu_first_pack
from optimizer.solver.slots import solve_slots
from optimizer.solver.typepatterns import pattern_pack
from tests.optimizer.bruteforce import block_fits, brute_force_cost

GIB = 1024**3
P4 = NodeType("p.4", "on-demand", 14.0, 48, 400 * GIB, 4, "A100-80GB", 80 * GIB, MIG_80GB)
P4_SPOT = NodeType("p.4", "spot", 6.0, 48, 400 * GIB, 4, "A100-80GB", 80 * GIB, MIG_80GB)

gpu_pod = st.one_of(
    st.builds(lambda g, c: PodSpec("", c, 8 * GIB, gpus=g), st.sampled_from([1, 2, 4]), st.sampled_from([1, 4, 8])),
    st.builds(lambda p, c: PodSpec("", c, 4 * GIB, mig_profile=p),
              st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb"]), st.sampled_from([1, 2])),
    st.builds(lambda f: PodSpec("", 1, 2 * GIB, gpu_milli=f), st.sampled_from([250, 400, 500, 600])),
    st.builds(lambda c: PodSpec("", c, 2 * GIB), st.sampled_from([1, 8])),
)


def _named(pods):
    return [PodSpec(f"p{i}", p.cpu, p.mem, p.gpus, p.gpu_milli, p.mig_profile) for i, p in enumerate(pods)]


def _check(bins, pods, t):
    by_name = {p.name: p for p in pods}
    assert sorted(n for b in bins for n in b.pods) == sorted(by_name)
    for b in bins:
        assert b.node_type is t and block_fits(t, [by_name[n] for n in b.pods])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(gpu_pod, min_size=1, max_size=12))
def test_gpu_first_packing_is_valid(raw):
    pods = _named(raw)
    bins = gpu_first_pack(build_classes(pods), P4)
    assert bins is not None
    _check(bins, pods, P4)


def test_gpu_first_finds_the_fewest_gpus_for_mig_where_first_fit_does_not():
    # {3g, 2g, 2g} and {3g, 2g, 1g, 1g} fill two GPUs; with two 4-GPU pods, two nodes are enough
    profiles = ["3g.40gb", "3g.40gb", "2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    pods = [PodSpec(f"m{i}", 1, GIB, mig_profile=p) for i, p in enumerate(profiles)]
    pods += [PodSpec("w0", 4, 8 * GIB, gpus=2), PodSpec("w1", 4, 8 * GIB, gpus=4)]
    classes = build_classes(pods)
    assert len(ffd_pack(classes, [P4], spot_caps=False)[0]) == 3
    bins = gpu_first_pack(classes, P4)
    _check(bins, pods, P4)
    assert len(bins) == 2


def test_slot_model_without_spot_caps_packs_a_spot_share_already_split():
    # stage 1 put 2 of a 4-replica workload (cap 50 % on spot) on this spot type: the slot model must
    # not apply the cap again to those 2
    pods = [PodSpec(f"w{i}", 4, 8 * GIB, gpus=1, spot_ok=True, group="ns/w", max_spot_fraction=0.5) for i in range(2)]
    classes = build_classes(pods)
    capped, status = solve_slots(classes, [P4_SPOT], hint=None, time_limit_s=5, num_workers=1, seed=0)
    assert capped is None and status == "INFEASIBLE"
    bins, _ = solve_slots(classes, [P4_SPOT], hint=None, time_limit_s=5, num_workers=1, seed=0, spot_caps=False)
    _check(bins, pods, P4_SPOT)


G1 = NodeType("g.1", "on-demand", 0.8, 3.8, 14 * GIB, 1, "L4", 24 * GIB)

small_gpu_pod = st.one_of(
    st.builds(lambda c, m: PodSpec("", c, m * GIB, gpus=1), st.sampled_from([1, 2]), st.sampled_from([4, 8])),
    st.builds(lambda f, c, m: PodSpec("", c, m * GIB, gpu_milli=f), st.sampled_from([250, 500]),
              st.sampled_from([0.5, 1, 2]), st.sampled_from([2, 4, 8])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(small_gpu_pod, min_size=1, max_size=7))
def test_pattern_packing_of_one_type_is_optimal(raw):
    pods = _named(raw)
    bins, proven = pattern_pack(build_classes(pods), G1, time_limit_s=5, num_workers=1, seed=0)
    _check(bins, pods, G1)
    assert proven
    assert len(bins) * G1.hourly == pytest.approx(brute_force_cost(pods, [G1]))

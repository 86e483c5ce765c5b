"""The two-stage solver against exhaustive search on tiny instances, and its reporting."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.solver import MIG_80GB, NodeType, PodSpec, SolverOptions, solve, type_allows
from tests.optimizer.bruteforce import block_fits, brute_force_cost

GIB = 1024**3
OPTS = SolverOptions(num_workers=1, seed=7, stage1_time_s=10, exact_time_s=20)

TYPES = [
    NodeType("c.large", "on-demand", 0.10, 2, 4 * GIB),
    NodeType("c.xlarge", "on-demand", 0.17, 4, 8 * GIB),
    NodeType("r.xlarge", "on-demand", 0.25, 4, 32 * GIB),
    NodeType("g.1", "on-demand", 1.00, 8, 32 * GIB, 1, "A10G", 24 * GIB),
    NodeType("g.4", "on-demand", 3.60, 48, 192 * GIB, 4, "A10G", 24 * GIB),
    NodeType("g.4", "spot", 1.50, 48, 192 * GIB, 4, "A10G", 24 * GIB),
    NodeType("p.1", "on-demand", 4.00, 12, 100 * GIB, 1, "A100-80GB", 80 * GIB, MIG_80GB),
    NodeType("p.2", "on-demand", 7.20, 24, 200 * GIB, 2, "A100-80GB", 80 * GIB, MIG_80GB),
]


def check_valid(result, pods):
    """Every pod placed once, every node really holds its pods."""
    by_name = {p.name: p for p in pods}
    seen = []
    for node in result.nodes:
        for name in node.pods:
            assert type_allows(node.node_type, by_name[name])
        assert block_fits(node.node_type, [by_name[n] for n in node.pods])
        seen.extend(node.pods)
    assert sorted(seen) == sorted(n for n in by_name if n not in result.unplaced)
    assert math.isclose(result.cost, sum(n.node_type.hourly for n in result.nodes))


pod_strategy = st.one_of(
    st.builds(lambda c, m: ("cpu", c, m), st.sampled_from([0.5, 1, 1.5, 3]), st.sampled_from([1, 3, 6, 20])),
    st.builds(lambda k, s: ("gpu", k, s), st.sampled_from([1, 2]), st.booleans()),
    st.builds(lambda f: ("share", f), st.sampled_from([250, 400, 600])),
    st.builds(lambda p: ("mig", p), st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb"])),
)


def make_pods(shapes) -> list[PodSpec]:
    pods = []
    for i, s in enumerate(shapes):
        if s[0] == "cpu":
            pods.append(PodSpec(f"cpu{i}", s[1], s[2] * GIB))
        elif s[0] == "gpu":
            pods.append(PodSpec(f"gpu{i}", 4, 20 * GIB, gpus=s[1], spot_ok=s[2], gpu_models=frozenset({"A10G"})))
        elif s[0] == "share":
            pods.append(PodSpec(f"share{i}", 1, 4 * GIB, gpu_milli=s[1], gpu_models=frozenset({"A10G"})))
        else:
            pods.append(PodSpec(f"mig{i}", 1, 8 * GIB, mig_profile=s[1]))
    return pods


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(pod_strategy, min_size=1, max_size=6))
def test_matches_brute_force_on_small_instances(shapes):
    pods = make_pods(shapes)
    result = solve(pods, TYPES, OPTS)
    check_valid(result, pods)
    expected = brute_force_cost(pods, TYPES)
    assert result.cost == pytest.approx(expected, abs=1e-6)
    assert result.lower_bound <= result.cost + 1e-9
    assert result.cost <= result.ffd_cost + 1e-9


def test_fragmentation_case_beats_ffd_and_is_optimal():
    # three 3-GPU pods + three 1-GPU pods: FFD opens a 4-GPU node per big pod and fills them; the
    # cheaper answer must still hold everything; brute force says what optimal is
    pods = [PodSpec(f"big{i}", 8, 30 * GIB, gpus=3) for i in range(3)]
    pods += [PodSpec(f"small{i}", 2, 8 * GIB, gpus=1) for i in range(3)]
    result = solve(pods, TYPES, OPTS)
    check_valid(result, pods)
    assert result.cost == pytest.approx(brute_force_cost(pods, TYPES))
    assert result.gap == pytest.approx(0, abs=1e-6)


def test_spot_share_cap_is_respected():
    pods = [PodSpec(f"w{i}", 4, 20 * GIB, gpus=1, spot_ok=True, group="ns/web", max_spot_fraction=0.5)
            for i in range(4)]
    result = solve(pods, TYPES, OPTS)
    check_valid(result, pods)
    on_spot = sum(len(n.pods) for n in result.nodes if n.node_type.market == "spot")
    assert on_spot <= 2
    assert result.cost == pytest.approx(brute_force_cost(pods, TYPES))


def test_pod_larger_than_every_node_is_reported_by_name():
    pods = [PodSpec("fits", 1, GIB), PodSpec("too-big", 512, 4 * GIB),
            PodSpec("needs-8-gpus", 4, GIB, gpus=8), PodSpec("wrong-model", 1, GIB, gpus=1,
                                                               gpu_models=frozenset({"H100-80GB"}))]
    result = solve(pods, TYPES, OPTS)
    assert set(result.unplaced) == {"too-big", "needs-8-gpus", "wrong-model"}
    assert "larger than every" in result.unplaced["too-big"]
    assert [p for n in result.nodes for p in n.pods] == ["fits"]
    assert result.cost == pytest.approx(0.10)


def test_only_unplaceable_pods_gives_empty_answer():
    result = solve([PodSpec("too-big", 512, GIB)], TYPES, OPTS)
    assert result.nodes == [] and result.cost == 0 and list(result.unplaced) == ["too-big"]


def test_gpu_model_constraint_and_mig_geometry():
    # 3g.40gb + 3g.40gb + 1g.10gb: compute 7, memory 9 slices -> not one GPU; needs two A100 GPUs
    pods = [PodSpec("a", 1, GIB, mig_profile="3g.40gb"), PodSpec("b", 1, GIB, mig_profile="3g.40gb"),
            PodSpec("c", 1, GIB, mig_profile="1g.10gb")]
    result = solve(pods, TYPES, OPTS)
    check_valid(result, pods)
    assert all(n.node_type.gpu_model == "A100-80GB" for n in result.nodes)
    assert result.cost == pytest.approx(brute_force_cost(pods, TYPES))


def test_deterministic_with_one_worker_and_seed():
    pods = make_pods([("cpu", 1, 3), ("gpu", 1, True), ("share", 400), ("share", 600), ("mig", "2g.20gb"),
                      ("cpu", 3, 20), ("gpu", 2, False)])
    a, b = solve(pods, TYPES, OPTS), solve(pods, TYPES, OPTS)
    assert [(n.node_type.key, n.pods) for n in a.nodes] == [(n.node_type.key, n.pods) for n in b.nodes]


def test_reports_all_numbers():
    pods = make_pods([("cpu", 1, 3)] * 10 + [("gpu", 1, False)] * 3)
    r = solve(pods, TYPES, OPTS)
    assert r.lower_bound > 0 and r.ffd_cost >= r.cost and r.solve_seconds > 0
    assert 0 <= r.gap <= 1 and r.classes == 2 and r.method in {"two-stage", "ffd", "exact"}


def test_mig_layout_that_largest_first_placement_misses():
    # one 2-GPU node holds {3g, 2g, 2g} + {3g, 2g, 1g, 1g}; placing largest first on the fullest GPU puts
    # both 3g slices on one GPU and then cannot place the second 1g.10gb
    profiles = ["3g.40gb", "3g.40gb", "2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    pods = [PodSpec(f"m{i}", 1, GIB, mig_profile=p) for i, p in enumerate(profiles)]
    p2 = [t for t in TYPES if t.name == "p.2"]
    assert block_fits(p2[0], pods)
    result = solve(pods, p2, OPTS)
    check_valid(result, pods)
    assert result.cost == pytest.approx(7.20)


def test_the_packing_of_pods_without_gpus_is_reused_for_the_same_pods(monkeypatch):
    # the node plan is solved again without each action type; an action that changes only GPU pods leaves
    # the pods without GPUs, a problem of their own, as they were: their packing is taken again
    import sys

    solve_module = sys.modules["optimizer.solver.solve"]
    calls = []
    real = solve_module.solve_patterns

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(solve_module, "solve_patterns", counted)
    types = [NodeType("c.xlarge", "on-demand", 0.17, 4, 8 * GIB), NodeType("r.xlarge", "on-demand", 0.25, 4, 32 * GIB),
             NodeType("g.4", "on-demand", 3.60, 48, 192 * GIB, 4, "A10G", 24 * GIB, gpu_pods_only=True)]
    web = [PodSpec(f"web#{i}", cpu=1.5, mem=3 * GIB) for i in range(30)]
    cache = [PodSpec(f"cache#{i}", cpu=0.5, mem=12 * GIB) for i in range(15)]
    whole = [PodSpec(f"train#{i}", cpu=4, mem=16 * GIB, gpus=1) for i in range(3)]
    shared = [PodSpec(f"train#{i}", cpu=4, mem=16 * GIB, gpu_milli=500) for i in range(3)]
    opts = SolverOptions(num_workers=1, seed=7, stage1_time_s=5, pattern_time_s=5)
    reuse: dict = {}
    first = solve(web + cache + whole, types, opts, reuse=reuse)
    second = solve(web + cache + shared, types, opts, reuse=reuse)
    assert len(calls) == 1
    check_valid(second, web + cache + shared)

    def cpu_nodes(result):
        return sorted((n.node_type.key, sorted(n.pods)) for n in result.nodes if not n.node_type.gpus)

    assert cpu_nodes(second) == cpu_nodes(first) and cpu_nodes(first)
    # another size of one pod without GPUs is another sub-problem: solved again, and valid
    bigger = [PodSpec("web#0", cpu=3.5, mem=3 * GIB)] + web[1:]
    third = solve(bigger + cache + shared, types, opts, reuse=reuse)
    assert len(calls) == 2
    check_valid(third, bigger + cache + shared)

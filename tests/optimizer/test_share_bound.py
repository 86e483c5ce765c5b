"""The GPU-units upper bound (pattern LP) against exhaustive packing, an LP over every pattern listed
explicitly, the packer itself, and the openb benchmark's ``--bound`` column."""

from __future__ import annotations

import csv
import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from benchmarks import openb_packing
from optimizer.solver import MIB, NodeType, PodSpec
from optimizer.solver.fixed import place_on_fixed_nodes
from optimizer.solver.share_bound import best_pattern, certify, gpu_units_upper_bound, offered_shares

SIZES = [50, 160, 230, 320, 460, 470, 550, 650, 810, 1000]  # share sizes of the openb trace, and whole GPUs


def brute_force_milli(gpus: int, sizes: list[int]) -> int:
    """Most milli-GPUs placeable: every way of putting each share on one of the GPUs or leaving it out."""
    sizes = sorted(sizes, reverse=True)
    best = 0

    def go(i: int, loads: list[int], placed: int) -> None:
        nonlocal best
        best = max(best, placed)
        if i == len(sizes) or placed + sum(sizes[i:]) <= best:
            return
        tried = set()
        for g in range(gpus):
            if loads[g] + sizes[i] <= 1000 and loads[g] not in tried:  # GPUs with equal load are alike
                tried.add(loads[g])
                loads[g] += sizes[i]
                go(i + 1, loads, placed + sizes[i])
                loads[g] -= sizes[i]
        go(i + 1, loads, placed)

    go(0, [0] * gpus, 0)
    return best


def all_patterns(offered: dict[int, int]) -> list[dict[int, int]]:
    """Every nonempty multiset of the offered sizes that fits one GPU, listed one by one."""
    sizes = sorted(offered)
    ranges = [range(min(offered[s], 1000 // s) + 1) for s in sizes]
    out = []
    for counts in itertools.product(*ranges):
        if 0 < sum(k * s for k, s in zip(counts, sizes, strict=True)) <= 1000:
            out.append({s: k for s, k in zip(sizes, counts, strict=True) if k})
    return out


def explicit_lp(gpus: int, offered: dict[int, int]) -> float:
    lp = pywraplp.Solver.CreateSolver("GLOP")
    pats = all_patterns(offered)
    x = [lp.NumVar(0, lp.infinity(), "") for _ in pats]
    lp.Add(sum(x) <= gpus)
    for s, n in offered.items():
        lp.Add(sum(p.get(s, 0) * xi for p, xi in zip(pats, x, strict=True)) <= n)
    lp.Maximize(sum(sum(s * k for s, k in p.items()) * xi for p, xi in zip(pats, x, strict=True)))
    assert lp.Solve() == pywraplp.Solver.OPTIMAL
    return lp.Objective().Value()


small = st.tuples(st.integers(1, 3), st.lists(st.sampled_from(SIZES), min_size=1, max_size=8))


@pytest.mark.parametrize(("gpus", "sizes"), [
    (2, [460, 470, 810]),  # 460+470 on one GPU, 810 alone
    (3, [460, 460, 460, 470, 470, 470]),
    (2, [1000, 1000, 1000]),  # whole GPUs: more offered than there are
    (4, [1000, 1000, 600, 600, 600, 600, 600, 300, 300, 300]),
    (1, [50] * 25),  # twenty 50-milli shares fill one GPU
])
def test_bound_is_the_optimum_where_the_relaxation_is_exact(gpus, sizes):
    b = gpu_units_upper_bound(gpus, Counter(sizes))
    assert b.bound_milli == brute_force_milli(gpus, sizes)


def test_bound_stays_above_the_optimum_where_the_relaxation_is_not_exact():
    # three GPUs, three 810s and three 470s: the best packing is 470+470, 810, 810 = 2560; the LP may
    # fill one and a half GPUs with 470+470 (2625)
    sizes = [810, 810, 810, 470, 470, 470]
    b = gpu_units_upper_bound(3, Counter(sizes))
    assert brute_force_milli(3, sizes) == 2560
    assert b.bound_milli == 2625


@settings(max_examples=60, deadline=None)
@given(small)
def test_bound_is_at_least_the_brute_force_optimum(case):
    gpus, sizes = case
    b = gpu_units_upper_bound(gpus, Counter(sizes))
    opt = brute_force_milli(gpus, sizes)
    assert b.bound_milli >= opt
    assert b.bound_milli <= min(gpus * 1000, sum(sizes))
    assert b.lp_milli - 1 < b.bound_milli <= b.lp_milli + 1e-3  # the LP optimum, rounded down to whole milli
    if all(abs(v - round(v)) < 1e-9 for v in b.solution.values()):  # an integral LP optimum is a packing
        assert b.bound_milli == opt


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.dictionaries(st.sampled_from(SIZES), st.integers(1, 6), min_size=1, max_size=5))
def test_column_generation_reaches_the_lp_over_every_pattern(gpus, offered):
    b = gpu_units_upper_bound(gpus, offered)
    assert b.lp_milli == pytest.approx(explicit_lp(gpus, offered), abs=1e-6)
    assert b.lp_milli - 1 < b.bound_milli <= b.lp_milli + 1e-3


@settings(max_examples=40, deadline=None)
@given(small, st.lists(st.floats(-200, 1200, allow_nan=False), min_size=len(SIZES), max_size=len(SIZES)))
def test_certificate_holds_for_any_prices(case, prices):
    gpus, sizes = case
    assert certify(gpus, Counter(sizes), dict(zip(SIZES, prices, strict=True))) >= brute_force_milli(gpus, sizes)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(SIZES), st.integers(1, 4), min_size=1, max_size=6),
       st.lists(st.integers(-300, 1000), min_size=len(SIZES), max_size=len(SIZES)))
def test_best_pattern_is_the_best_of_every_pattern(offered, profits):
    profit = dict(zip(SIZES, profits, strict=True))
    value, pattern = best_pattern(profit, offered)
    best = max([sum(profit[s] * k for s, k in p.items()) for p in all_patterns(offered)] + [0])
    assert value == best
    assert sum(s * k for s, k in pattern) <= 1000
    assert all(k <= offered[s] for s, k in pattern)
    assert sum(profit[s] * k for s, k in pattern) == value


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 4]), min_size=1, max_size=3),
       st.lists(st.one_of(st.sampled_from(SIZES[:-1]), st.sampled_from([-1, -2, -4])), min_size=1, max_size=12))
def test_bound_is_above_what_the_packer_places(node_gpus, demands):
    nodes = [NodeType(f"n{g}", "on-demand", 1.0, 64, 256 * 1024 * MIB, g, "G2", 0) for g in node_gpus]
    pods = [PodSpec(f"p{i}", 1, MIB, gpus=-d) if d < 0 else PodSpec(f"p{i}", 1, MIB, gpu_milli=d)
            for i, d in enumerate(demands)]
    placed = place_on_fixed_nodes(nodes, pods).gpu_milli_placed()
    assert gpu_units_upper_bound(sum(node_gpus), offered_shares(pods)).bound_milli >= placed


def test_offered_shares_counts_whole_gpus_and_shares():
    pods = [PodSpec("a", 1, MIB, gpus=4), PodSpec("b", 1, MIB, gpu_milli=460), PodSpec("c", 1, MIB),
            PodSpec("d", 1, MIB, gpu_milli=460), PodSpec("e", 1, MIB, gpus=1)]
    assert offered_shares(pods) == {1000: 5, 460: 2}
    with pytest.raises(ValueError, match="MIG"):
        offered_shares([PodSpec("m", 1, MIB, mig_profile="1g.10gb")])


@pytest.mark.parametrize("size", [0, 1001, -5])
def test_share_sizes_out_of_range_are_refused(size):
    with pytest.raises(ValueError, match="share sizes"):
        gpu_units_upper_bound(2, {size: 1})


def test_no_gpus_or_no_shares_bound_zero():
    assert gpu_units_upper_bound(0, {460: 3}).bound_milli == 0
    assert gpu_units_upper_bound(3, {}).bound_milli == 0


def test_openb_benchmark_prints_the_bound_beside_the_ratio(tmp_path, capsys):
    nodes = tmp_path / "nodes.csv"
    with open(nodes, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sn", "cpu_milli", "memory_mib", "gpu", "model"])
        for i in range(3):
            w.writerow([f"openb-node-{i}", 32000, 131072, 2, "G2"])
    pods = tmp_path / "openb_pod_list_tiny.csv"
    with open(pods, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"])
        for i, (n, milli) in enumerate([(1, 810), (1, 470), (1, 460), (0, 0), (2, 1000), (1, 810)]):
            w.writerow([f"openb-pod-{i}", 1000, 1024, n, milli, ""])
    assert openb_packing.main(["--pods", str(pods), "--nodes", str(nodes), "--bound"]) == 0
    out = capsys.readouterr().out
    assert "bound %" in out.splitlines()[0]
    row = next(line for line in out.splitlines() if line.startswith("openb_pod_list_tiny"))
    ratio, bound = (float(v) for v in row.split()[6:8])  # the "ours %" and "bound %" columns
    gpus = 6
    arrived = openb_packing.arrived(openb_packing.load_pods(pods), gpus, 1.3, 42)
    expected = gpu_units_upper_bound(gpus, offered_shares(arrived))
    assert 100 * expected.ratio <= bound < 100 * expected.ratio + 0.01  # rounded up, never down
    assert ratio <= bound + 0.005

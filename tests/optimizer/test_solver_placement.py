"""Placement the cluster can run: pods keep to their architecture, burstable families stay out, every node
keeps room for its DaemonSets and has a pod limit (docs/solver.md, Placement)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from optimizer.catalog import Catalog
from optimizer.config import OptimizerConfig, SolverConfig
from optimizer.costing import Pricing
from optimizer.decisions import consolidate
from optimizer.decisions.base import Context
from optimizer.decisions.placement import daemonset_reserve, label_archs, workload_archs
from optimizer.inventory import ContainerSpec, Inventory, NodeInfo, PodInfo, Workload
from optimizer.solver import MIB, NodeBin, NodeType, PodSpec, SolverOptions, solve
from optimizer.solver.adapter import (
    BURSTABLE_FAMILIES,
    DaemonSetLoad,
    DaemonSetReserve,
    node_types_from_catalog,
)
from optimizer.valueclass import ValueClass

GIB = 1024**3
START = datetime(2026, 1, 5, tzinfo=UTC)
DAY = 86400
START_MS = int(START.timestamp() * 1000)
END_MS = START_MS + DAY * 1000
FAST = SolverOptions(stage1_time_s=5, num_workers=1, seed=0, pattern_time_s=3, exact_time_s=5)
CONFIG = OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=5, pattern_time_s=3))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# -- the solver on hand-made node types ------------------------------------------------------------------
def _types():
    # the Graviton type is cheaper for the same room: an unrestricted solve takes it
    return [NodeType("x86.big", "on-demand", 1.0, cpu=16, mem=64 * GIB, arch="x86_64"),
            NodeType("arm.big", "on-demand", 0.8, cpu=16, mem=64 * GIB, arch="arm64"),
            NodeType("odd.big", "on-demand", 0.5, cpu=16, mem=64 * GIB, arch=None)]


def _pods(n, archs, prefix="p"):
    return [PodSpec(f"{prefix}{i}", cpu=3, mem=8 * GIB, archs=archs) for i in range(n)]


def test_pinned_pods_never_leave_their_arch():
    result = solve(_pods(10, frozenset({"x86_64"})), _types(), FAST)
    assert not result.unplaced
    assert {n.node_type.name for n in result.nodes} == {"x86.big"}
    assert result.cost == pytest.approx(2.0)  # 10 × 3 cores: two 16-core nodes


def test_pods_that_run_anywhere_take_the_cheapest_arch():
    result = solve(_pods(10, None), _types(), FAST)
    assert {n.node_type.name for n in result.nodes} == {"odd.big"}  # unknown arch is fine for them
    result = solve(_pods(10, frozenset({"x86_64", "arm64"})), _types(), FAST)
    assert {n.node_type.name for n in result.nodes} == {"arm.big"}


def test_mixed_arch_pods_share_no_node_of_the_wrong_arch():
    pods = _pods(5, frozenset({"x86_64"}), "x") + _pods(5, frozenset({"arm64"}), "a") + _pods(4, None, "f")
    result = solve(pods, _types(), FAST)
    assert not result.unplaced
    for node in result.nodes:
        for name in node.pods:
            if name.startswith("x"):
                assert node.node_type.arch == "x86_64"
            elif name.startswith("a"):
                assert node.node_type.arch == "arm64"


def test_pod_limit_of_a_node_binds_before_cpu_and_memory():
    small = NodeType("tiny.pods", "on-demand", 0.1, cpu=8, mem=32 * GIB, arch="x86_64", max_pods=4)
    pods = [PodSpec(f"s{i}", cpu=0.05, mem=64 * MIB) for i in range(10)]
    result = solve(pods, [small], FAST)
    assert not result.unplaced
    assert len(result.nodes) == 3 and all(len(n.pods) <= 4 for n in result.nodes)
    b = NodeBin(small)
    assert all(b.place(p) for p in pods[:4]) and not b.place(pods[4])


# -- node types from the catalog ---------------------------------------------------------------------------
def test_burstable_families_only_when_allowed(catalog):
    default = node_types_from_catalog(catalog, cfg=SolverConfig())
    assert not [t for t in default if catalog.get(t.name).family in BURSTABLE_FAMILIES]
    allowed = node_types_from_catalog(catalog, cfg=SolverConfig(allow_burstable=True))
    assert {catalog.get(t.name).family for t in allowed} >= {"t3"}


def test_node_types_carry_allocatable_less_daemonsets_and_arch(catalog):
    ds = DaemonSetReserve(gpu_nodes=DaemonSetLoad(cpu=0.5, mem=1024 * MIB, pods=5),
                          cpu_nodes=DaemonSetLoad(cpu=0.42, mem=600 * MIB, pods=3))
    types = {(t.name, t.market): t for t in node_types_from_catalog(catalog, daemonsets=ds)}
    p5 = types["p5.48xlarge", "on-demand"]
    # Karpenter's table: p5.48xlarge 191450m, 1938410Mi, 100 pods; m7i.xlarge 3920m, 14162Mi, 58 pods
    assert (p5.cpu_m, p5.mem_mib, p5.max_pods, p5.arch) == (191450 - 500, 1938410 - 1024, 95, "x86_64")
    m7i = types["m7i.xlarge", "on-demand"]
    assert (m7i.cpu_m, m7i.mem_mib, m7i.max_pods) == (3920 - 420, 14162 - 600, 55)
    assert types["m7g.xlarge", "on-demand"].arch == "arm64"


def test_node_filled_to_allocatable_less_daemonsets_accepts_no_more(catalog):
    ds = DaemonSetReserve(cpu_nodes=DaemonSetLoad(cpu=0.42, mem=600 * MIB, pods=3))
    t = next(t for t in node_types_from_catalog(catalog, daemonsets=ds) if t.key == "m7i.xlarge/on-demand")
    # 3500 m and 13562 MiB left: six pods of 500 m / 2000 MiB and one of 500 m / 1562 MiB fill it exactly
    pods = [PodSpec(f"w{i}", cpu=0.5, mem=2000 * MIB) for i in range(6)] + [PodSpec("w6", cpu=0.5, mem=1562 * MIB)]
    full = NodeBin(t)
    assert all(full.place(p) for p in pods)
    assert (full.cpu, full.mem) == (0, 0)
    assert not full.fits(PodSpec("one-more-millicore", cpu=0.001, mem=1))
    assert len(solve(pods, [t], FAST).nodes) == 1
    assert len(solve(pods + [PodSpec("extra", cpu=0.001, mem=MIB)], [t], FAST).nodes) == 2


# -- the consolidation decision on a hand-built cluster ----------------------------------------------------
def _cluster(catalog, *, nodes, workloads, config=CONFIG):
    """``nodes``: (name, instance type, kubernetes.io/arch label or None); ``workloads``: (kind, name, cpu,
    mem, labels, node names the pods run on)."""
    infos = {name: NodeInfo(name, itype, "on-demand", "us-east-1", "us-east-1a", None, None, 0, None, START_MS, END_MS,
                            arch=label) for name, itype, label in nodes}
    wls, index = {}, {}
    for kind, name, cpu, mem, labels, on in workloads:
        pods = [PodInfo("apps", f"{name}-{i}", node, seconds=DAY, first_ms=START_MS, last_ms=END_MS)
                for i, node in enumerate(on)]
        w = Workload("apps", kind, name, dict(labels), ValueClass("production", False, "label"),
                     [ContainerSpec("main", cpu, None, mem, None, None, None)], pods)
        wls[w.key] = w
        index.update({("apps", p.name): w.key for p in pods})
    inv = Inventory(START, START + timedelta(seconds=DAY), 60.0, wls, infos, {}, index)
    return Context(inv, Pricing(catalog), catalog, config)


def _x86_cluster(catalog, labels=None, config=CONFIG):
    nodes = [(f"n{i}", "m7i.2xlarge", "amd64") for i in range(4)]
    apps = [("Deployment", f"svc{j}", 1.5, 3 * GIB, labels or {}, [f"n{i % 4}" for i in range(6)]) for j in range(3)]
    ds = [("DaemonSet", "node-exporter", 0.1, 128 * MIB, {}, [n for n, _, _ in nodes])]
    return _cluster(catalog, nodes=nodes, workloads=apps + ds, config=config)


def _plan_types(catalog, stats):
    return {catalog.get(key.split("/")[0]) for key in stats["placement"]}


def test_all_x86_cluster_gets_no_arm64_or_burstable_nodes(catalog):
    ctx = _x86_cluster(catalog)
    cand, stats = consolidate.decide(ctx, {}, set())
    assert cand is not None and not stats["unplaced"]
    assert stats["pods_by_arch"] == {"x86_64": 18}  # the DaemonSet is reserved room, not packed
    plan = _plan_types(catalog, stats)
    assert {it.arch for it in plan} == {"x86_64"}
    assert not {it.family for it in plan} & BURSTABLE_FAMILIES


def test_arch_any_label_lets_pods_move_to_arm64(catalog):
    ctx = _x86_cluster(catalog, labels={"rightsizer.io/arch": "any"})
    cand, stats = consolidate.decide(ctx, {}, set())
    assert cand is not None and stats["pods_by_arch"] == {"any": 18}
    assert "arm64" in {it.arch for it in _plan_types(catalog, stats)}  # Graviton is cheaper per core here


def test_multi_arch_config_does_what_the_label_does(catalog):
    config = replace(CONFIG, solver=replace(CONFIG.solver, multi_arch_images=True))
    _, stats = consolidate.decide(_x86_cluster(catalog, config=config), {}, set())
    assert "arm64" in {it.arch for it in _plan_types(catalog, stats)}


def test_node_arch_from_the_catalog_when_unlabelled(catalog):
    ctx = _cluster(catalog, nodes=[("g1", "m7g.large", None), ("x1", "m7i.large", None)],
                   workloads=[("Deployment", "arm-app", 0.5, GIB, {}, ["g1"]),
                              ("Deployment", "x86-app", 0.5, GIB, {}, ["x1"]),
                              ("Deployment", "both", 0.5, GIB, {}, ["g1", "x1"]),
                              ("Deployment", "pinned", 0.5, GIB, {"rightsizer.io/arch": "arm64"}, ["x1"])])
    archs = {w.name: workload_archs(w, ctx) for w in ctx.inventory.workloads.values()}
    assert archs == {"arm-app": frozenset({"arm64"}), "x86-app": frozenset({"x86_64"}),
                     "both": frozenset({"x86_64", "arm64"}), "pinned": frozenset({"arm64"})}


def test_arch_label_values():
    assert label_archs("any") is None and label_archs(" ANY ") is None
    assert label_archs("amd64,arm64") == frozenset({"x86_64", "arm64"})
    assert label_archs(None) is False and label_archs("sparc") is False


def test_daemonset_reserve_is_the_largest_per_node_sum_per_node_kind(catalog):
    nodes = [("c1", "m7i.2xlarge", "amd64"), ("c2", "m7i.2xlarge", "amd64"), ("c3", "m7i.2xlarge", "amd64")]
    ds = [("DaemonSet", "exporter", 0.1, 128 * MIB, {}, ["c1", "c2", "c3"]),
          ("DaemonSet", "log-agent", 0.25, 512 * MIB, {}, ["c1", "c2"]),
          ("Deployment", "app", 1.0, GIB, {}, ["c3"])]
    ctx = _cluster(catalog, nodes=nodes, workloads=ds)
    r = daemonset_reserve(ctx, {})
    assert r.cpu_nodes == DaemonSetLoad(cpu=pytest.approx(0.35), mem=640 * MIB, pods=2)
    assert r.gpu_nodes == r.cpu_nodes  # no GPU node observed: the largest over all nodes


def test_plan_keeps_exactly_the_daemonset_room_on_a_full_node(catalog):
    """Two m7i.xlarge nodes; a DaemonSet on each; the app's pods fill one node's allocatable less the
    DaemonSet exactly. The plan is one node; a millicore more of DaemonSet and it stays at two."""
    only = Catalog({n: catalog.get(n) for n in ("m7i.xlarge", "m7i.2xlarge")}, snapshot_date="test", source="test")
    nodes = [("a", "m7i.xlarge", "amd64"), ("b", "m7i.xlarge", "amd64")]
    # 3920 m − 420 m = 3500 m, 14162 MiB − 600 MiB = 13562 MiB: six pods of 500 m / 2000 MiB, one of 500 m / 1562 MiB
    apps = [("Deployment", "fill", 0.5, 2000 * MIB, {}, ["a", "b", "a", "b", "a", "b"]),
            ("Deployment", "last", 0.5, 1562 * MIB, {}, ["b"])]

    def plan(ds_cpu):
        ds = ("DaemonSet", "agent", ds_cpu, 600 * MIB, {}, ["a", "b"])
        return consolidate.decide(_cluster(only, nodes=nodes, workloads=[*apps, ds]), {}, set())

    cand, stats = plan(0.42)
    assert cand is not None and cand.proposed["node_count"] == 1 and not stats["unplaced"]
    assert stats["daemonset_reserve"]["cpu_nodes"] == {"cpu": 0.42, "mem_bytes": 600 * MIB, "pods": 1}
    cand, stats = plan(0.421)
    assert cand is None and stats["cost_hourly"] == pytest.approx(2 * catalog.price("m7i.xlarge"))


def test_pattern_pricing_respects_the_pod_limit():
    from optimizer.solver.pricing import best_pattern_cp_sat

    # 8 cores, 32 GiB: unlimited, 32 pods of 250 m are worth most (32); with 10 slots eight 1-core pods (28)
    cpu, mem, values = [250, 1000], [512, 1024], [1.0, 3.5]
    free, pattern = best_pattern_cp_sat(cpu, mem, values, 8000, 32 * 1024, time_limit_s=5, seed=0)
    assert pattern == {0: 32} and free == pytest.approx(32.0, abs=1e-3)
    limited, pattern = best_pattern_cp_sat(cpu, mem, values, 8000, 32 * 1024, time_limit_s=5, seed=0, max_items=10)
    assert pattern == {1: 8} and limited == pytest.approx(28.0, abs=1e-3)


def test_pattern_model_packs_within_pod_slots():
    # CPU-only pods on CPU-only types: the pattern model's part of the solve
    types = [NodeType("slots.small", "on-demand", 0.4, cpu=8, mem=32 * GIB, arch="x86_64", max_pods=10),
             NodeType("slots.big", "on-demand", 1.0, cpu=32, mem=128 * GIB, arch="x86_64", max_pods=29)]
    pods = [PodSpec(f"t{i}", cpu=0.25, mem=256 * MIB) for i in range(60)] + \
        [PodSpec(f"m{i}", cpu=1, mem=2 * GIB) for i in range(12)]
    result = solve(pods, types, FAST)
    assert not result.unplaced and "patterns" in result.stage1_status
    for node in result.nodes:
        assert len(node.pods) <= node.node_type.max_pods
    # by CPU and memory one big node holds all (27 cores); by slots the cheapest is 2 big + 2 small
    assert result.cost == pytest.approx(2.8)
    assert result.lower_bound <= result.cost + 1e-9


def test_fixed_inventory_keeps_gpu_pods_on_their_arch():
    from optimizer.solver.fixed import place_on_fixed_nodes

    nodes = [NodeType("g5g.like", "on-demand", 1.0, cpu=8, mem=32 * GIB, gpus=2, gpu_model="T4G", arch="arm64"),
             NodeType("g4dn.like", "on-demand", 1.0, cpu=8, mem=32 * GIB, gpus=1, gpu_model="T4G", arch="x86_64")]
    pods = [PodSpec(f"x{i}", cpu=1, mem=GIB, gpus=1, archs=frozenset({"x86_64"})) for i in range(2)]
    placed = place_on_fixed_nodes(nodes, pods)
    assert [nodes[i].arch for i in placed.placed.values()] == ["x86_64"] and len(placed.unplaced) == 1

"""set-replicas on hand-made GPU fleets: the replica count or autoscaler minimum the busy replicas call for,
priced by the cost model, its bill effect by the rules of optimizer/bill.py, its risk by the one rule, and a
patch of exactly that field (kubectl kustomize, in test_replica_patches.py)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.autoscalers import HPA, SCALED_OBJECT, Autoscaler
from optimizer.config import OptimizerConfig, SolverConfig
from optimizer.costing import CostModel
from optimizer.profiles import compute_profiles_many
from optimizer.recommend import build_recommendations
from optimizer.replicas import busy_replicas
from store.reader import Dataset
from tests.recommender.fakes import GIB, PodSpec, build_dataset

A10G = "NVIDIA A10G"
NODES = {f"g-{i}": ("g5.xlarge", "on-demand", A10G, 1) for i in range(4)}
DAY = range(9, 17)  # 09:00-17:00 UTC: eight of every 24 hours


def _pod(i, ns, name, vc, util, alive=None, gpu_mem=6 * GIB):
    return PodSpec(ns, f"{name}-{i}", "Deployment", name, f"g-{i}", {"team": "ml", "rightsizer.io/value-class": vc},
                   {"server": (1.0, 4 * GIB)}, cpu_use=0.9, mem_use=int(3.8 * GIB),
                   gpu={"uuid": f"GPU-{name}-{i}", "model": A10G, "util": util, "mem": gpu_mem},
                   gpu_resource="nvidia.com/gpu", alive=alive)


def busy_always(t):
    return 0.6


def busy_days(t):
    return 0.6 if t.hour in DAY else 0.0


def idle(t):
    return 0.0


def _run(root, autoscalers=None):
    data = Dataset(str(root))
    both = compute_profiles_many(data, entities=("workload", "container"))
    cfg = OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=2))
    from optimizer.catalog import Catalog

    catalog = Catalog.load()
    doc = build_recommendations(data, both["workload"], catalog, cfg, container_profiles=both["container"],
                                consolidate_cluster=False, autoscalers=autoscalers or {}).to_json_dict()
    return doc, CostModel(catalog, cfg.region)


def _one(doc, name):
    recs = [r for r in doc["recommendations"] if r["workload"]["name"] == name]
    assert [r["action"] for r in recs] == ["set-replicas"], [(r["action"], r["rationale"]) for r in recs]
    return recs[0]


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    """Four production replicas, one GPU each, one node each: one always busy, one busy in the day, two idle."""
    pods = [_pod(0, "ml", "llm", "production", busy_always), _pod(1, "ml", "llm", "production", busy_days),
            _pod(2, "ml", "llm", "production", idle), _pod(3, "ml", "llm", "production", idle)]
    root = build_dataset(tmp_path_factory.mktemp("fixed") / "data", days=2, interval_s=600, pods=pods, nodes=NODES,
                         unallocated_mig=False)
    return root, *_run(root)


def test_busy_replicas_count_the_replicas_busy_together_and_their_work(fixed):
    root, _, _ = fixed
    data = Dataset(root)
    from optimizer.inventory import build_inventory

    use = busy_replicas(data, build_inventory(data).pod_workload)[("ml", "Deployment", "llm")]
    assert set(use.present) == {4}
    day = [h in DAY for h in use.hour]
    assert set(use.busy[day]) == {2} and set(use.busy[[not d for d in day]]) == {1}
    assert np.allclose(use.work[day], 1.2) and np.allclose(use.work[[not d for d in day]], 0.6)


def test_a_fixed_fleet_keeps_its_peak_plus_one_spare(fixed):
    _, doc, costs = fixed
    rec = _one(doc, "llm")
    # the busiest bucket needs 2 (1.2 replicas of work at 60 %) + 1 spare for production = 3 of 4
    assert rec["current"] == {"min_replicas": 4, "max_replicas": 4}
    assert rec["proposed"] == {"min_replicas": 3, "max_replicas": 3}
    assert rec["details"]["busy_replicas_max"] == 2 and rec["details"]["removed_replicas"] == 1
    assert rec["monthly_cost_proposed"] == pytest.approx(0.75 * rec["monthly_cost_current"], rel=1e-3)
    # one replica alone on its node: the bill loses one g5.xlarge (which one is the ReplicaSet's choice)
    node = costs.type_hourly("g5.xlarge", "on-demand", "us-east-1")
    assert rec["monthly_bill_savings"] == pytest.approx(node * 730, abs=0.01)
    assert "empties at least 1 node" in rec["rationale"]
    # slower if wrong, two days of history: below the weekly cycle, confidence band decides
    assert rec["details"]["consequence"] == "slower"
    assert rec["risk"] == ("high" if rec["confidence"] < 0.35 else "medium" if rec["confidence"] < 0.7 else "low")
    # the busiest 5 minutes: two replicas at 60 % = 1.2 replicas of work, two at the 60 % production target
    assert "had 2 of 4 busy and 1.20 replicas' worth of GPU work" in rec["rationale"]
    assert rec["details"]["replicas_needed_max"] == 2 and rec["details"]["gpu_work_max"] == pytest.approx(1.2, abs=1e-3)


@pytest.fixture(scope="module")
def autoscaled(tmp_path_factory):
    """An experimental HPA at minimum 2 (max 6): two replicas all night, four in the day; at night one busy."""
    def day_only(t):
        return t.hour in DAY

    pods = [_pod(0, "dev", "embed", "experimental", busy_always), _pod(1, "dev", "embed", "experimental", busy_days),
            _pod(2, "dev", "embed", "experimental", busy_always, alive=day_only),
            _pod(3, "dev", "embed", "experimental", busy_always, alive=day_only)]
    root = build_dataset(tmp_path_factory.mktemp("hpa") / "data", days=2, interval_s=600, pods=pods, nodes=NODES,
                         unallocated_mig=False)
    return root


@pytest.mark.parametrize("kind", [HPA, SCALED_OBJECT])
def test_an_autoscaler_minimum_that_keeps_idle_replicas_at_night_is_lowered(autoscaled, kind):
    key = ("dev", "Deployment", "embed")
    scaler = Autoscaler("dev", kind, "embed-scaler", "Deployment", "embed", 2, 6, [])
    doc, costs = _run(autoscaled, {key: scaler})
    rec = _one(doc, "embed")
    assert rec["current"] == {"min_replicas": 2, "max_replicas": 6} and rec["proposed"] == {"min_replicas": 1}
    assert rec["details"]["replicas_via"] == {"kind": kind, "name": "embed-scaler"}
    # nights (16 h): 2 -> 1; days (8 h): 4 stay (the metric, not the minimum, set them)
    assert rec["details"]["replica_time_fraction"] == pytest.approx((16 * 1 + 8 * 4) / (16 * 2 + 8 * 4))
    assert rec["monthly_cost_proposed"] == pytest.approx(0.75 * rec["monthly_cost_current"], rel=1e-3)
    # at the window's end (midnight) two replicas run, each alone on its node: one node goes, 16 h of 24
    node = costs.type_hourly("g5.xlarge", "on-demand", "us-east-1")
    assert rec["monthly_bill_savings"] == pytest.approx(node * 730 * 16 / 24, abs=0.05)
    # load that comes back waits for cold replicas: a restart consequence, never low risk
    assert rec["details"]["consequence"] == "restart" and rec["risk"] in ("medium", "high")


def test_no_proposal_when_the_minimum_is_what_the_night_uses(autoscaled):
    key = ("dev", "Deployment", "embed")
    doc, _ = _run(autoscaled, {key: Autoscaler("dev", HPA, "embed-hpa", "Deployment", "embed", 1, 6, [])})
    assert not [r for r in doc["recommendations"] if r["action"] == "set-replicas"]


def test_a_shared_node_frees_gpus_but_not_the_bill(tmp_path):
    """The same fleet with every idle replica on a node another workload also uses: no node empties."""
    nodes = {**NODES, "shared": ("g5.12xlarge", "on-demand", A10G, 4)}
    pods = [_pod(0, "ml", "llm", "production", busy_always), _pod(1, "ml", "llm", "production", busy_days)]
    for i in (2, 3):
        p = _pod(i, "ml", "llm", "production", idle)
        p.node = "shared"
        pods.append(p)
    other = _pod(9, "web", "other", "production", busy_always)
    other.node = "shared"
    root = build_dataset(tmp_path / "data", days=2, interval_s=600, pods=[*pods, other], nodes=nodes,
                         unallocated_mig=False)
    doc, _ = _run(root)
    rec = _one(doc, "llm")
    assert rec["proposed"] == {"min_replicas": 3, "max_replicas": 3}
    assert rec["monthly_bill_savings"] == 0.0 and "the bill drops only with the node plan" in rec["rationale"]


def test_load_spread_over_every_replica_counts_for_its_work(tmp_path):
    """Behind a load balancer all six replicas are busy in every bucket, each at 12 %: 0.72 replicas of work,
    which one replica carries at 60 %; production keeps two (its floor)."""
    pods = [_pod(i, "ml", "chat", "production", lambda t: 0.12) for i in range(4)]
    nodes = {**NODES, "g-4": NODES["g-0"], "g-5": NODES["g-0"]}
    pods += [_pod(i, "ml", "chat", "production", lambda t: 0.12) for i in (4, 5)]
    root = build_dataset(tmp_path / "data", days=2, interval_s=600, pods=pods, nodes=nodes, unallocated_mig=False)
    doc, _ = _run(root)
    rec = _one(doc, "chat")
    assert rec["details"]["busy_replicas_max"] == 6 and rec["details"]["replicas_needed_max"] == 2
    assert rec["proposed"] == {"min_replicas": 3, "max_replicas": 3}  # need 2 (0.72 / 0.6, rounded up) + 1 spare


def test_memory_bound_replicas_lose_only_their_idle_ones(tmp_path):
    """An LLM server with 22 of 24 GiB in use (its KV cache full): load spread at 12 % over all six replicas
    is not packed onto fewer; with two of them idle, those two go (four busy + 1 spare = 5 of 6 for
    production)."""
    nodes = {f"g-{i}": NODES["g-0"] for i in range(6)}
    spread = [_pod(i, "ml", "llm", "production", lambda t: 0.12, gpu_mem=22 * GIB) for i in range(6)]
    root = build_dataset(tmp_path / "spread", days=2, interval_s=600, pods=spread, nodes=nodes, unallocated_mig=False)
    doc, _ = _run(root)
    assert not [r for r in doc["recommendations"] if r["action"] == "set-replicas"]
    idle_two = [_pod(i, "ml", "llm", "production", (lambda t: 0.12) if i < 4 else idle, gpu_mem=22 * GIB)
                for i in range(6)]
    root = build_dataset(tmp_path / "idle", days=2, interval_s=600, pods=idle_two, nodes=nodes, unallocated_mig=False)
    doc, _ = _run(root)
    rec = _one(doc, "llm")
    assert rec["details"]["memory_bound"] is True and rec["proposed"] == {"min_replicas": 5, "max_replicas": 5}
    assert "cannot take each other's load" in rec["rationale"]


def test_the_tap_of_the_one_read_counts_what_the_own_read_counts(fixed):
    """recommend feeds the count from the profiles' read (a tap); elsewhere it reads the gpu table itself."""
    from optimizer.config import DecisionConfig
    from optimizer.inventory import InventoryScan, build_inventory
    from optimizer.replicas import tap_for

    root, _, _ = fixed
    data = Dataset(root)
    observed = InventoryScan(data)
    tap = tap_for(observed, DecisionConfig())
    compute_profiles_many(data, entities=("workload", "container"), taps=(observed, tap), owners=observed.pod_workload)
    tapped = tap.finish()
    inv = build_inventory(data)
    own = busy_replicas(data, inv.pod_workload, pod_nodes={(p.namespace, p.name): p.node
                                                           for w in inv.workloads.values() for p in w.pods})
    assert set(tapped) == set(own) == {("ml", "Deployment", "llm")}
    for key, use in own.items():
        for field in ("hour", "present", "busy", "work"):
            assert np.array_equal(getattr(tapped[key], field), getattr(use, field)), field


def test_backtest_replays_a_replica_count_against_later_load(tmp_path):
    """Two idle replicas before the split start working in the day after it: the three replicas proposed from
    the first two days fall short in exactly the day buckets after the split."""
    from datetime import timedelta

    from optimizer.backtest import backtest
    from optimizer.catalog import Catalog
    from tests.recommender.fakes import START

    split = START + timedelta(days=2)

    def grows(t):
        return 0.6 if t > split and t.hour in DAY else 0.0

    pods = [_pod(0, "ml", "llm", "production", busy_always), _pod(1, "ml", "llm", "production", busy_days),
            _pod(2, "ml", "llm", "production", grows), _pod(3, "ml", "llm", "production", grows)]
    root = build_dataset(tmp_path / "data", days=4, interval_s=600, pods=pods, nodes=NODES, unallocated_mig=False)
    cfg = OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=2))
    doc = backtest(Dataset(root), Catalog.load(), cfg, split, solver=False).to_json_dict()
    (rec,) = [r for r in doc["recommendations"] if r["action"] == "set-replicas"]
    assert rec["gpu_compute_capacity"] == 3.0  # the proposed count
    # buckets with rows after the split (the window starts at it, inclusive): one per 10-min sample for two
    # days, plus the sample stamped at the split itself
    assert rec["intervals"] == 2 * 144 + 1
    assert rec["compute_exceeded_intervals"] == 2 * 8 * 6  # 09-17 h: four busy replicas need four

"""The one scan's taps (observed cluster, cost allocation, busy replicas) sum each partition on the reading
threads and add the sums up in the fixed partition order: the results are the same for any thread count."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from optimizer.catalog import Catalog
from optimizer.config import OptimizerConfig
from optimizer.costing import CostModel
from optimizer.demand import CONTAINER_PROFILE_TABLES
from optimizer.inventory import InventoryScan
from optimizer.profiles import compute_profiles_many
from optimizer.replicas import tap_for
from optimizer.scan import SmallTablesOnce
from recommender.allocation.engine import AllocationScan
from recommender.config import Config
from store.reader import Dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    from simulator import simulate

    root = tmp_path_factory.mktemp("one-scan") / "data"
    simulate(str(root), nodes=14, days=2, interval_s=600, seed=7, start=datetime(2026, 1, 5, tzinfo=UTC), workers=1)
    return str(root)


def _scan(data: str, threads: int):
    dataset = SmallTablesOnce(Dataset(data))
    cfg = OptimizerConfig()
    catalog = Catalog.load(None)
    observed = InventoryScan(dataset, None, None, cfg.value_class, cfg.labels)
    charged = AllocationScan(dataset, catalog, Config(), observed=observed, cost_model=CostModel(catalog, "us-east-1"))
    busy = tap_for(observed, cfg.decisions)
    both = compute_profiles_many(dataset, entities=("workload", "container"), threads=threads,
                                 taps=(observed, charged, busy), owners=observed.pod_workload,
                                 tables=CONTAINER_PROFILE_TABLES)
    return both, observed.finish(), charged.result(), busy.finish(), dataset.integrity


def test_one_thread_and_three_threads_give_the_same_cluster_costs_and_profiles(data):
    one, three = _scan(data, 1), _scan(data, 3)
    for level in ("workload", "container"):
        assert one[0][level].to_frame().equals(three[0][level].to_frame()), level
    inv1, inv3 = one[1], three[1]
    assert inv1.workloads.keys() == inv3.workloads.keys() and inv1.workloads
    for key, w in inv1.workloads.items():
        assert [dataclasses.asdict(p) for p in w.pods] == [dataclasses.asdict(p) for p in inv3.workloads[key].pods], key
    assert {k: dataclasses.asdict(n) for k, n in inv1.nodes.items()} == {k: dataclasses.asdict(n)
                                                                           for k, n in inv3.nodes.items()}
    assert {k: dataclasses.asdict(g) for k, g in inv1.gpus.items()} == {k: dataclasses.asdict(g)
                                                                          for k, g in inv3.gpus.items()}
    a1, a3 = one[2], three[2]
    assert a1.total_cents == a3.total_cents > 0
    assert a1.rows.equals(a3.rows) and a1.daily.equals(a3.daily)
    assert [u.node for u in a1.unpriced] == [u.node for u in a3.unpriced]
    r1, r3 = one[3], three[3]
    assert r1.keys() == r3.keys()
    for key in r1:
        for field in ("present", "busy", "work", "hour"):
            np.testing.assert_array_equal(getattr(r1[key], field), getattr(r3[key], field))
    assert one[4].sample_pods == three[4].sample_pods and one[4].sample_pods

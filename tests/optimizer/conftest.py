"""A small simulated cluster (20 nodes, 3 days, 300 s samples) and the optimizer's answer on it, shared by
the recommendation tests (simulation, profiles and solve take a few seconds together)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from optimizer.config import OptimizerConfig, SolverConfig
from simulator import simulate
from store.reader import Dataset

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
# deterministic solver settings for tests: one worker, fixed seed
TEST_CONFIG = OptimizerConfig(solver=SolverConfig(num_workers=1, seed=0, stage1_time_s=10))


@dataclass
class SimRun:
    root: str
    truth: dict
    data: Dataset
    profiles: object
    containers: object
    result: object  # RecommendationSet
    doc: dict

    def recs_for(self, namespace, kind, name) -> list[dict]:
        return [r for r in self.doc["recommendations"]
                if (r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"]) == (namespace, kind, name)]


@pytest.fixture(scope="session")
def catalog():
    from optimizer.catalog import Catalog

    return Catalog.load()


@pytest.fixture(scope="session")
def simrun(tmp_path_factory, catalog) -> SimRun:
    from optimizer.profiles import compute_profiles
    from optimizer.recommend import build_recommendations

    root = str(tmp_path_factory.mktemp("optsim"))
    simulate(root, nodes=20, days=3, interval_s=300, seed=1, start=START, workers=2)
    with open(f"{root}/truth.json") as fh:
        truth = json.load(fh)
    data = Dataset(root)
    profiles = compute_profiles(data, entity="workload", threads=2)
    containers = compute_profiles(data, entity="container", threads=2)
    result = build_recommendations(data, profiles, catalog, TEST_CONFIG, container_profiles=containers)
    return SimRun(root, truth, data, profiles, containers, result, result.to_json_dict())

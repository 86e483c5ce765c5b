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


# The bundled snapshot has no spot prices for CPU types; the simulator runs an m7i.4xlarge on spot. A
# user adds the price they pay with a price override file, as these tests do with the simulator's own.
SIM_SPOT_OVERRIDES = "instance_type,region,on_demand,spot\nm7i.4xlarge,us-east-1,,0.3226\n"


@pytest.fixture(scope="session")
def price_overrides(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("prices") / "overrides.csv"
    path.write_text(SIM_SPOT_OVERRIDES)
    return str(path)


@pytest.fixture(scope="session")
def catalog(price_overrides):
    from optimizer.catalog import Catalog

    return Catalog.load(overrides=price_overrides)


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

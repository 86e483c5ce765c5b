"""One small simulated cluster shared by the simulator tests (12 nodes, 2 days, 60 s: about a second)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from simulator import simulate
from store.reader import Dataset

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


@dataclass(frozen=True)
class Sim:
    root: str
    truth: dict
    data: Dataset

    def workloads(self, behaviour: str) -> list[dict]:
        return [w for w in self.truth["workloads"] if w["behaviour"] == behaviour]


def run_sim(root, *, nodes=12, days=2, interval_s=60, seed=3, workers=None):
    simulate(str(root), nodes=nodes, days=days, interval_s=interval_s, seed=seed, start=START, workers=workers)
    with open(f"{root}/truth.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def sim(tmp_path_factory) -> Sim:
    root = tmp_path_factory.mktemp("sim")
    truth = run_sim(root)
    return Sim(str(root), truth, Dataset(str(root)))

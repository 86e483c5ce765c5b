"""Cluster simulator: a realistic v1 dataset of a GPU cluster, with its ground truth (docs/simulator.md).

    from simulator import simulate
    result = simulate("./data", nodes=20, days=7, interval_s=60, seed=1)

Writes ``ROOT/<table>/date=/node=/sim-<seed>.parquet`` (gpu, container, pods, nodes), ``ROOT/truth.json`` and
``ROOT/manifests/<namespace>/<kind>-<name>.yaml``. Same arguments, same bytes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from simulator.generate import Counts, new_facts, write_dataset
from simulator.manifests import manifest_path, manifest_yaml
from simulator.plan import Plan, build_plan, default_start, min_nodes
from simulator.shapes import REGION
from simulator.truth import build_truth
from store.location import Location, open_location
from store.writer import DatasetWriter

__all__ = ["SimulationResult", "build_plan", "default_start", "min_nodes", "simulate", "chunks"]


@dataclass(frozen=True)
class SimulationResult:
    plan: Plan
    counts: Counts
    truth: dict
    seconds: float


def chunks(plan: Plan) -> int:
    """How many (day, node) chunks ``simulate`` will make (for a progress bar): one per day and node, and
    one per node for the sample at the window's end."""
    return (plan.days + 1) * len(plan.nodes)


def simulate(out: str | Location, *, nodes: int, days: int, interval_s: int, seed: int,
             start: datetime | None = None, on_chunk: Callable[[], None] | None = None,
             plan: Plan | None = None, workers: int | None = None, region: str = REGION) -> SimulationResult:
    """Write the dataset, manifests and truth.json for a cluster of ``nodes`` nodes (see build_plan).

    ``workers``: threads making (day, node) chunks at once (default: the CPU count, at most 4); the output
    does not depend on it.
    """
    t0 = time.perf_counter()
    plan = plan or build_plan(nodes, days, interval_s, seed, start or default_start(days), region)
    location = out if isinstance(out, Location) else open_location(out, create=True)
    facts = new_facts(plan)
    workers = workers or min(4, os.cpu_count() or 1)
    counts = write_dataset(plan, DatasetWriter(location), facts, on_chunk, workers)
    for w in plan.workloads:
        location.write_atomic(manifest_path(w), manifest_yaml(w).encode())
    truth = build_truth(plan, facts)
    location.write_atomic("truth.json", (json.dumps(truth, indent=1) + "\n").encode())
    return SimulationResult(plan, counts, truth, time.perf_counter() - t0)

"""The allocation reads what ran where from the observed cluster: a rollout in the window (two pods of one
Deployment with different requests) is charged per pod by its own requests, and the observed workload
lists both specs with the time each was first seen."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from optimizer.inventory import build_inventory
from recommender.allocation import allocate
from store.reader import Dataset
from store.records import ContainerSpec
from store.writer import DatasetWriter

GIB = 1024**3
START = datetime(2026, 11, 2, tzinfo=UTC)
ROLLOUT = START + timedelta(days=1)
INTERVAL_S = 600.0
KEY = ("web", "Deployment", "api")
# pod -> (first pods row, cpu request, memory request, labels, cpu used, memory used, alive from, alive until)
PODS = {
    "api-old": (START, 2.0, 4 * GIB, {"team": "web-legacy", "project": "shop"}, 0.5, 1 * GIB, START, ROLLOUT),
    "api-new": (ROLLOUT, 1.0, 2 * GIB, {"team": "web", "project": "shop"}, 1.5, 1 * GIB, ROLLOUT,
                START + timedelta(days=2)),
}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


@pytest.fixture(scope="module")
def rollout(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("rollout") / "data")
    writer = DatasetWriter(root)
    writer.write("nodes", {"ts": [START], "node": ["cpu-1"], "instance_type": ["m5.xlarge"],
                           "capacity_type": ["on-demand"], "zone": ["us-east-1a"], "region": ["us-east-1"],
                           "cpu_capacity": [4.0], "mem_capacity": [16 * GIB], "gpu_count": [0], "gpu_model": [None],
                           "labels": ["{}"]})
    prow = {k: [] for k in ("ts", "node", "namespace", "pod", "pod_uid", "workload_kind", "workload_name",
                            "labels", "container", "cpu_request", "mem_request")}
    crow = {k: [] for k in ("ts", "node", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes")}
    for pod, (seen, cpu, mem, labels, _, _, _, _) in PODS.items():
        for k, v in (("ts", seen), ("node", "cpu-1"), ("namespace", "web"), ("pod", pod), ("pod_uid", f"uid-{pod}"),
                     ("workload_kind", "Deployment"), ("workload_name", "api"), ("labels", json.dumps(labels)),
                     ("container", "api"), ("cpu_request", cpu), ("mem_request", mem)):
            prow[k].append(v)
    for i in range(int(2 * 86400 / INTERVAL_S)):
        t = START + timedelta(seconds=INTERVAL_S * (i + 1))
        for pod, (_, _, _, _, cpu_used, mem_used, since, until) in PODS.items():
            if since < t <= until:
                for k, v in (("ts", t), ("node", "cpu-1"), ("interval_s", INTERVAL_S), ("namespace", "web"),
                             ("pod", pod), ("container", "api"), ("cpu_cores", cpu_used), ("mem_bytes", mem_used)):
                    crow[k].append(v)
    writer.write("pods", prow)
    writer.write("container", crow)
    return root


def test_each_pod_is_charged_by_its_own_requests(rollout, catalog):
    alloc = allocate(Dataset(rollout), catalog)
    row = alloc.rows[(alloc.rows.row_type == "workload") & (alloc.rows.workload == "api")].iloc[0]
    # a day of the old pod at max(2.0 requested, 0.5 used) cores and max(4, 1) GiB, then a day of the new
    # one at max(1.0 requested, 1.5 used) cores and max(2, 1) GiB; charging both pods by the workload's
    # latest spec would give 1.5 * 24 + 1.5 * 24 = 72 core-hours and 2 * 48 = 96 GiB-hours
    assert row.cpu_core_hours == pytest.approx(2.0 * 24 + 1.5 * 24)
    assert row.mem_gib_hours == pytest.approx(4 * 24 + 2 * 24)
    # the owner is the newest pods row's: after the rollout the workload belongs to team web
    assert (row.team, row.project) == ("web", "shop")


def test_observed_workload_keeps_its_spec_history_and_each_pod_its_own_spec(rollout):
    inventory = build_inventory(Dataset(rollout))
    w = inventory.workloads[KEY]
    old = ContainerSpec("api", 2.0, None, 4 * GIB, None, None, None)
    new = ContainerSpec("api", 1.0, None, 2 * GIB, None, None, None)
    assert w.spec_history == [(_ms(START), {"api": old}), (_ms(ROLLOUT), {"api": new})]
    assert w.containers == [new]  # the latest spec
    pods = {p.name: p for p in w.pods}
    assert pods["api-old"].containers == {"api": old} and pods["api-new"].containers == {"api": new}
    assert w.team == "web" and w.labels == {"team": "web", "project": "shop"}


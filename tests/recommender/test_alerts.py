from __future__ import annotations

import json

import pytest

from optimizer.catalog.cost import split_node_price
from recommender.alerts import build_alerts
from recommender.allocation import allocate
from recommender.config import parse_config
from store.reader import Dataset
from tests.recommender.fakes import build_dataset


def test_budget_crossing_projects_month_end_from_run_rate(small_allocation):
    work = small_allocation.rows[small_allocation.rows.row_type == "workload"]
    research = float(work[work.team == "research"].total_cost.sum())
    web = float(work[work.team == "web"].total_cost.sum())
    # Window: 2026-11-02 .. 11-04 (2 days of a 30-day month); the month starts before the window.
    research_month = research / 2 * 30
    config = parse_config({"budgets": {"teams": {
        "research": {"monthly_usd": research_month * 0.9},          # over
        "web": {"monthly_usd": web / 2 * 30 / 0.85},                # 85 % -> warning
        "ml-platform": {"monthly_usd": 1e6}}}})                     # ok
    alerts = build_alerts(small_allocation, config)
    status = {b.name: b for b in alerts.budgets}
    assert status["research"].projected == pytest.approx(research_month, rel=1e-3)
    assert status["research"].status == "over"
    assert status["web"].status == "warning"
    assert status["ml-platform"].status == "ok"
    doc = alerts.to_json_dict()
    kinds = {(a["type"], a["name"], a["severity"]) for a in doc["alerts"]}
    assert ("budget", "research", "critical") in kinds and ("budget", "web", "warning") in kinds
    assert not any(a["name"] == "ml-platform" for a in doc["alerts"])
    json.dumps(doc)  # serializable as is


def test_planted_spike_alerts_for_team_and_workload_and_nothing_else(tmp_path, catalog):
    spike_day = 16  # Wednesday 2026-11-18

    def factor(pod, day):
        return 10.0 if (pod.workload == "train" and day == spike_day) else 1.0

    root = build_dataset(tmp_path / "d", days=21, interval_s=3600, cost_factor=factor)
    alloc = allocate(Dataset(root), catalog)
    config = parse_config({"thresholds": {"spike_min_usd": 5, "spike_min_factor": 1.2}})
    alerts = build_alerts(alloc, config)
    spikes = {(s.scope, s.name, s.date) for s in alerts.spikes}
    assert ("team", "research", "2026-11-18") in spikes
    assert ("workload", "research/Job/train", "2026-11-18") in spikes
    assert len(spikes) == 2, spikes
    spike = next(s for s in alerts.spikes if s.scope == "workload")
    # train's CPU goes from its 8-core request to 60 cores used: 52 more cores for the day
    it = catalog.get("p4de.24xlarge")
    per_core = split_node_price(it, catalog.price("p4de.24xlarge"))["cpu"] / it.vcpu
    assert spike.delta_usd == pytest.approx(52 * per_core * 24, rel=0.02)
    assert spike.factor > 1.0
    assert spike.baseline_kind == "weekdays"  # only two earlier Wednesdays: fewer than the 3 needed


def test_no_spike_without_history(small_allocation):
    config = parse_config({"thresholds": {"spike_min_usd": 0}})
    assert build_alerts(small_allocation, config).spikes == []


def test_one_off_job_adding_a_node_for_one_day_is_a_spike(tmp_path, catalog):
    """A week of the small cluster; on Thursday a one-off Job of team 'vision' runs on an extra node for the
    whole day. That day has the most node-hours of the week; every other day is still a whole day of the
    window, so the day is judged and the team's spend that day is reported."""
    from datetime import timedelta

    from store.writer import DatasetWriter
    from tests.recommender.fakes import GIB, START

    root = build_dataset(tmp_path / "d", days=7, interval_s=3600)
    day = START + timedelta(days=3)  # Thursday 2026-11-05
    ts = [day + timedelta(hours=h + 1) for h in range(24)]
    writer = DatasetWriter(root)
    writer.write("nodes", {"ts": [day], "node": ["gpu-9"], "instance_type": ["g5.xlarge"],
                           "capacity_type": ["on-demand"], "zone": ["us-east-1a"], "region": ["us-east-1"],
                           "cpu_capacity": [4.0], "mem_capacity": [16 * GIB], "gpu_count": [1],
                           "gpu_model": ["NVIDIA A10G"], "labels": ["{}"]})
    writer.write("pods", {"ts": [day], "node": ["gpu-9"], "namespace": ["vision"], "pod": ["backfill-0"],
                          "pod_uid": ["uid-backfill"], "workload_kind": ["Job"], "workload_name": ["backfill"],
                          "labels": ['{"team": "vision"}'], "container": ["main"], "cpu_request": [4.0],
                          "mem_request": [16 * GIB], "gpu_resource": ["nvidia.com/gpu"], "gpu_request": [1.0]})
    n = len(ts)
    writer.write("container", {"ts": ts, "node": ["gpu-9"] * n, "interval_s": [3600.0] * n,
                               "namespace": ["vision"] * n, "pod": ["backfill-0"] * n, "container": ["main"] * n,
                               "cpu_cores": [2.0] * n, "mem_bytes": [4 * GIB] * n})
    writer.write("gpu", {"ts": ts, "node": ["gpu-9"] * n, "interval_s": [3600.0] * n, "gpu_uuid": ["GPU-x"] * n,
                         "gpu_model": ["NVIDIA A10G"] * n, "mig_profile": [None] * n, "namespace": ["vision"] * n,
                         "pod": ["backfill-0"] * n, "container": ["main"] * n, "gpu_util": [0.9] * n,
                         "mem_used_bytes": [10 * GIB] * n, "mem_total_bytes": [24 * GIB] * n})
    alloc = allocate(Dataset(root), catalog)
    assert max(alloc.day_hours, key=alloc.day_hours.get) == "2026-11-05"  # the fullest day by node-hours
    alerts = build_alerts(alloc, parse_config({}))
    spikes = {(s.scope, s.name, s.date): s for s in alerts.spikes}
    spike = spikes[("team", "vision", "2026-11-05")]
    g5 = catalog.price("g5.xlarge", "us-east-1")
    # new spend: the Job requests the whole node (4 vCPU, 16 GiB, its GPU), so it pays the node's hours that
    # day: 23 of its 24 samples (the last one, at 00:00 on Friday, lies in Friday's partition)
    assert spike.factor is None and spike.delta_usd == pytest.approx(23 * g5, rel=0.001)
    assert ("workload", "vision/Job/backfill", "2026-11-05") in spikes
    assert all(s.date == "2026-11-05" for s in alerts.spikes)


def test_partial_days_are_the_window_edges_by_time():
    from datetime import UTC, datetime

    from recommender.alerts.spikes import complete_days

    start, end = datetime(2026, 11, 2, 6, tzinfo=UTC), datetime(2026, 11, 5, 22, tzinfo=UTC)
    dates = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
    assert complete_days(dates, start, end) == {"2026-11-03", "2026-11-04", "2026-11-05"}  # 22 h of 24 pass 90 %
    assert complete_days(dates, start, end, share=0.95) == {"2026-11-03", "2026-11-04"}
    assert complete_days(dates, None, None) == set()

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

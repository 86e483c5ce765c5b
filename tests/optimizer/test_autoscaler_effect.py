"""A CPU request cut under a CPU-utilization HPA says what it does to the replica count."""

from __future__ import annotations

import json
from datetime import timedelta

from optimizer.autoscalers import Autoscaler
from optimizer.profiles import compute_profiles_many
from optimizer.recommend import build_recommendations
from recommender.autoscalers import write_autoscalers
from simulator import simulate
from store.reader import Dataset
from tests.optimizer.conftest import START, TEST_CONFIG


def test_request_cut_under_a_cpu_hpa(tmp_path, catalog):
    root = str(tmp_path / "data")
    simulate(root, nodes=20, days=3, interval_s=300, seed=1, start=START, workers=2)
    hpa = Autoscaler("data-platform", "HorizontalPodAutoscaler", "backfill-hpa", "Deployment", "feature-backfill", 1, 6,
                     [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                  "averageUtilization": 70}}}])
    write_autoscalers(root, [hpa], START + timedelta(days=2))
    data = Dataset(root)
    both = compute_profiles_many(data, entities=("workload", "container"))
    doc = build_recommendations(data, both["workload"], catalog, TEST_CONFIG, container_profiles=both["container"],
                                consolidate_cluster=False).to_json_dict()
    rec = next(r for r in doc["recommendations"] if r["workload"]["name"] == "feature-backfill")
    assert rec["action"] == "rightsize-requests"
    factor = rec["current"]["cpu_request"] / rec["proposed"]["cpu_request"]
    assert f"about {factor:.1f}× the replicas, up to its maximum of 6" in rec["rationale"]
    assert rec["details"]["autoscaler"] == {"kind": "HorizontalPodAutoscaler", "name": "backfill-hpa",
                                            "min_replicas": 1, "max_replicas": 6}
    others = [r for r in doc["recommendations"] if r["workload"]["name"] != "feature-backfill"]
    assert all("autoscaler" not in r["details"] for r in others)
    json.dumps(doc)  # still a JSON document

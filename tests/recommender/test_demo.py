"""``rightsizer demo`` runs every stage on a simulated cluster and points at what it wrote."""

from __future__ import annotations

import csv
import json
import re

from recommender.cli import main
from simulator.score import score


def test_demo_runs_every_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--nodes", "13", "--days", "1", "--interval-s", "600",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    doc = json.loads((out / "report" / "recommendations.json").read_text())
    truth = json.loads((out / "data" / "truth.json").read_text())
    actions = {r["action"] for r in doc["recommendations"]}
    assert "consolidate-nodes" in actions and "reclaim-idle-gpu" in actions
    with open(out / "profiles.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) >= {"namespace", "kind", "name", "metric", "p50", "p90", "p95", "p99", "max", "mean",
                            "idle_fraction", "seconds", "samples"}
    assert {(r["namespace"], r["kind"], r["name"]) for r in rows} <= {
        (w["namespace"], w["kind"], w["name"]) for w in truth["workloads"]}
    for name in ("report.html", "report.md", "allocation.csv", "tokens.csv", "alerts.json",
                 "suggestions/kustomization.yaml"):
        assert (out / "report" / name).exists(), name
    # the LLM servers' tokens: priced in tokens.csv, shown in the report's section and the demo's lines
    with open(out / "report" / "tokens.csv") as f:
        tokens = {r["workload"]: r for r in csv.DictReader(f)}
    assert {"support-chat", "docs-assistant"} <= set(tokens)
    assert float(tokens["docs-assistant"]["usd_per_1m_tokens"]) > float(tokens["support-chat"]["usd_per_1m_tokens"])
    html = (out / "report" / "report.html").read_text()
    assert '<section id="tokens">' in html and "meta-llama/Llama-3.1-8B-Instruct" in html
    assert re.search(r"LLM tokens at \$[0-9.]+ per 1M \(tokens\.csv\)", printed)
    assert "monthly_tokens" in (out / "rightsizer.yaml").read_text()
    # the demo's config gives every simulated team a budget, and the alerts report on each
    alerts = json.loads((out / "report" / "alerts.json").read_text())
    teams = set(truth["budgets_hint"]["teams"])
    assert teams and {b["name"] for b in alerts["budgets"]} >= teams
    assert "monthly_usd" in (out / "rightsizer.yaml").read_text()
    for stage in ("simulate", "validate", "profile", "recommend", "check"):
        assert stage in printed
    assert "Top savings" in printed
    # the suggestion files are counted one way in recommend's lines and the demo's summary, and truly
    patches = [f for f in (out / "report" / "suggestions").iterdir()
               if f.suffix == ".yaml" and f.name != "kustomization.yaml"]
    counts = re.findall(r"(\d+) YAML patch(?:es)? \+ kustomization\.yaml \+ README\.md", printed)
    assert counts == [str(len(patches))] * 2, counts
    result = score(truth, doc)
    assert f"{result.workloads_right}/{result.workloads} workloads got the action" in printed
    # a second run reuses the simulated data
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert "using the cluster already simulated" in capsys.readouterr().out


def _truth(*workloads, unallocated=()):
    return {"workloads": [{"namespace": ns, "kind": k, "name": n, "behaviour": b, "expected_actions": list(e)}
                          for ns, k, n, b, e in workloads],
            "unallocated_gpus": [{"node": node, "gpu_uuid": f"GPU-{i}"} for i, node in enumerate(unallocated)]}


def _doc(*recs):
    return {"recommendations": [{"workload": {"namespace": ns, "kind": k, "name": n}, "action": a}
                                for ns, k, n, a in recs]}


def test_score_counts_exactly_the_expected_action_as_right():
    truth = _truth(("a", "Deployment", "over", "overprovisioned-inference", ["use-mig-slice", "share-gpu"]),
                   ("a", "Deployment", "fine", "well-sized-serving", []),
                   ("b", "Job", "train", "training", ["use-spot"]),
                   ("b", "Job", "two", "training", ["use-spot"]),
                   unallocated=["n1", "n2"])
    doc = _doc(("a", "Deployment", "over", "share-gpu"),
               ("a", "Deployment", "fine", "rightsize-requests"),   # well-sized got something: wrong
               ("b", "Job", "two", "use-spot"), ("b", "Job", "two", "rightsize-requests"),  # two actions: wrong
               (None, "Node", "n1", "reclaim-idle-gpu"))            # train got nothing: wrong
    result = score(truth, doc)
    assert (result.workloads, result.workloads_right) == (4, 1)
    assert {m.workload for m in result.misses} == {"a/Deployment/fine", "b/Job/train", "b/Job/two"}
    assert (result.idle_nodes, result.idle_nodes_right) == (2, 1)
    assert not result.all_right
    assert score(truth, _doc(("a", "Deployment", "over", "use-mig-slice"), ("b", "Job", "train", "use-spot"),
                             ("b", "Job", "two", "use-spot"), (None, "Node", "n1", "reclaim-idle-gpu"),
                             (None, "Node", "n2", "reclaim-idle-gpu"))).all_right

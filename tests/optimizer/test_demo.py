"""``rightsizer demo`` simulates a cluster and recommends on it, in one command."""

from __future__ import annotations

import json

from recommender.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--nodes", "12", "--days", "1", "--interval-s", "600",
                 "--no-progress"]) == 0
    doc = json.loads((out / "report" / "recommendations.json").read_text())
    truth = json.loads((out / "data" / "truth.json").read_text())
    actions = {r["action"] for r in doc["recommendations"]}
    assert "consolidate-nodes" in actions and "reclaim-idle-gpu" in actions
    assert truth["workloads"]
    assert "Top savings" in capsys.readouterr().out
    # a second run reuses the simulated data
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    assert "using the cluster already simulated" in capsys.readouterr().out

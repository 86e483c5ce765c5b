"""recommendations.json follows the contract in docs/recommendations.md; the CLI writes it and fails cleanly on bad input."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from optimizer.recommend import build_recommendations
from recommender.cli import main
from tests.optimizer.conftest import TEST_CONFIG

REC_KEYS = {"id", "workload", "team", "project", "use_case", "value_class", "action", "current", "proposed",
            "monthly_cost_current", "monthly_cost_proposed", "monthly_savings", "confidence", "risk", "rationale",
            "suggestion_file", "monthly_bill_savings"}
SHAPE_KEYS = {"instance_type", "capacity_type", "gpu_model", "gpu_count", "gpu_memory_bytes", "mig_profile",
              "gpu_fraction", "cpu_request", "mem_request", "min_replicas", "node_count",
              "containers",  # extension: per-container requests of rightsize-requests
              "max_replicas",  # extension: set-replicas of a fixed replica count
              "server_memory_fraction",  # extension: a KV-aware shape's model-server memory share
              # extension: use-managed-api's served model and the managed offer (docs/recommendations.md)
              "model", "server", "pods", "prompt_share", "monthly_tokens", "managed_model", "provider", "region"}


def test_document_shape(simrun):
    doc = json.loads(json.dumps(simrun.doc))  # plain JSON types only
    assert set(doc) >= {"generated_at", "window", "currency", "summary", "recommendations", "not_evaluated"}
    assert doc["currency"] == "USD" and set(doc["window"]) == {"start", "end"}
    assert {"monthly_cost", "monthly_savings"} <= set(doc["summary"])
    assert doc["summary"]["monthly_cost"] > 0
    ids = [r["id"] for r in doc["recommendations"]]
    assert len(ids) == len(set(ids))
    for r in doc["recommendations"]:
        assert set(r) >= REC_KEYS
        assert set(r["workload"]) == {"namespace", "kind", "name"}
        assert set(r["current"]) <= SHAPE_KEYS and set(r["proposed"]) <= SHAPE_KEYS
        assert 0 <= r["confidence"] <= 1
        assert r["risk"] in ("low", "medium", "high")
        assert math.isclose(r["monthly_savings"], r["monthly_cost_current"] - r["monthly_cost_proposed"], abs_tol=0.011)
        if r["details"].get("recurring", True):
            assert r["monthly_savings"] > 0
        else:  # a one-off Job: priced per run, no monthly figure
            assert r["monthly_cost_current"] == r["monthly_savings"] == r["monthly_bill_savings"] == 0
            assert r["details"]["cost_per_run"]["savings"] > 0
        assert r["rationale"].count(". ") == 0, r["rationale"]  # one sentence
    s = doc["summary"]
    assert {"monthly_bill_savings", "bill_savings_by_action", "unpriced_nodes", "prices", "node_bill"} <= set(s)
    assert s["prices"]["regions"] == ["us-east-1"] and s["prices"]["snapshot_date"]


def test_sorted_by_bill_savings_then_showback(simrun):
    keys = [(r["monthly_bill_savings"], r["monthly_savings"]) for r in simrun.doc["recommendations"]]
    assert keys == sorted(keys, reverse=True)


def test_summary_savings_are_the_bill_and_the_showback_apart(simrun):
    s = simrun.doc["summary"]
    workload = [r for r in simrun.doc["recommendations"] if r["workload"]["kind"] not in ("Node", "Cluster")]
    # the showback change: the per-workload allocated cost now minus proposed, summed
    assert s["monthly_savings"] == pytest.approx(sum(r["monthly_savings"] for r in workload), abs=0.011)
    # the bill: today's nodes minus the plan's nodes and the plan's managed-API spend (use-managed-api)
    bill = s["node_bill"]
    assert bill["managed_api_monthly"] > 0  # the simulator's docs assistant moves to a managed API
    assert s["monthly_bill_savings"] == pytest.approx(
        bill["today_monthly"] - bill["plan_monthly"] - bill["managed_api_monthly"], abs=0.011)
    assert 0 < s["monthly_bill_savings"] < bill["today_monthly"]
    assert s["bill_savings_by_action"]["consolidate-nodes"] >= 0


def test_below_minimum_history_nothing_is_downsized(simrun, catalog):
    from optimizer.profiles import compute_profiles

    start = simrun.result.window_start
    end = start + timedelta(hours=4)
    prof = compute_profiles(simrun.data, start=start, end=end, entity="workload", threads=2)
    cont = compute_profiles(simrun.data, start=start, end=end, entity="container", threads=2)
    short = build_recommendations(simrun.data, prof, catalog, TEST_CONFIG, container_profiles=cont, start=start,
                                  end=end, consolidate_cluster=False)
    downsizing = {"rightsize-requests", "change-instance-type", "use-mig-slice", "share-gpu", "scale-to-zero"}
    assert not [r.action for r in short.recommendations if r.action in downsizing]
    # the same workloads do get them with the whole window: the guard, not the data, stopped them
    assert any(r["action"] in downsizing for r in simrun.doc["recommendations"])


def test_confidence_grows_with_history(simrun, catalog):
    from optimizer.profiles import compute_profiles

    start = simrun.result.window_start
    end = start + timedelta(hours=12)
    prof = compute_profiles(simrun.data, start=start, end=end, entity="workload", threads=2)
    cont = compute_profiles(simrun.data, start=start, end=end, entity="container", threads=2)
    half = build_recommendations(simrun.data, prof, catalog, TEST_CONFIG, container_profiles=cont, start=start,
                                 end=end, consolidate_cluster=False)
    full = {r.id: r.confidence for r in simrun.result.recommendations}
    common = [r for r in half.recommendations if r.id in full and r.kind not in ("Node", "Cluster")]
    assert common
    for r in common:
        assert r.confidence < full[r.id]


def test_cli_writes_recommendations_json(simrun, tmp_path, capsys, price_overrides):
    out = tmp_path / "report"
    cfg = tmp_path / "rightsizer.yaml"
    cfg.write_text(f"price_overrides: {price_overrides}\n")
    code = main(["recommend", "--data", simrun.root, "--out", str(out), "--solver-seconds", "5", "--no-progress",
                 "--config", str(cfg)])
    assert code == 0
    doc = json.loads((out / "recommendations.json").read_text())
    assert {r["action"] for r in doc["recommendations"]} == {r["action"] for r in simrun.doc["recommendations"]}
    printed = capsys.readouterr().out
    assert "Top savings" in printed and "recommendations.json" in printed
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("argv,needle", [
    (["--data", "/nonexistent/rightsizer-data"], "/nonexistent/rightsizer-data"),
    (["--top", "many"], "--top"),
    (["--start", "2026-02-01", "--end", "2026-01-01"], "--start"),
])
def test_cli_bad_input_is_one_line_exit_2(simrun, tmp_path, capsys, argv, needle):
    base = {"--data": simrun.root, "--out": str(tmp_path / "o")}
    args = dict(base)
    it = iter(argv)
    for k in it:
        args[k] = next(it)
    flat = ["recommend"] + [x for kv in args.items() for x in kv]
    assert main(flat) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]
    assert not (tmp_path / "o" / "recommendations.json").exists()


def test_instance_type_missing_from_the_catalog_is_a_note_not_a_crash(simrun, tmp_path):
    from pathlib import Path

    import optimizer.catalog as catalog_pkg
    from optimizer.catalog import Catalog

    bundled = json.loads((Path(catalog_pkg.__file__).parent / "data" / "aws-catalog.json").read_text())
    bundled["instance_types"] = [t for t in bundled["instance_types"] if t["name"] != "g5.xlarge"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(bundled))
    result = build_recommendations(simrun.data, simrun.profiles, Catalog.load(str(path)), TEST_CONFIG,
                                   container_profiles=simrun.containers)
    doc = result.to_json_dict()
    assert any("g5.xlarge" in n for n in doc["summary"]["notes"])
    on_g5 = {(w["namespace"], w["kind"], w["name"]) for w in simrun.truth["workloads"]
             if any(n["instance_type"] == "g5.xlarge" for n in simrun.truth["nodes"])
             and w["gpu_model"] == "NVIDIA A10G"}
    assert on_g5
    got = {(r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"]) for r in doc["recommendations"]}
    assert not on_g5 & got  # no dollar figure without a price
    g5 = {n["node"] for n in simrun.truth["nodes"] if n["instance_type"] == "g5.xlarge"}
    listed = {u["node"]: u for u in doc["summary"]["unpriced_nodes"]}
    assert g5 and g5 <= set(listed) and all("g5.xlarge" in listed[n]["reason"] for n in g5)
    bill = doc["summary"]["node_bill"]
    assert bill["priced"] == f"priced {bill['nodes'] - len(listed)} of {bill['nodes']} nodes"
    assert any(f"priced {bill['priced_nodes']} of {bill['nodes']} nodes" in n for n in doc["summary"]["notes"])


def test_config_file_policy_reaches_the_decisions(simrun, tmp_path):
    # production may only run GPUs at 5 %: the over-provisioned H100 services no longer fit any MIG slice
    cfg = tmp_path / "rightsizer.yaml"
    cfg.write_text("value_classes:\n  production:\n    headroom: 0.2\n    target_utilization: 0.05\n")
    out = tmp_path / "report"
    assert main(["recommend", "--data", simrun.root, "--out", str(out), "--config", str(cfg),
                 "--no-consolidate", "--no-progress", "--top", "0"]) == 0
    doc = json.loads((out / "recommendations.json").read_text())
    h100 = [w for w in simrun.truth["workloads"]
            if w["behaviour"] == "overprovisioned-inference" and "H100" in (w["gpu_model"] or "")]
    assert h100
    names = {(w["namespace"], w["kind"], w["name"]) for w in h100}
    got = [r["action"] for r in doc["recommendations"]
           if (r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"]) in names]
    assert "use-mig-slice" not in got
    assert any(r["action"] == "use-mig-slice" for r in simrun.doc["recommendations"]
               if (r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"]) in names)


def test_recommend_serialises_the_typed_result_once(simrun, tmp_path, monkeypatch, price_overrides):
    import recommender.outputs as outputs

    written, serialised = [], []
    real_write, real_doc = outputs._write_json, type(simrun.result).to_json_dict

    def counting_write(path, doc):
        written.append(path.name)
        real_write(path, doc)

    def counting_doc(self):
        serialised.append(1)
        return real_doc(self)

    monkeypatch.setattr(outputs, "_write_json", counting_write)
    monkeypatch.setattr(type(simrun.result), "to_json_dict", counting_doc)
    cfg = tmp_path / "rightsizer.yaml"
    cfg.write_text(f"price_overrides: {price_overrides}\n")
    out = tmp_path / "report"
    assert main(["recommend", "--data", simrun.root, "--out", str(out), "--solver-seconds", "2", "--no-progress",
                 "--config", str(cfg), "--top", "0"]) == 0
    assert written.count("recommendations.json") == 1 and len(serialised) == 1
    doc = json.loads((out / "recommendations.json").read_text())
    files = [r["suggestion_file"] for r in doc["recommendations"] if r["suggestion_file"]]
    assert files and all((out / f).is_file() for f in files)


def test_recommend_reads_and_validates_every_parquet_file_once(simrun, tmp_path, monkeypatch, price_overrides):
    from collections import Counter

    from store.reader import Dataset

    reads: Counter = Counter()
    real = Dataset.read_fragment

    def counting(self, table, frag, *args, **kwargs):
        reads[frag.path] += 1
        return real(self, table, frag, *args, **kwargs)

    monkeypatch.setattr(Dataset, "read_fragment", counting)
    import store.batch_read as batch

    real_batch = batch.load_file

    def counting_batch(loc, table, frag, needed):
        reads[frag.path] += 1  # the small tables' files, checked as one batch
        return real_batch(loc, table, frag, needed)

    monkeypatch.setattr(batch, "load_file", counting_batch)
    cfg = tmp_path / "rightsizer.yaml"
    cfg.write_text(f"price_overrides: {price_overrides}\n")
    assert main(["recommend", "--data", simrun.root, "--out", str(tmp_path / "r"), "--solver-seconds", "2",
                 "--no-progress", "--config", str(cfg), "--top", "0"]) == 0
    tables = ("gpu", "container", "pods", "nodes", "tokens")  # tokens: the simulated LLM servers' counters
    files = {str(p) for t in tables for p in Path(simrun.root, t).rglob("*.parquet")}
    assert set(map(str, reads)) == files  # every file read ...
    assert set(reads.values()) == {1}  # ... exactly once

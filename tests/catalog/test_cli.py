from __future__ import annotations

import csv
import io
import json

from recommender.cli import main


def test_show_json_filters_by_gpu_nvml_name(capsys):
    assert main(["catalog", "show", "--gpu", "NVIDIA H100 80GB HBM3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["snapshot_date"] == "2025-11-30" and doc["region"] == "us-east-1"
    rows = {r["instance_type"]: r for r in doc["instance_types"]}
    assert set(rows) == {"p5.4xlarge", "p5.48xlarge"}
    p5 = rows["p5.48xlarge"]
    assert (p5["gpu_count"], p5["gpu_memory_gib"], p5["vcpu"], p5["memory_gib"]) == (8, 80, 192, 2048)
    assert p5["on_demand_hourly"] == 55.04 and p5["on_demand_monthly"] == round(55.04 * 730, 2)


def test_show_csv_region(capsys):
    assert main(["catalog", "show", "--region", "eu-west-1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    names = {r["instance_type"] for r in rows}
    assert "g4dn.xlarge" in names and "g6e.xlarge" not in names  # g6e had no eu-west-1 price in the snapshot
    prices = [float(r["on_demand_hourly"]) for r in rows]
    assert prices == sorted(prices)


def test_show_table(capsys):
    assert main(["catalog", "show", "--gpu", "L40S"]) == 0
    out = capsys.readouterr().out
    assert "g6e.xlarge" in out and "1.8610" in out and "snapshot 2025-11-30" in out


def test_show_bad_arguments_exit_2(capsys):
    assert main(["catalog", "show", "--gpu", "K80"]) == 2
    assert "unknown GPU model 'K80'" in capsys.readouterr().err
    assert main(["catalog", "show", "--region", "mars-1"]) == 2
    assert "no prices for 'mars-1'" in capsys.readouterr().err


def test_show_with_overrides(tmp_path, capsys):
    prices = tmp_path / "p.csv"
    prices.write_text("instance_type,region,on_demand,spot\ng6e.xlarge,us-east-1,1.5,\n")
    assert main(["catalog", "show", "--gpu", "L40S", "--prices", str(prices), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["instance_type"]: r["on_demand_hourly"] for r in doc["instance_types"]}["g6e.xlarge"] == 1.5
    assert doc["overrides"] == str(prices)


def test_show_csv_has_arch_and_allocatable(capsys):
    assert main(["catalog", "show", "--format", "csv"]) == 0
    rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    m7g, p5 = rows["m7g.large"], rows["p5.48xlarge"]
    # Karpenter's table: m7g.large 1930m, 6844Mi, 29 pods; p5.48xlarge 191450m, 1938410Mi, 100 pods
    assert (m7g["arch"], m7g["allocatable_cpu"], m7g["max_pods"]) == ("arm64", "1.93", "29")
    assert float(m7g["allocatable_memory_gib"]) == round(6844 / 1024, 2)
    assert (p5["arch"], p5["allocatable_cpu"], p5["max_pods"], p5["allocatable_source"]) == \
        ("x86_64", "191.45", "100", "karpenter-reference")

from __future__ import annotations

import csv
import io
import json

import yaml

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
    assert {r["region"] for r in rows} == {"eu-west-1"}
    prices = [float(r["on_demand"]) for r in rows]
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


def test_show_yaml_is_the_json_document(capsys):
    assert main(["catalog", "show", "--gpu", "L40S", "-o", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["catalog", "show", "--gpu", "L40S", "--output", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == as_json


def test_csv_is_a_price_override_file_round_trip(tmp_path, capsys):
    """What 'show -o csv' writes, edited, is what '--prices' reads: the edited prices come back, every other
    type keeps the catalog's, and an unedited file changes nothing."""
    assert main(["catalog", "show", "--gpu", "L4", "-o", "csv"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:4] == ["instance_type", "region", "on_demand", "spot"]
    before = {r["instance_type"]: (float(r["on_demand"]), r["spot"]) for r in rows}
    unedited = tmp_path / "same.csv"
    unedited.write_text(text)
    assert main(["catalog", "show", "--gpu", "L4", "--prices", str(unedited), "-o", "csv"]) == 0
    again = {r["instance_type"]: (float(r["on_demand"]), r["spot"])
             for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert again == before
    rows[0]["on_demand"], rows[0]["spot"] = "0.5", "0.2"
    edited = tmp_path / "edited.csv"
    with open(edited, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["catalog", "show", "--gpu", "L4", "--prices", str(edited), "-o", "json"]) == 0
    priced = {r["instance_type"]: r for r in json.loads(capsys.readouterr().out)["instance_types"]}
    first = rows[0]["instance_type"]
    assert (priced[first]["on_demand_hourly"], priced[first]["spot_hourly"]) == (0.5, 0.2)
    assert all(priced[name]["on_demand_hourly"] == od for name, (od, _) in before.items() if name != first)


def test_ambiguous_gpu_lists_the_matches(capsys):
    assert main(["catalog", "show", "--gpu", "A100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'A100' matches 2 GPU models: A100-40GB, A100-80GB" in err
    # part of exactly one model's name picks it
    assert main(["catalog", "show", "--gpu", "l40", "-o", "json"]) == 0
    assert {r["gpu_model"] for r in json.loads(capsys.readouterr().out)["instance_types"]} == {"L40S"}


def test_show_csv_has_arch_and_allocatable(capsys):
    assert main(["catalog", "show", "--format", "csv"]) == 0
    rows = {r["instance_type"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    m7g, p5 = rows["m7g.large"], rows["p5.48xlarge"]
    # Karpenter's table: m7g.large 1930m, 6844Mi, 29 pods; p5.48xlarge 191450m, 1938410Mi, 100 pods
    assert (m7g["arch"], m7g["allocatable_cpu"], m7g["max_pods"]) == ("arm64", "1.93", "29")
    assert float(m7g["allocatable_memory_gib"]) == round(6844 / 1024, 2)
    assert (p5["arch"], p5["allocatable_cpu"], p5["max_pods"], p5["allocatable_source"]) == \
        ("x86_64", "191.45", "100", "karpenter-reference")

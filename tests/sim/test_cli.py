"""``rightsizer simulate``: bad input is one line and exit 2; a non-empty ROOT needs --force."""

from __future__ import annotations

import json
import os

import pytest

from recommender.cli import main

SMALL = ["--nodes", "11", "--days", "1", "--interval-s", "300", "--start", "2026-01-05"]


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "ten"], "error: --nodes: 'ten' is not a whole number"),
    (["--region", "Europe"], "error: --region: 'Europe' is not an AWS region name (e.g. us-east-1, eu-west-1)"),
    (["--nodes", "-1"], "error: --nodes: -1 is out of range (1..5000)"),
    (["--days", "0"], "error: --days: 0 is out of range (1..92)"),
    (["--interval-s", "7"], "error: --interval-s: 7 does not divide a day (86400 s); try 1, 10, 15, 30, 60 or 300"),
    (["--seed", "1.5"], "error: --seed: '1.5' is not a whole number"),
    (["--start", "yesterday"], "error: --start: 'yesterday' is not an ISO 8601 time (e.g. 2026-01-05 or "
                               "2026-01-05T12:00Z)"),
    (["--start", "2026-01-05T06:00"], "error: --start: '2026-01-05T06:00' is not midnight UTC; give a date such as "
                                      "2026-01-05"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err == message + "\n"
    assert not out.exists() or not os.listdir(out)  # nothing half-written


def test_refuses_non_empty_root_without_force(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["simulate", "--out", str(tmp_path), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out: {tmp_path} is not empty (notes.txt); pass --force") and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_force_replaces_a_previous_simulation_only(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--nodes", "12", "--days", "2", "--interval-s", "300",
                 "--start", "2026-01-05"]) == 0
    assert os.path.isdir(tmp_path / "gpu" / "date=2026-01-06")
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["simulate", "--out", str(tmp_path), *SMALL, "--force", "--seed", "9"]) == 0
    # the old second day is gone; a one-day run's only sample on 01-06 is the window end's, at 00:00
    assert not os.path.exists(tmp_path / "gpu" / "date=2026-01-07")
    day2 = sim_ts(tmp_path, "2026-01-06")
    assert day2 == {"2026-01-06T00:00:00+00:00"}
    assert (tmp_path / "notes.txt").read_text() == "mine"
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert (truth["seed"], truth["end"], truth["spike"]) == (9, "2026-01-06T00:00:00Z", None)
    out = capsys.readouterr().out
    assert "simulated 11 nodes" in out and "truth.json" in out


def sim_ts(root, date: str) -> set[str]:
    import pyarrow.dataset as ds

    table = ds.dataset(str(root / "gpu" / f"date={date}"), format="parquet").to_table(columns=["ts"])
    return {t.isoformat() for t in table.column("ts").to_pylist()}


def test_default_start_is_a_monday_weeks_back():
    from datetime import UTC, datetime

    from simulator import default_start

    now = datetime(2026, 11, 27, 13, 5, tzinfo=UTC)  # a Friday
    start = default_start(7, now)
    assert start == datetime(2026, 11, 9, tzinfo=UTC) and start.weekday() == 0
    assert default_start(7, datetime(2026, 11, 29, 23, 0, tzinfo=UTC)) == start  # same week, same window


def test_progress_bar_run(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "p"), *SMALL, "--progress", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "simulated 11 nodes" in captured.out
    assert os.path.exists(tmp_path / "p" / "truth.json")


def _table(root, name, columns):
    import pyarrow.dataset as ds

    return ds.dataset(str(root / name), partitioning="hive").to_table(columns=columns).to_pylist()


@pytest.mark.parametrize("nodes", [1, 4, 10, 11])
def test_fewer_nodes_keep_what_fits_and_list_the_rest(tmp_path, capsys, nodes):
    from simulator.behaviours import CYCLE, LLM_RECIPES, SPIKE_RECIPE

    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), "--nodes", str(nodes), "--days", "2", "--interval-s", "3600",
                 "--start", "2026-01-05", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    truth = json.loads((out / "truth.json").read_text())
    assert len(truth["nodes"]) == nodes and len({n["node"] for n in _table(out, "nodes", ["node"])}) == nodes
    kept = {n["role"] for n in truth["nodes"]}
    left = [x["recipe"] for x in truth["left_out"]]
    # every recipe of the cycle is either in the cluster or listed as left out, never both; the spike and
    # the LLM serving nodes (which come on top of the whole cycle) are out
    llm = [r.name for r in LLM_RECIPES]
    assert kept.isdisjoint(left) and kept | set(left) == {r.name for r in CYCLE} | {SPIKE_RECIPE.name, *llm}
    assert left[-1 - len(llm):] == [SPIKE_RECIPE.name, *llm] and truth["spike"] is None
    assert sum(r.nodes for r in CYCLE if r.name in kept) == nodes
    behaviours = {w["behaviour"] for w in truth["workloads"]}
    assert {b for r in CYCLE if r.name in kept for s in r.slots for b in [s.template.behaviour]} == behaviours
    # stderr says the same, one line per recipe left out
    assert [line.split(" ")[2] for line in err] == left and all(line.startswith("left out: ") for line in err)


def test_enough_nodes_leave_nothing_out(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), "--nodes", "14", "--days", "2", "--interval-s", "3600",
                 "--start", "2026-01-05", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    truth = json.loads((out / "truth.json").read_text())
    assert truth["left_out"] == [] and truth["spike"] is not None
    assert {"llm-kv-oversized", "llm-low-volume"} <= {w["behaviour"] for w in truth["workloads"]}


def test_the_whole_cycle_and_the_spike_without_room_for_the_llm_nodes(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", "--out", str(out), "--nodes", "12", "--days", "2", "--interval-s", "3600",
                 "--start", "2026-01-05", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    truth = json.loads((out / "truth.json").read_text())
    assert [x["recipe"] for x in truth["left_out"]] == ["llm-chat", "llm-docs"] and truth["spike"] is not None
    assert [line.split(" ")[2] for line in err] == ["llm-chat", "llm-docs"]
    assert "--nodes 14 or more" in err[0]


def test_region_moves_the_nodes_not_the_prices(tmp_path):
    out = tmp_path / "eu"
    args = ["--nodes", "4", "--days", "1", "--interval-s", "3600", "--start", "2026-01-05", "--no-progress"]
    assert main(["simulate", "--out", str(out), "--region", "eu-west-1", *args]) == 0
    rows = _table(out, "nodes", ["node", "region", "zone", "labels"])
    assert {r["region"] for r in rows} == {"eu-west-1"}
    assert {r["zone"] for r in rows} <= {"eu-west-1a", "eu-west-1b", "eu-west-1c"}
    for r in rows:
        labels = json.loads(r["labels"])
        assert labels["topology.kubernetes.io/region"] == "eu-west-1" and labels["topology.kubernetes.io/zone"] == r["zone"]
        assert r["node"].endswith(".eu-west-1.compute.internal")
    truth = json.loads((out / "truth.json").read_text())
    assert truth["region"] == "eu-west-1"
    home = tmp_path / "us"
    assert main(["simulate", "--out", str(home), *args]) == 0
    us = json.loads((home / "truth.json").read_text())
    # same cluster, same samples; only where it runs differs (no price is the simulator's to change)
    assert [n["hourly_usd"] for n in us["nodes"]] == [n["hourly_usd"] for n in truth["nodes"]]
    assert [n["instance_type"] for n in us["nodes"]] == [n["instance_type"] for n in truth["nodes"]]
    assert {r["region"] for r in _table(home, "nodes", ["region"])} == {"us-east-1"}

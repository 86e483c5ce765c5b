"""``rightsizer simulate``: bad input is one line and exit 2; a non-empty ROOT needs --force."""

from __future__ import annotations

import json
import os

import pytest

from recommender.cli import main

SMALL = ["--nodes", "11", "--days", "1", "--interval-s", "300", "--start", "2026-01-05"]


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "ten"], "error: --nodes: 'ten' is not a whole number"),
    (["--nodes", "3"], "error: --nodes: 3 is too few; at least 12 are needed so that every behaviour appears "
                       "(with --days 7)"),
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
    assert not os.path.exists(tmp_path / "gpu" / "date=2026-01-06")  # the old second day is gone
    assert (tmp_path / "notes.txt").read_text() == "mine"
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert (truth["seed"], truth["end"], truth["spike"]) == (9, "2026-01-06T00:00:00Z", None)
    out = capsys.readouterr().out
    assert "simulated 11 nodes" in out and "truth.json" in out


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

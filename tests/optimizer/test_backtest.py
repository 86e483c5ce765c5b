"""``rightsizer backtest`` on a two-week simulation with a planted regression: the workload whose GPU memory
grows in week 2 is flagged, and nothing else has an OOM interval under the default policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recommender.cli import main
from store.reader import Dataset

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
SPLIT = "2026-01-12"
PLANTED = ("search", "Deployment", "embed-api")
GROWTH = 4.0  # week 2: the service loads a bigger model, GPU memory x4


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory):
    from simulator import simulate

    root = tmp_path_factory.mktemp("bt") / "data"
    simulate(str(root), nodes=12, days=14, interval_s=600, seed=3, start=START, workers=2)
    pods_table = Dataset(str(root)).read("pods", columns=["namespace", "pod", "workload_name"])
    mask = pc.and_(pc.equal(pods_table["namespace"], PLANTED[0]), pc.equal(pods_table["workload_name"], PLANTED[2]))
    pods = set(pods_table.filter(mask)["pod"].to_pylist())
    assert pods
    split = datetime.fromisoformat(SPLIT).replace(tzinfo=UTC)
    for path in sorted((root / "gpu").rglob("*.parquet")):
        table = pq.ParquetFile(path).read()
        ts = table["ts"].to_pylist()
        hit = [p in pods and t >= split for p, t in zip(table["pod"].to_pylist(), ts, strict=True)]
        if not any(hit):
            continue
        used = table["mem_used_bytes"].to_pylist()
        total = table["mem_total_bytes"].to_pylist()
        grown = [min(int(u * GROWTH), tt) if h else u for u, tt, h in zip(used, total, hit, strict=True)]
        i = table.schema.get_field_index("mem_used_bytes")
        table = table.set_column(i, table.schema.field(i), [grown])
        pq.write_table(table, path)
    return root


@pytest.fixture(scope="module")
def result(two_weeks, tmp_path_factory):
    out = tmp_path_factory.mktemp("bt-out")
    code = main(["backtest", "--data", str(two_weeks), "--split", SPLIT, "--out", str(out), "--no-consolidate"])
    assert code == 0
    return json.loads((out / "backtest.json").read_text()), out


def test_the_planted_regression_and_only_it_is_flagged(result):
    doc, _ = result
    planted = [r for r in doc["recommendations"]
               if (r["workload"]["namespace"], r["workload"]["kind"], r["workload"]["name"]) == PLANTED]
    assert planted and planted[0]["action"] in ("use-mig-slice", "share-gpu", "change-instance-type")
    assert doc["summary"]["flagged"] == [planted[0]["id"]]
    assert planted[0]["oom_share"] > 0.5  # most of week 2 no longer fits the slice
    assert planted[0]["gpu_memory_peak_after_bytes"] > planted[0]["gpu_memory_capacity_bytes"]
    others = [r for r in doc["recommendations"] if r is not planted[0]]
    assert all(r["oom_intervals"] == 0 for r in others)  # default policies: no OOM elsewhere
    assert 0 <= doc["summary"]["compute_exceeded_share"] < 0.05


def test_the_bill_and_the_report_section(result):
    doc, out = result
    b = doc["bill"]
    assert b["before_monthly"] > 0 and b["after_observed_monthly"] > 0
    assert b["plan_before_monthly"] == pytest.approx(b["before_monthly"] - b["plan_monthly_savings"], abs=0.01)
    assert b["plan_after_monthly"] == pytest.approx(b["after_observed_monthly"] - b["plan_monthly_savings"], abs=0.01)
    md = (out / "backtest.md").read_text()
    assert "## Backtest" in md and "**yes**" in md
    assert doc["window_before"]["end"] == doc["window_after"]["start"] == "2026-01-12T00:00:00Z"
    assert "<table>" in (out / "backtest.html").read_text()


@pytest.mark.parametrize("split, message", [("2027-01-01", "is not inside the data"), ("soon", "--split")])
def test_bad_split_is_one_line(two_weeks, tmp_path, capsys, split, message):
    assert main(["backtest", "--data", str(two_weeks), "--split", split, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()

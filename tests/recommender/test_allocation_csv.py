"""allocation.csv as a file: its unit (window_hours), the unallocated row, no -0.00, rows summing to the bill."""

from __future__ import annotations

import csv

from recommender.allocation import allocate
from store.reader import Dataset
from tests.recommender.fakes import build_dataset, default_pods


def _read(alloc, tmp_path):
    path = tmp_path / "allocation.csv"
    alloc.write_csv(path)
    text = path.read_text()
    with open(path) as fh:
        return text, list(csv.DictReader(fh))


def test_unlabeled_workloads_are_the_unallocated_rows(small_allocation, tmp_path):
    text, rows = _read(small_allocation, tmp_path)
    unallocated = [r for r in rows if r["row_type"] == "unallocated"]
    # default/legacy has no labels at all: its cost is the unallocated cost, with its name to label it by
    assert [(r["namespace"], r["workload"], r["team"]) for r in unallocated] == [("default", "legacy", "unallocated")]
    assert float(unallocated[0]["total_cost"]) > 0
    assert sum(round(float(r["total_cost"]) * 100) for r in rows) == small_allocation.total_cents
    assert [r["row_type"] for r in rows] == sorted((r["row_type"] for r in rows),
                                                   key=["workload", "unallocated", "idle"].index)
    # the unit: every money cell is USD over the window, and the window's length is on every row (48 h here)
    assert {r["window_hours"] for r in rows} == {"48.0"}
    assert "-0.00" not in text and ",-0.0," not in text


def test_an_unallocated_row_is_there_when_everything_is_labeled(tmp_path, catalog):
    pods = [p for p in default_pods() if p.labels.get("team")]
    root = build_dataset(tmp_path / "d", pods=pods)
    alloc = allocate(Dataset(root), catalog)
    _, rows = _read(alloc, tmp_path)
    unallocated = [r for r in rows if r["row_type"] == "unallocated"]
    assert len(unallocated) == 1 and float(unallocated[0]["total_cost"]) == 0.0
    assert unallocated[0]["team"] == "unallocated" and unallocated[0]["workload"] == ""
    assert sum(round(float(r["total_cost"]) * 100) for r in rows) == alloc.total_cents

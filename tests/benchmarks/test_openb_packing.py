"""benchmarks/openb_packing.py on a tiny trace written here: a pod list without gpu_spec (and one without
gpu_milli) runs, and per list the script prints ours, the bound, ours as a share of it, and FGD's number
where a results table has the list."""

from __future__ import annotations

import csv

from benchmarks import openb_packing

NODES = [("n0", 16000, 65536, 2, "V100M16"), ("n1", 16000, 65536, 2, "V100M16"), ("n2", 8000, 32768, 1, "T4")]


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _trace(tmp_path):
    trace = tmp_path / "csv"
    trace.mkdir()
    _write(trace / "openb_node_list_gpu_node.csv", ["sn", "cpu_milli", "memory_mib", "gpu", "model"], NODES)
    # the trace's multi-GPU lists: no gpu_spec column
    _write(trace / "openb_pod_list_multigpu_tiny.csv", ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"],
           [("p0", 4000, 8192, 2, 1000), ("p1", 2000, 4096, 1, 1000), ("p2", 1000, 2048, 1, 500),
            ("p3", 1000, 2048, 0, 0)])
    # neither gpu_spec nor gpu_milli: whole GPUs
    _write(trace / "openb_pod_list_whole_tiny.csv", ["name", "cpu_milli", "memory_mib", "num_gpu"],
           [("w0", 2000, 4096, 1), ("w1", 2000, 4096, 2)])
    return trace


def _rows(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    return {line.split()[0]: line.split() for line in lines[1:-1]}


def test_lists_without_gpu_spec_run_and_report_ours_bound_share(tmp_path, capsys):
    trace = _trace(tmp_path)
    fgd = _write(tmp_path / "fgd.csv", ["workload", "sc_policy", "tune", "seed", "130"],
                 [("openb_pod_list_multigpu_tiny", "06-FGD", "1.3", 42, "70.0"),
                  ("openb_pod_list_multigpu_tiny", "06-FGD", "1.3", 43, "80.0"),
                  ("openb_pod_list_multigpu_tiny", "05-BestFit", "1.3", 42, "99.0")])
    assert openb_packing.main(["--trace", str(trace), "--fgd", str(fgd)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert set(rows) == {"openb_pod_list_multigpu_tiny", "openb_pod_list_whole_tiny"}  # every list in the folder
    for cells in rows.values():
        ours, bound, share = float(cells[6]), float(cells[7]), float(cells[8].rstrip("%"))
        assert 0 < ours <= bound <= 100
        assert abs(share - 100 * ours / bound) < 0.01
    assert rows["openb_pod_list_multigpu_tiny"][9] == "75.00"  # FGD's mean over its seeds, not another policy's
    assert len(rows["openb_pod_list_whole_tiny"]) == 9        # no published number: the column stays empty
    assert "lowest share of the bound" in out


def test_given_pod_lists_and_a_missing_required_column(tmp_path, capsys):
    trace = _trace(tmp_path)
    assert openb_packing.main(["--trace", str(trace), "--pods", str(trace / "openb_pod_list_whole_tiny.csv"),
                               "--fgd", str(tmp_path / "none.csv")]) == 0
    assert set(_rows(capsys.readouterr().out)) == {"openb_pod_list_whole_tiny"}
    bad = _write(tmp_path / "bad.csv", ["name", "cpu_milli", "num_gpu"], [("x", 1000, 1)])
    assert openb_packing.main(["--trace", str(trace), "--pods", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {bad}: no column 'memory_mib' (required: name, cpu_milli, memory_mib, num_gpu; "
                   "the header has name, cpu_milli, num_gpu)")

"""`rightsizer profile`: the output contract of docs/profiles.md for every format, the table, and bad input."""

import json

import pandas as pd
import pytest

from recommender.cli import main
from tests.profiles.datagen import container_row, gpu_row, pod_row, write

CONTRACT = ["namespace", "kind", "name", "metric", "p50", "p90", "p95", "p99", "max", "mean", "idle_fraction",
            "seconds", "samples"]
GiB = 2**30


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("week")
    rows = []
    for i in range(1, 61):
        rows += [gpu_row(i * 10.0, "n1", "g1", pod="web-1", util=0.3, sm=0.2, mem=20 * GiB),
                 gpu_row(i * 10.0, "n1", "g2", pod="train-0", util=0.95, mem=70 * GiB,
                         model="NVIDIA A100-SXM4-80GB")]
    write(root, "gpu", rows)
    write(root, "container", [container_row(i * 10.0, "n1", p, "main", cpu=1.0, mem=4 * GiB)
                              for i in range(1, 61) for p in ("web-1", "train-0")])
    write(root, "pods", [pod_row("n1", "web-1", "Deployment", "web"), pod_row("n1", "train-0", "Job", "train")])
    return root


def _read(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.DataFrame(json.loads(path.read_text()))


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".json"])
def test_contract_columns_in_every_format(data, tmp_path, ext):
    out = tmp_path / f"profiles{ext}"
    assert main(["profile", "--data", str(data), "--out", str(out), "--threads", "1"]) == 0
    frame = _read(out)
    assert list(frame.columns[:len(CONTRACT)]) == CONTRACT
    web = frame[(frame["name"] == "web") & (frame["kind"] == "Deployment")].set_index("metric")
    assert set(web.index) == {"gpu_util", "sm_active", "gpu_activity", "gpu_mem_bytes", "cpu_cores", "mem_bytes"}
    assert web.loc["gpu_mem_bytes", "max"] == 20 * GiB and web.loc["gpu_util", "samples"] == 60
    assert web.loc["gpu_util", "seconds"] == 600.0 and web.loc["gpu_util", "p95"] == pytest.approx(0.3)
    train = frame[frame["name"] == "train"].set_index("metric")
    assert "sm_active" not in train.index and train.loc["gpu_activity", "activity_source"] == "gpu_util"


def test_other_entities_have_their_key_columns(data, tmp_path):
    out = tmp_path / "gpus.csv"
    assert main(["profile", "--data", str(data), "--entity", "gpu", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:3]) == ["node", "gpu_uuid", "metric"]
    assert sorted(frame["gpu_uuid"].unique()) == ["g1", "g2"]


def test_table_when_no_out(data, capsys):
    assert main(["profile", "--data", str(data), "--start", "2026-01-05", "--end", "2026-01-06"]) == 0
    out = capsys.readouterr().out
    assert "workload profiles" in out and "web" in out and "train" in out and "gpu_activity" in out


def test_bad_input_exits_2_with_one_line(data, tmp_path, capsys):
    assert main(["profile", "--data", str(data), "--out", str(tmp_path / "x.txt")]) == 2
    assert main(["profile", "--data", str(tmp_path / "missing")]) == 2
    assert main(["profile", "--data", str(data), "--start", "2026-01-07", "--end", "2026-01-06"]) == 2
    assert main(["profile", "--data", str(data), "--start", "yesterday"]) == 2
    bad = tmp_path / "bad"
    write(bad, "gpu", [gpu_row(10.0, "n1", "g1", pod="p", util=0.5)])
    write(bad, "pods", [pod_row("n1", "p", "Job", "p")])
    seg = next((bad / "gpu").rglob("*.parquet"))
    seg.write_bytes(b"not parquet at all")
    out = tmp_path / "never.csv"
    assert main(["profile", "--data", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("error: ") for line in err) and len(err) == 5
    assert str(seg) in err[-1] and not out.exists()


@pytest.mark.parametrize("fmt", ["json", "yaml", "csv"])
def test_output_formats_print_the_rows_of_the_file(data, tmp_path, capsys, fmt):
    import io

    import yaml

    out = tmp_path / "ref.csv"
    assert main(["profile", "--data", str(data), "--out", str(out), "--threads", "1"]) == 0
    reference = pd.read_csv(out)
    capsys.readouterr()
    assert main(["profile", "--data", str(data), "--threads", "1", "-o", fmt]) == 0
    text = capsys.readouterr().out
    if fmt == "csv":
        printed = pd.read_csv(io.StringIO(text))
    else:
        printed = pd.DataFrame(json.loads(text) if fmt == "json" else yaml.safe_load(text))
    assert list(printed.columns) == list(reference.columns) and len(printed) == len(reference)
    key = ["namespace", "kind", "name", "metric"]
    merged = printed.merge(reference, on=key, suffixes=("", "_file"))
    assert len(merged) == len(reference)
    assert (merged["p95"] - merged["p95_file"]).abs().max() < 1e-9
    assert (merged["seconds"] == merged["seconds_file"]).all()


def test_out_and_output_together_is_bad_input(data, tmp_path, capsys):
    assert main(["profile", "--data", str(data), "--out", str(tmp_path / "p.csv"), "-o", "json"]) == 2
    assert "pick one" in capsys.readouterr().err


def test_without_a_pods_table_workloads_say_use_entity_gpu(tmp_path, capsys):
    root = tmp_path / "agent-sink"  # what 'rightsizer-agent --no-kubernetes' writes: GPU rows, no pods
    write(root, "gpu", [gpu_row(i * 10.0, "n1", "g1", util=0.5, mem=GiB) for i in range(1, 31)])
    for entity in ("workload", "pod", "container"):
        assert main(["profile", "--data", str(root), "--entity", entity]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no pods table: use --entity gpu" in err
    assert main(["profile", "--data", str(root), "--entity", "gpu"]) == 0
    out = capsys.readouterr().out
    assert "g1" in out and "gpu_util" in out


def _hours_cells(text: str, metric: str) -> list[str]:
    return [line.split("│")[-2].strip() for line in text.splitlines() if f" {metric} " in line]


def test_hours_column_is_the_sampled_time(tmp_path, capsys):
    root = tmp_path / "known"
    # 9 samples of 10 s = 90 s on g1 (0.025 h); 540 samples = 5400 s on g2 (1.5 h)
    rows = [gpu_row(i * 10.0, "n1", "g1", pod="a-1", util=0.5) for i in range(1, 10)]
    rows += [gpu_row(i * 10.0, "n1", "g2", pod="b-1", util=0.5) for i in range(1, 541)]
    rows += [gpu_row(i * 10.0, "n1", "g3", pod="b-2", util=0.5) for i in range(1, 541)]
    write(root, "gpu", rows)
    write(root, "pods", [pod_row("n1", "a-1", "Job", "a"), pod_row("n1", "b-1", "Deployment", "b"),
                         pod_row("n1", "b-2", "Deployment", "b")])
    assert main(["profile", "--data", str(root), "--entity", "gpu"]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours" in out
    assert _hours_cells(out, "gpu_util") == ["0.025", "1.5", "1.5"]
    assert main(["profile", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    # a workload pools its pods: b's two pods of 1.5 h are 3.0 pod-hours
    assert "pod-hours" in out and sorted(_hours_cells(out, "gpu_util")) == ["0.025", "3.0"]

"""Data that passes the schema but is wrong as a whole (issue 19, item 4): repeated rows and segments,
conflicting repeats, a node's skewed clock, interval 0, memory above the device's, samples of pods the
pods table does not know. Each case through the real CLI (validate, recommend) and the reader."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recommender.cli import main
from store.reader import Dataset
from store.writer import DatasetWriter
from tests.recommender.fakes import NODES, START, build_dataset, default_pods


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return Path(build_dataset(tmp_path_factory.mktemp("clean") / "data"))


def copy(clean: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(clean, root)
    return root


def one_file(root: Path, table: str, node: str = "gpu-1") -> Path:
    return sorted((root / table).glob(f"date=*/node={node}/*.parquet"))[0]


def validate(root: Path, capsys) -> tuple[int, dict | str]:
    code = main(["validate", "--data", str(root), "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def recommend(root: Path, out: Path, capsys) -> tuple[int, dict | None, str]:
    with contextlib.redirect_stdout(io.StringIO()) as terminal:
        code = main(["recommend", "--data", str(root), "--out", str(out), "--solver-seconds", "2", "--no-progress",
                     "--top", "0"])
    err = capsys.readouterr().err
    doc = json.loads((out / "recommendations.json").read_text()) if code == 0 else None
    return code, doc, err + terminal.getvalue()


def gpu_mem_p99(root: Path) -> dict:
    from optimizer.profiles import compute_profiles

    profiles = compute_profiles(str(root))
    out = {key: profiles.stats(key, "gpu_mem_bytes") for key in profiles.keys()}  # noqa: SIM118 (a method, not a dict)
    return {key: (s.p99, s.max, s.seconds) for key, s in out.items() if s is not None}


# -- repeated rows -----------------------------------------------------------------------------------

def test_rows_repeated_inside_a_segment_are_counted_once(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "gpu")
    t = pq.ParquetFile(path).read()
    pq.write_table(pa.concat_tables([t, t.slice(0, 10)]), path)  # ten samples written twice
    assert Dataset(str(root)).read("gpu").num_rows == Dataset(str(clean)).read("gpu").num_rows
    assert gpu_mem_p99(root) == gpu_mem_p99(clean)
    code, summary = validate(root, capsys)
    assert code == 0
    assert summary["integrity"]["duplicate_rows"] == {"gpu": 10}
    assert any("10 gpu row(s) repeated rows already read" in w for w in summary["warnings"])


def test_a_segment_copied_under_a_second_name_is_counted_once(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "gpu")
    shutil.copy(path, path.with_name("copy-" + path.name))  # the same segment twice
    rows = pq.read_metadata(path).num_rows
    assert gpu_mem_p99(root) == gpu_mem_p99(clean)  # before the fix: gpu_mem_bytes doubled
    code, summary = validate(root, capsys)
    assert code == 0 and summary["integrity"]["duplicate_rows"] == {"gpu": rows}
    assert summary["integrity"]["duplicate_files"] == [str(path.with_name("copy-" + path.name))]
    code, doc, _ = recommend(root, tmp_path / "out", capsys)
    clean_code, clean_doc, _ = recommend(clean, tmp_path / "clean-out", capsys)
    assert code == clean_code == 0
    assert doc["summary"]["monthly_cost"] == clean_doc["summary"]["monthly_cost"]
    assert any(f"{rows:,} gpu row(s) repeated" in n for n in doc["summary"]["notes"])


def test_an_overlapping_segment_repeating_some_rows_is_counted_once(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "container", "cpu-1")
    t = pq.ParquetFile(path).read()
    pq.write_table(t.slice(t.num_rows - 12), path.with_name("retried.parquet"))  # an upload retried
    assert Dataset(str(root)).read("container").num_rows == Dataset(str(clean)).read("container").num_rows
    code, summary = validate(root, capsys)
    assert code == 0 and summary["integrity"]["duplicate_rows"] == {"container": 12}


def test_the_same_sample_with_other_values_is_exit_2_naming_both_files(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "gpu")
    t = pq.ParquetFile(path).read().slice(0, 3)
    util = pc.add(t.column("gpu_util"), pa.scalar(0.05, pa.float32()))
    pq.write_table(t.set_column(t.schema.get_field_index("gpu_util"), "gpu_util", util),
                   path.with_name("other.parquet"))
    code, err = validate(root, capsys)
    assert code == 2
    assert err.startswith(f"error: {path.with_name('other.parquet')}: column 'gpu_util': two rows for the same "
                          "sample (ts=")
    assert f"and {path} differ in this column" in err and err.count("\n") == 1


# -- clock skew --------------------------------------------------------------------------------------

def test_a_node_ten_years_ahead_is_left_out_of_the_window(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    pod = [p for p in default_pods() if p.node == "gpu-1"][:1]
    pod[0].node = "gpu-9"
    build_dataset(root, pods=pod, nodes={"gpu-9": NODES["gpu-1"]}, start=START.replace(year=START.year + 10))
    code, summary = validate(root, capsys)
    assert code == 0
    skew = summary["integrity"]["skewed_nodes"]
    assert [s["node"] for s in skew] == ["gpu-9"] and skew[0]["first_date"].startswith("2036-")
    assert skew[0]["rows"] > 0
    assert any(w.startswith("node gpu-9:") and "skewed clock" in w for w in summary["warnings"])
    assert summary["last"] < "2027"  # the summary's window is the main block's
    skewed_file = sorted((root / "gpu").glob("date=2036-*/node=gpu-9/*.parquet"))[0]
    t = pq.ParquetFile(skewed_file).read()
    pq.write_table(t.drop_columns(["gpu_util"]), skewed_file)
    code, err = validate(root, capsys)  # left out of the window, still checked
    assert code == 2 and f"{skewed_file}: column 'gpu_util': missing" in err
    pq.write_table(t, skewed_file)
    code, doc, _ = recommend(root, tmp_path / "out", capsys)
    _, clean_doc, _ = recommend(clean, tmp_path / "clean-out", capsys)
    assert code == 0
    assert doc["window"] == clean_doc["window"]  # not stretched to 2036
    # gpu-9 has no sample in the window: its node is costed for at most one interval, not a decade
    assert doc["summary"]["monthly_cost"] == pytest.approx(clean_doc["summary"]["monthly_cost"], rel=0.02)
    assert any(n.startswith("node gpu-9:") and "left out of the window" in n for n in doc["summary"]["notes"])


def test_skew_blocks_rule():
    from datetime import date

    from store.integrity import skewed_partitions

    today = date(2026, 12, 4)
    week = {f"2026-11-0{d}" for d in range(1, 8)}
    # a node ahead, tied in size with the rest: the future block loses
    out, block = skewed_partitions({"a": week, "b": {"2036-11-0" + str(d) for d in range(1, 8)}}, today)
    assert {n for _, n in out} == {"b"} and block == ("2026-11-01", "2026-11-07")
    # a node behind (a reset clock): the smaller block loses
    out, _ = skewed_partitions({"a": week, "b": week, "c": {"1970-01-01"}}, today)
    assert out == {("1970-01-01", "c")}
    # a gap of at most SKEW_GAP_DAYS is an outage, not skew
    assert skewed_partitions({"a": {"2026-11-01", "2026-11-08"}}, today) == (set(), None)


# -- values that cannot be --------------------------------------------------------------------------

def _rewrite(path: Path, column: str, index: int, value) -> None:
    t = pq.ParquetFile(path).read()
    values = t.column(column).to_pylist()
    values[index] = value
    i = t.schema.get_field_index(column)
    pq.write_table(t.set_column(i, t.schema.field(i), pa.array(values, t.schema.field(i).type)), path)


def test_interval_zero_is_exit_2_naming_file_and_column(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "gpu")
    _rewrite(path, "interval_s", 3, 0.0)
    want = f"error: {path}: column 'interval_s': 1 row(s) with interval 0; every sample covers a positive number"
    code, err = validate(root, capsys)
    assert code == 2 and err.startswith(want)
    code, _, err = recommend(root, tmp_path / "out", capsys)
    assert code == 2 and want in err and "Traceback" not in err  # before the fix: exit 1, NaN ValueError


def test_memory_above_the_device_is_exit_2(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    path = one_file(root, "gpu")
    _rewrite(path, "mem_used_bytes", 0, 25 * 1024**3)  # the A10G has 24 GiB
    code, err = validate(root, capsys)
    assert code == 2
    assert err.startswith(f"error: {path}: column 'mem_used_bytes': 1 row(s) use more GPU memory than the device "
                          f"has (e.g. {25 * 1024**3} > mem_total_bytes {24 * 1024**3} on GPU-a10g-1)")


def test_writer_refuses_interval_zero_and_memory_above_total(tmp_path):
    from store.errors import DataError
    from tests.store.rows import T0, gpu_rows, table

    rows = gpu_rows("node-a", T0, 3)
    rows[1]["interval_s"] = 0.0
    with pytest.raises(DataError, match="column 'interval_s': 1 row"):
        DatasetWriter(str(tmp_path)).write("gpu", table("gpu", rows))
    rows = gpu_rows("node-a", T0, 3)
    rows[2]["mem_used_bytes"] = rows[2]["mem_total_bytes"] + 1
    with pytest.raises(DataError, match="column 'mem_used_bytes'"):
        DatasetWriter(str(tmp_path)).write("gpu", table("gpu", rows))
    assert not list(tmp_path.rglob("*.parquet"))


# -- pods the pods table does not know ------------------------------------------------------------

def test_samples_of_unknown_pods_are_counted(clean, tmp_path, capsys):
    root = copy(clean, tmp_path)
    t = pq.ParquetFile(one_file(root, "gpu")).read()
    ghost = t.slice(0, 5)
    for name, value in (("pod", "ghost-0"), ("gpu_uuid", "GPU-ghost")):
        i = ghost.schema.get_field_index(name)
        ghost = ghost.set_column(i, ghost.schema.field(i), pa.array([value] * 5))
    ghost = ghost.set_column(ghost.schema.get_field_index("ts"), "ts",
                             pc.add(ghost.column("ts"), pa.scalar(timedelta(seconds=1))))
    DatasetWriter(str(root)).write("gpu", ghost)
    code, summary = validate(root, capsys)
    assert code == 0 and summary["orphan_pods"] == 1 and summary["integrity"]["orphan_pods"] == 1
    code, doc, _ = recommend(root, tmp_path / "out", capsys)
    assert code == 0
    assert any(n.startswith("1 pod(s) have samples but no row in the pods table (e.g. ml/ghost-0)")
               for n in doc["summary"]["notes"])
    log = Dataset(str(root))
    log.read("gpu")
    log.read("pods")
    assert log.integrity.orphan_pods == [("ml", "ghost-0")]


def test_a_copied_segment_on_s3_is_counted_once(s3):
    from tests.store.conftest import BUCKET
    from tests.store.rows import T0, gpu_rows, table

    uri = f"s3://{BUCKET}/clusters/prod"
    writer = DatasetWriter(uri, s3_client=s3)
    (first,) = writer.write("gpu", table("gpu", gpu_rows("node-a", T0, 30)))
    writer.write("gpu", table("gpu", gpu_rows("node-a", T0 + timedelta(minutes=30), 30)))  # follows in time
    key = first.split("/", 1)[1]
    s3.copy_object(Bucket=BUCKET, Key=key.replace(".parquet", "-again.parquet"),
                   CopySource={"Bucket": BUCKET, "Key": key})
    dataset = Dataset(uri, s3_client=s3)
    assert dataset.read("gpu").num_rows == 60  # footers read with ranged GETs, only the copy compared
    assert dataset.integrity.duplicates_by_table() == {"gpu": 30}

"""The small tables read as one batch (store/batch_read.py): the same rows as reading the files one at a
time, and every problem still named by its file, column and value."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import store.batch_read as batch_read
from store.errors import DataError
from store.reader import Dataset
from tests.recommender.fakes import START, build_dataset


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return Path(build_dataset(tmp_path_factory.mktemp("batch") / "data", days=3))


def _copy(clean: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(clean, root)
    return root


def _one_by_one(root: Path, table: str, **kw) -> pa.Table:
    d = Dataset(str(root))
    frags = [f for _, g in d.partition_groups(table, kw.get("start"), kw.get("end")) for f in g]
    return pa.concat_tables([d.read_fragment(table, f, kw.get("start"), kw.get("end"), columns=kw.get("columns"))
                             for f in frags])


def _set_column(path: Path, name: str, values: list, type_: pa.DataType) -> None:
    """Rewrite one file with every row's ``name`` set to ``values`` (of ``type_``, the v1 one or not)."""
    t = pq.ParquetFile(path).read()
    i = t.schema.get_field_index(name)
    pq.write_table(t.set_column(i, pa.field(name, type_), pa.array(values * t.num_rows, type_)), path)


def _files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).glob("date=*/node=*/*.parquet"))


@pytest.mark.parametrize("table", ["pods", "nodes"])
def test_the_batch_gives_the_rows_the_files_give_one_at_a_time(clean, table, monkeypatch):
    calls = []
    real = batch_read.read_batch
    monkeypatch.setattr(batch_read, "read_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert len(_files(clean, table)) > 1
    d = Dataset(str(clean))
    assert d.read(table).equals(_one_by_one(clean, table))
    for start, end, rows in ((START, START + timedelta(seconds=1), d.read(table).num_rows),
                             (START + timedelta(minutes=1), START + timedelta(days=2), 0)):
        cols = ["ts", "namespace", "pod"] if table == "pods" else ["ts", "node", "instance_type"]
        got = Dataset(str(clean)).read(table, start, end, columns=cols)
        assert got.num_rows == rows > 0 or got.num_rows == rows == 0
        assert got.equals(_one_by_one(clean, table, start=start, end=end, columns=cols))
    assert calls, "the batch path was not taken"
    if table == "pods":  # the pods the integrity log knows are the same
        one = Dataset(str(clean))
        for _, group in one.partition_groups("pods"):
            for f in group:
                one.read_fragment("pods", f)
        assert d.integrity.table_pods == one.integrity.table_pods and d.integrity.pods_read


def test_a_bad_value_in_one_of_many_files_is_named_with_its_file(clean, tmp_path):
    root = _copy(clean, tmp_path)
    path = _files(root, "pods")[-1]
    _set_column(path, "cpu_request", [-1.0], pa.float64())
    with pytest.raises(DataError) as err:
        Dataset(str(root)).read("pods")
    assert str(path) in str(err.value) and "cpu_request" in str(err.value) and "negative value -1.0" in str(err.value)


def test_a_row_in_the_wrong_node_folder_is_named_with_its_file(clean, tmp_path):
    root = _copy(clean, tmp_path)
    path = _files(root, "nodes")[0]
    _set_column(path, "node", ["elsewhere"], pa.string())
    with pytest.raises(DataError) as err:
        Dataset(str(root)).read("nodes")
    assert str(path) in str(err.value) and "differs from its partition node=" in str(err.value)


def test_a_file_of_the_wrong_type_is_refused_by_its_schema(clean, tmp_path):
    root = _copy(clean, tmp_path)
    path = _files(root, "pods")[1]
    _set_column(path, "cpu_request", ["1"], pa.string())
    with pytest.raises(DataError) as err:
        Dataset(str(root)).read("pods")
    assert str(path) in str(err.value) and "has type string, expected double" in str(err.value)


def test_rows_repeated_in_a_file_are_counted_as_the_per_file_reader_counts_them(clean, tmp_path):
    root = _copy(clean, tmp_path)
    path = _files(root, "pods")[2]
    t = pq.ParquetFile(path).read()
    pq.write_table(pa.concat_tables([t, t.slice(0, 1)]), path)
    d = Dataset(str(root))
    assert d.read("pods").equals(Dataset(str(clean)).read("pods"))
    assert d.integrity.duplicates_by_table() == {"pods": 1}


def test_an_unreadable_file_is_named(clean, tmp_path):
    root = _copy(clean, tmp_path)
    path = _files(root, "nodes")[1]
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError) as err:
        Dataset(str(root)).read("nodes")
    assert str(path) in str(err.value) and "not a readable Parquet file" in str(err.value)

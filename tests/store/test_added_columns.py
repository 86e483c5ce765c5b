"""Columns added to v1 after its first release (ADDED_COLUMNS): old files without them still read."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from store.reader import Dataset
from store.schema import ADDED_COLUMNS, SCHEMAS
from store.writer import DatasetWriter


def _row() -> dict:
    return {"ts": pa.array([1_767_571_200_000]).cast(pa.timestamp("ms", tz="UTC")), "node": ["n1"],
            "interval_s": pa.array([60.0], pa.float32()), "gpu_uuid": ["GPU-1"], "gpu_model": ["NVIDIA L4"],
            "gpu_util": pa.array([0.5], pa.float32()), "mem_used_bytes": [1], "mem_total_bytes": [2]}


def test_a_file_written_before_an_added_column_reads_it_as_null(tmp_path):
    assert "gpu_util_source" in ADDED_COLUMNS["gpu"]
    full = pa.table({f.name: pa.nulls(1, f.type) for f in SCHEMAS["gpu"]}).to_pydict()
    full.update({k: (v.to_pylist() if hasattr(v, "to_pylist") else v) for k, v in _row().items()})
    old_schema = pa.schema([f for f in SCHEMAS["gpu"] if f.name != "gpu_util_source"])
    old = pa.table({f.name: full[f.name] for f in old_schema}, schema=old_schema)
    folder = tmp_path / "gpu" / "date=2026-01-05" / "node=n1"
    folder.mkdir(parents=True)
    pq.write_table(old, folder / "old.parquet")
    later = {**_row(), "ts": pa.array([1_767_571_260_000]).cast(pa.timestamp("ms", tz="UTC"))}
    DatasetWriter(str(tmp_path)).write("gpu", {**later, "gpu_util_source": ["DCGM_FI_DEV_GPU_UTIL"]}, segment="new")
    data = Dataset(str(tmp_path)).read("gpu")
    assert data.schema == SCHEMAS["gpu"]
    assert sorted(data.column("gpu_util_source").to_pylist(), key=str) == ["DCGM_FI_DEV_GPU_UTIL", None]
    only = Dataset(str(tmp_path)).read("gpu", columns=["ts", "gpu_util_source"])
    assert only.column("gpu_util_source").null_count == 1


def test_validate_accepts_the_old_file(tmp_path, capsys):
    from recommender.cli import main

    old_schema = pa.schema([f for f in SCHEMAS["gpu"] if f.name != "gpu_util_source"])
    cols = {f.name: pa.nulls(1, f.type) for f in old_schema}
    for k, v in _row().items():
        cols[k] = pa.array(v.to_pylist() if hasattr(v, "to_pylist") else v, type=old_schema.field(k).type)
    folder = tmp_path / "gpu" / "date=2026-01-05" / "node=n1"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(cols, schema=old_schema), folder / "old.parquet")
    main(["validate", "--data", str(tmp_path)])
    out = capsys.readouterr()
    assert "gpu_util_source" not in out.err + out.out
    assert "old.parquet" not in out.err

"""Schema round trip: what the writer writes, the reader returns unchanged, on local disk and on S3."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from store.reader import Dataset
from store.schema import SCHEMAS, TABLES
from store.writer import DatasetWriter
from tests.store.rows import T0, container_rows, gpu_rows, node_row, pod_row, sort_rows, table

LATE = T0 + timedelta(hours=23, minutes=58)  # 3 samples at 60 s cross midnight into a second partition


def example(name: str):
    """Rows of ``name`` over two nodes and two days, with nulls in every nullable column kind."""
    if name == "gpu":
        rows = gpu_rows("node-a", LATE, 3) + gpu_rows("node-b", LATE, 3, pod=None,
                                                      gpus=(("GPU-1", "NVIDIA A100-SXM4-80GB"), ("GPU-2", "NVIDIA A100-SXM4-80GB")))
        rows[0]["mig_profile"] = "1g.10gb"
        rows[0]["power_w"] = None
    elif name == "container":
        rows = container_rows("node-a", LATE, 3) + container_rows("node-b", LATE, 3, pod="db-0")
        rows[1]["cpu_cores"] = None
    elif name == "pods":
        rows = [pod_row("node-a", LATE), pod_row("node-b", LATE + timedelta(minutes=5), "train-0", kind="Job",
                                                  name="train")]
        rows[1].update(cpu_request=None, mem_request=None, labels=None, gpu_resource=None, gpu_request=None)
    elif name == "autoscalers":
        hpa = {"ts": LATE, "node": "cluster", "namespace": "ml", "autoscaler_kind": "HorizontalPodAutoscaler",
               "autoscaler_name": "chat", "target_kind": "Deployment", "target_name": "chat", "min_replicas": 2,
               "max_replicas": 8, "metrics": '[{"type": "Resource", "resource": {"name": "cpu"}}]'}
        so = {**hpa, "ts": LATE + timedelta(minutes=5), "autoscaler_kind": "ScaledObject", "autoscaler_name": "embed",
              "target_name": "embed", "min_replicas": None, "max_replicas": None, "metrics": None}
        return table(name, [hpa, so])
    elif name == "tokens":
        vllm = {"ts": LATE, "node": "node-a", "interval_s": 60.0, "namespace": "ml", "pod": "chat-0",
                "container": "vllm", "server": "vllm", "model": "meta-llama/Llama-3.1-8B-Instruct",
                "prompt_tokens": 12_000, "generation_tokens": 2_400, "cached_prompt_tokens": 3_000, "requests": 10,
                "kv_cache_usage": 0.15, "kv_cache_capacity_tokens": 400_000, "prefill_seconds": 0.8,
                "decode_seconds": 21.5, "prompt_tokens_hist": '{"1024": 4, "+Inf": 10}',
                "gpu_memory_utilization": 0.9}
        tgi = {"ts": LATE + timedelta(minutes=1), "node": "node-b", "interval_s": 60.0, "namespace": "ml",
               "pod": "tgi-0", "container": None, "server": "tgi", "model": None, "prompt_tokens": 500,
               "generation_tokens": 80, "cached_prompt_tokens": None, "requests": 2, "kv_cache_usage": None,
               "kv_cache_capacity_tokens": None, "prefill_seconds": None, "decode_seconds": None,
               "prompt_tokens_hist": None, "gpu_memory_utilization": None}
        return table(name, [vllm, tgi])
    else:
        rows = [node_row("node-a", LATE), node_row("node-b", LATE + timedelta(minutes=5), capacity_type="spot",
                                                    instance_type="p4de.24xlarge", gpu_count=8,
                                                    gpu_model="NVIDIA A100-SXM4-80GB")]
        rows[0]["zone"] = None
    return table(name, rows)


def _open(location, path):
    return pq.ParquetFile(io.BytesIO(location.read_bytes(path)))


@pytest.mark.parametrize("name", TABLES)
def test_every_table_round_trips(root, name):
    uri, client = root
    written = example(name)
    paths = DatasetWriter(uri, s3_client=client).write(name, written)
    dataset = Dataset(uri, s3_client=client)
    assert dataset.tables() == [name]
    back = dataset.read(name)
    assert back.schema == SCHEMAS[name]
    assert sort_rows(back) == sort_rows(written)
    # Each file holds exactly the rows of its own date= and node= folder, with the full v1 schema.
    loc = dataset.location
    assert sorted(paths) == loc.list_files(name)
    for path in paths:
        m = re.search(rf"/{name}/date=(\d{{4}}-\d{{2}}-\d{{2}})/node=([^/]+)/[^/.][^/]*\.parquet$", path)
        assert m, path
        segment = _open(loc, path)
        assert segment.schema_arrow == SCHEMAS[name]
        rows = segment.read().to_pylist()
        assert rows and all(r["node"] == m.group(2) for r in rows)
        assert all(r["ts"].strftime("%Y-%m-%d") == m.group(1) for r in rows)
    expected_parts = {(r["ts"].strftime("%Y-%m-%d"), r["node"]) for r in written.to_pylist()}
    assert {(p.date, p.node) for p in dataset.iter_partitions(name)} == expected_parts


def test_s3_reads_with_credentials_from_the_environment(s3):
    """No client passed in: boto3's default chain (here the env variables) is used, as in production."""
    DatasetWriter("s3://rightsizer-test/env").write("gpu", example("gpu"))
    assert sort_rows(Dataset("s3://rightsizer-test/env").read("gpu")) == sort_rows(example("gpu"))


def test_partition_files_are_readable_by_pyarrow_and_duckdb_as_they_are(tmp_path):
    """The contract says plain Hive-partitioned Parquet: other engines read it without our reader."""
    import duckdb
    import pyarrow.dataset as ds

    root = tmp_path / "data"
    DatasetWriter(str(root)).write("gpu", example("gpu"))
    direct = ds.dataset(str(root / "gpu"), format="parquet", partitioning="hive").to_table()
    assert direct.num_rows == example("gpu").num_rows
    count, nodes = duckdb.sql(
        f"select count(*), count(distinct node) from read_parquet('{root}/gpu/*/*/*.parquet', hive_partitioning=true)"
    ).fetchone()
    assert (count, nodes) == (example("gpu").num_rows, 2)


def test_writer_accepts_column_dicts_and_fills_missing_nullable_columns(tmp_path):
    rows = gpu_rows("node-a", T0, 2)
    columns = {name: [r[name] for r in rows] for name in
               ("ts", "node", "interval_s", "gpu_uuid", "gpu_model", "gpu_util", "mem_used_bytes", "mem_total_bytes")}
    DatasetWriter(str(tmp_path)).write("gpu", columns)
    back = Dataset(str(tmp_path)).read("gpu")
    assert back.column("gpu_util").to_pylist() == [0.0, pytest.approx(0.1)]
    assert back.column("pod").null_count == 2 and back.column("sm_active").null_count == 2


def test_timestamps_are_truncated_to_milliseconds_and_naive_ones_taken_as_utc(tmp_path):
    naive = [(T0 + timedelta(seconds=1, microseconds=999)).replace(tzinfo=None)]
    rows = {"ts": naive, "node": ["node-a"], "interval_s": [1.0], "namespace": ["ns"], "pod": ["p"],
            "container": ["c"]}
    DatasetWriter(str(tmp_path)).write("container", rows)
    assert Dataset(str(tmp_path)).read("container").column("ts").to_pylist() == [T0 + timedelta(seconds=1)]


def test_files_from_other_engines_with_equivalent_types_are_read_as_v1(tmp_path):
    """polars writes large_string, DuckDB microsecond timestamps, Spark dictionary strings: all mean the same."""
    import pyarrow as pa

    written = example("container").filter(pa.compute.equal(example("container")["node"], "node-a"))
    written = written.slice(0, 2)  # both rows on 2026-01-05
    cols = []
    for field in written.schema:
        col = written.column(field.name)
        if field.name == "ts":
            col = col.cast(pa.timestamp("us", tz="UTC"))
        elif field.name == "pod":
            col = col.dictionary_encode()
        elif pa.types.is_string(field.type):
            col = col.cast(pa.large_string())
        cols.append(col)
    other = pa.table(cols, names=written.column_names).append_column("extra_future_column", pa.array([1, 2]))
    folder = tmp_path / "container" / "date=2026-01-05" / "node=node-a"
    folder.mkdir(parents=True)
    pq.write_table(other, folder / "from-elsewhere.parquet")
    back = Dataset(str(tmp_path)).read("container")
    assert back.schema == SCHEMAS["container"]
    assert back.to_pylist() == written.to_pylist()

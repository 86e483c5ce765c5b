"""Every kind of bad file gives one exact line naming the file and column, exit code 2, no traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recommender.cli import main
from store.errors import DataError
from store.reader import Dataset
from store.writer import DatasetWriter
from tests.store.conftest import BUCKET
from tests.store.rows import T0, container_rows, gpu_rows, node_row, pod_row, table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _replace(t: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return t.set_column(t.schema.get_field_index(name), pa.field(name, array.type), array)


def _gpu():
    return table("gpu", gpu_rows("node-a", T0, 4))


def _set(t, name, index, value):
    values = t.column(name).to_pylist()
    values[index] = value
    return _replace(t, name, pa.array(values, type=t.schema.field(name).type))


def _parquet(t: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(t, buf)
    return buf.getvalue()


# (case id, table, bytes of the bad file, file path below the root, expected message after "<path>: ")
GPU_FILE = "gpu/date=2026-01-05/node=node-a/bad.parquet"
CASES = [
    ("missing-column", GPU_FILE, lambda: _parquet(_gpu().drop_columns(["gpu_util"])),
     "column 'gpu_util': missing (required by dataset format v1)"),
    ("wrong-type", GPU_FILE, lambda: _parquet(_replace(_gpu(), "mem_used_bytes",
                                                        pc.cast(_gpu()["mem_used_bytes"], pa.float64()))),
     "column 'mem_used_bytes': has type double, expected int64"),
    ("string-for-number", GPU_FILE, lambda: _parquet(_replace(_gpu(), "gpu_util", pa.array(["0.5"] * 4))),
     "column 'gpu_util': has type string, expected float"),
    ("nan", GPU_FILE, lambda: _parquet(_set(_set(_gpu(), "gpu_util", 1, float("nan")), "gpu_util", 3, float("nan"))),
     "column 'gpu_util': 2 NaN value(s); missing values must be null"),
    ("negative-int", GPU_FILE, lambda: _parquet(_set(_gpu(), "mem_used_bytes", 2, -5)),
     "column 'mem_used_bytes': negative value -5"),
    ("negative-float", "container/date=2026-01-05/node=node-a/bad.parquet",
     lambda: _parquet(_set(table("container", container_rows("node-a", T0, 3)), "cpu_cores", 0, -0.5)),
     "column 'cpu_cores': negative value -0.5"),
    ("infinite", GPU_FILE, lambda: _parquet(_set(_gpu(), "power_w", 0, float("inf"))),
     "column 'power_w': 1 infinite value(s)"),
    ("percent-not-fraction", GPU_FILE, lambda: _parquet(_set(_gpu(), "gpu_util", 0, 85.0)),
     "column 'gpu_util': value 85.0 is above 1 (fractions are 0..1, not percent)"),
    ("null-required", GPU_FILE, lambda: _parquet(_set(_gpu(), "gpu_uuid", 0, None)),
     "column 'gpu_uuid': 1 null value(s); this column is required"),
    ("naive-timestamp", GPU_FILE, lambda: _parquet(_replace(_gpu(), "ts", _gpu()["ts"].cast(pa.timestamp("ms")))),
     "column 'ts': timestamp has no time zone (timestamp[ms]); v1 needs timestamp[ms, tz=UTC]"),
    ("other-time-zone", GPU_FILE,
     lambda: _parquet(_replace(_gpu(), "ts", _gpu()["ts"].cast(pa.timestamp("ms", tz="Europe/Paris")))),
     "column 'ts': time zone is Europe/Paris; v1 needs timestamp[ms, tz=UTC]"),
    ("corrupt", GPU_FILE, lambda: b"PAR1 this is not a parquet file",
     "not a readable Parquet file (no valid Parquet footer: corrupt, truncated or not Parquet)"),
    ("truncated", GPU_FILE, lambda: _parquet(_gpu())[:300],
     "not a readable Parquet file (no valid Parquet footer: corrupt, truncated or not Parquet)"),
    ("empty-file", GPU_FILE, lambda: b"", "not a readable Parquet file (empty file, 0 bytes)"),
    ("row-outside-its-date", GPU_FILE, lambda: _parquet(table("gpu", gpu_rows("node-a", T0 + timedelta(hours=23,
                                                                                                   minutes=59), 2))),
     "column 'ts': row at 2026-01-06T00:00:00Z is outside its partition date=2026-01-05"),
    ("row-of-another-node", GPU_FILE, lambda: _parquet(table("gpu", gpu_rows("node-b", T0, 2))),
     "column 'node': value 'node-b' differs from its partition node=node-a"),
    ("outside-partition-layout", "gpu/stray.parquet", lambda: _parquet(_gpu()),
     "not inside a date=YYYY-MM-DD/node=NAME/ partition folder"),
    ("unknown-capacity-type", "nodes/date=2026-01-05/node=node-a/bad.parquet",
     lambda: _parquet(table("nodes", [node_row("node-a", T0, capacity_type="preemptible")])),
     "column 'capacity_type': value 'preemptible' is not one of on-demand, spot"),
    ("labels-not-json", "pods/date=2026-01-05/node=node-a/bad.parquet",
     lambda: _parquet(table("pods", [{**pod_row("node-a", T0), "labels": "team=search"}])),
     "column 'labels': value 'team=search' is not a JSON object"),
]


def _valid_dataset(root: str, s3_client=None) -> None:
    """A small valid dataset, so each case has exactly one bad file among good ones."""
    writer = DatasetWriter(root, s3_client=s3_client)
    writer.write("gpu", table("gpu", gpu_rows("node-a", T0, 10) + gpu_rows("node-b", T0, 10)))
    writer.write("container", table("container", container_rows("node-a", T0, 10)))
    writer.write("pods", table("pods", [pod_row("node-a", T0)]))
    writer.write("nodes", table("nodes", [node_row("node-a", T0), node_row("node-b", T0)]))


@pytest.mark.parametrize(("rel", "content", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_names_the_file_and_column_and_exits_2(tmp_path, capsys, rel, content, message):
    root = str(tmp_path / "data")
    _valid_dataset(root)
    path = os.path.join(root, rel)
    with open(path, "wb") as fh:
        fh.write(content())
    assert main(["validate", "--data", root]) == 2
    out, err = capsys.readouterr()
    assert err == f"error: {path}: {message}\n"
    assert out == ""
    table_name = rel.split("/")[0]
    with pytest.raises(DataError) as raised:
        Dataset(root).read(table_name)
    assert str(raised.value) == f"{path}: {message}"


@pytest.mark.parametrize("case", ["missing-column", "corrupt", "naive-timestamp"])
def test_the_same_errors_on_s3(s3, capsys, case):
    _, rel, content, message = next(c for c in CASES if c[0] == case)
    root = f"s3://{BUCKET}/prod"
    _valid_dataset(root, s3_client=s3)
    s3.put_object(Bucket=BUCKET, Key=f"prod/{rel}", Body=content())
    assert main(["validate", "--data", root]) == 2  # the CLI's own client, credentials from the environment
    out, err = capsys.readouterr()
    assert err == f"error: {root}/{rel}: {message}\n" and out == ""


def test_corrupt_data_pages_behind_a_valid_footer(tmp_path, capsys):
    root = str(tmp_path / "data")
    _valid_dataset(root)
    good = _parquet(table("gpu", gpu_rows("node-a", T0, 2000)))
    footer = int.from_bytes(good[-8:-4], "little") + 8
    broken = good[:4] + bytes(len(good) - 4 - footer) + good[-footer:]  # zero every data page, keep the footer
    path = os.path.join(root, GPU_FILE)
    with open(path, "wb") as fh:
        fh.write(broken)
    assert main(["validate", "--data", root]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: not a readable Parquet file (corrupt data: ")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "{tmp}/nowhere"], "{tmp}/nowhere: no such dataset folder"),
    (["--data", "{tmp}"], "{tmp}: no dataset tables here (expected folders gpu/, container/, pods/, nodes/ below this root)"),
    (["--data", "{tmp}", "--start", "last week"],
     "--start: 'last week' is not an ISO 8601 time (e.g. 2026-01-05 or 2026-01-05T12:00Z)"),
    (["--data", "{tmp}", "--start", "2026-01-06", "--end", "2026-01-05"],
     "--start 2026-01-06 is not before --end 2026-01-05"),
    (["--data", "ftp://host/x"], "ftp://host/x: unsupported scheme (use a local folder or s3://bucket/prefix)"),
])
def test_bad_arguments(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["validate", *args]) == 2
    assert capsys.readouterr().err == f"error: {message.replace('{tmp}', str(tmp_path))}\n"


def test_a_missing_bucket_is_one_line(s3, capsys):
    assert main(["validate", "--data", "s3://no-such-bucket-here/x"]) == 2
    assert capsys.readouterr().err == ("error: s3://no-such-bucket-here/x/gpu: S3 NoSuchBucket: "
                                       "The specified bucket does not exist\n")


S3_SCRIPT = """
import sys
from moto import mock_aws
import boto3
with mock_aws():
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="exit-test")
    from tests.store.test_bad_input import _valid_dataset
    _valid_dataset("s3://exit-test/d")
    if sys.argv[1] == "corrupt":
        boto3.client("s3", region_name="us-east-1").put_object(
            Bucket="exit-test", Key="d/gpu/date=2026-01-05/node=node-a/bad.parquet", Body=b"garbage")
    from recommender.cli import main
    code = main(["validate", "--data", "s3://exit-test/d", "--json"])
sys.exit(code)
"""


@pytest.mark.parametrize("mode", ["valid", "corrupt"])
def test_a_real_process_on_s3_exits_cleanly(aws_env, mode):
    """A whole process (interpreter shutdown included) after S3 reads: the exit code, and nothing else on stderr."""
    proc = subprocess.run([sys.executable, "-c", S3_SCRIPT, mode], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": REPO})
    if mode == "valid":
        assert (proc.returncode, proc.stderr) == (0, "")
        assert json.loads(proc.stdout)["tables"][0]["rows"] == 20
    else:
        assert proc.returncode == 2
        assert proc.stderr == ("error: s3://exit-test/d/gpu/date=2026-01-05/node=node-a/bad.parquet: not a readable "
                               "Parquet file (no valid Parquet footer: corrupt, truncated or not Parquet)\n")

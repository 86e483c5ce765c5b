"""Atomic segments: a reader never sees a partial file, and a failed or invalid write leaves nothing behind."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta

import pytest

import store.location
from store.errors import DataError, UserError
from store.reader import Dataset
from store.schema import SCHEMAS
from store.writer import DatasetWriter
from tests.store.rows import T0, container_rows, table

SEGMENT_ROWS = 50


def _all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_the_temp_file_is_hidden_until_the_rename(tmp_path, monkeypatch):
    """At the instant of the rename the full temp file exists beside the target, and no reader lists it."""
    root = str(tmp_path)
    writer = DatasetWriter(root)
    writer.write("container", table("container", container_rows("node-a", T0, SEGMENT_ROWS)))
    seen = {}
    real_replace = os.replace

    def observing_replace(src, dst):
        seen["src"], seen["dst"] = src, dst
        seen["src_bytes"] = os.path.getsize(src)
        seen["listed"] = Dataset(root).location.list_files("container")
        seen["rows"] = Dataset(root).read("container").num_rows
        real_replace(src, dst)

    monkeypatch.setattr(store.location.os, "replace", observing_replace)
    [path] = writer.write("container", table("container", container_rows("node-a", T0 + timedelta(hours=1),
                                                                        SEGMENT_ROWS)))
    assert seen["dst"] == path
    assert os.path.dirname(seen["src"]) == os.path.dirname(path)
    assert os.path.basename(seen["src"]).startswith(".") and seen["src"].endswith(".tmp")
    assert seen["src_bytes"] == os.path.getsize(path)  # the whole segment was written before the rename
    assert seen["src"] not in seen["listed"] and path not in seen["listed"] and len(seen["listed"]) == 1
    assert seen["rows"] == SEGMENT_ROWS
    assert Dataset(root).read("container").num_rows == 2 * SEGMENT_ROWS
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # readable by a report job running as another user


def test_a_reader_running_beside_a_writer_only_ever_sees_whole_segments(tmp_path):
    root = str(tmp_path)
    # Segments follow each other in time (25 min of 30 s samples each), as an agent's do: overlapping ones
    # would repeat samples, which the readers treat as an integrity problem, not as more rows.
    DatasetWriter(root).write("container", table("container", container_rows("node-a", T0, SEGMENT_ROWS, 30.0)))
    segments = 40
    done = threading.Event()
    errors: list[BaseException] = []

    def write_many():
        try:
            writer = DatasetWriter(root)
            for i in range(1, segments):
                node = ("node-a", "node-b")[i % 2]
                writer.write("container", table("container",
                                                container_rows(node, T0 + timedelta(minutes=25 * i),
                                                               SEGMENT_ROWS, 30.0)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write_many)
    thread.start()
    counts = []
    try:
        while not done.is_set():
            counts.append(Dataset(root).read("container").num_rows)  # raises DataError on a partial file
    finally:
        thread.join()
    counts.append(Dataset(root).read("container").num_rows)
    assert not errors
    assert all(c % SEGMENT_ROWS == 0 for c in counts)
    assert counts == sorted(counts) and counts[-1] == segments * SEGMENT_ROWS
    assert not [f for f in _all_files(root) if os.path.basename(f).startswith(".")]


def test_a_failed_rename_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.location.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        DatasetWriter(str(tmp_path)).write("container", table("container", container_rows("node-a", T0, 5)))
    assert _all_files(tmp_path) == []


def test_an_invalid_batch_writes_nothing_at_all(tmp_path):
    """The bad row is in the second day's partition: the first day's segment must not be written either."""
    rows = container_rows("node-a", T0 + timedelta(hours=23), 120)
    rows[-1]["cpu_cores"] = float("nan")
    with pytest.raises(DataError) as err:
        DatasetWriter(str(tmp_path)).write("container", table("container", rows))
    assert str(err.value) == (f"{tmp_path}/container: column 'cpu_cores': 1 NaN value(s); "
                              "missing values must be null")
    assert _all_files(tmp_path) == []


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: r.update(node="Bad Node/.."), "column 'node': 'Bad Node/..' is not a valid node name"),
    (lambda r: r.update(mem_bytes=-1), "column 'mem_bytes': negative value -1"),
    (lambda r: r.pop("pod"), "column 'pod': missing (required by dataset format v1)"),
])
def test_the_writer_rejects_what_the_reader_would_reject(tmp_path, mutate, message):
    rows = container_rows("node-a", T0, 3)
    for r in rows:
        mutate(r)
    columns = {k: [r.get(k) for r in rows] for k in rows[0]}
    with pytest.raises(UserError) as err:
        DatasetWriter(str(tmp_path)).write("container", columns)
    assert str(err.value) == f"{tmp_path}/container: {message}"
    assert _all_files(tmp_path) == []


def test_segment_names_cannot_hide_or_escape(tmp_path):
    data = table("container", container_rows("node-a", T0, 3))
    for bad in (".hidden", "_meta", "../x", "a/b"):
        with pytest.raises(UserError, match="segment name"):
            DatasetWriter(str(tmp_path)).write("container", data, segment=bad)
    # A fixed name is idempotent: writing the same segment twice replaces it (safe upload retries).
    writer = DatasetWriter(str(tmp_path))
    assert writer.write("container", data, segment="agent-1") == writer.write("container", data, segment="agent-1")
    assert Dataset(str(tmp_path)).read("container").num_rows == 3


def test_s3_segments_are_single_puts_with_no_temporary_objects(s3):
    writer = DatasetWriter("s3://rightsizer-test/ds", s3_client=s3)
    calls = []
    original = s3.put_object

    def counting_put(**kwargs):
        calls.append(kwargs["Key"])
        return original(**kwargs)

    s3.put_object = counting_put
    paths = writer.write("container", table("container", container_rows("node-a", T0 + timedelta(hours=23), 120)))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="rightsizer-test")["Contents"]]
    assert sorted(calls) == sorted(keys) == sorted(p.split("/", 1)[1] for p in paths) and len(keys) == 2
    assert Dataset("s3://rightsizer-test/ds", s3_client=s3).read("container").num_rows == 120


def test_empty_input_writes_nothing(tmp_path):
    assert DatasetWriter(str(tmp_path)).write("gpu", SCHEMAS["gpu"].empty_table()) == []
    assert _all_files(tmp_path) == []

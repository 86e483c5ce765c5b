"""Partition pruning by date and node, and the [start, end) time filter, against hand-computed answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow.dataset as ds
import pytest

from store.errors import DataError, UserError
from store.reader import Dataset, parse_time
from store.writer import DatasetWriter
from tests.store.rows import T0, container_rows, table

NODES = ("node-a", "node-b", "node-c")


@pytest.fixture
def three_days(tmp_path):
    """Three days x three nodes, one sample per hour (72 rows per node)."""
    rows = []
    for node in NODES:
        rows += container_rows(node, T0, 72, interval_s=3600)
    DatasetWriter(str(tmp_path)).write("container", table("container", rows))
    return Dataset(str(tmp_path))


def _keys(frags):
    return sorted((ds.get_partition_keys(f.partition_expression)["date"],
                   ds.get_partition_keys(f.partition_expression)["node"]) for f in frags)


def test_fragments_are_pruned_by_date_and_node(three_days):
    frags = three_days.fragments("container", T0 + timedelta(days=1, hours=5), T0 + timedelta(days=2, hours=1),
                                 nodes=["node-b", "node-c"])
    assert _keys(frags) == [("2026-01-06", "node-b"), ("2026-01-06", "node-c"),
                            ("2026-01-07", "node-b"), ("2026-01-07", "node-c")]
    assert len(three_days.fragments("container")) == 9


def test_an_end_at_midnight_does_not_touch_the_next_day(three_days):
    frags = three_days.fragments("container", None, T0 + timedelta(days=1))
    assert _keys(frags) == [("2026-01-05", n) for n in NODES]


def test_time_filter_includes_start_and_excludes_end(three_days):
    start, end = T0 + timedelta(hours=10), T0 + timedelta(hours=30)
    data = three_days.read("container", start, end, nodes=["node-a"])
    ts = data.column("ts").to_pylist()
    assert ts[0] == start and ts[-1] == end - timedelta(hours=1) and len(ts) == 20
    assert set(data.column("node").to_pylist()) == {"node-a"}


def test_pruned_partitions_are_never_opened(three_days, tmp_path):
    bad = tmp_path / "container" / "date=2026-01-07" / "node=node-a" / "broken.parquet"
    bad.write_bytes(b"not parquet at all")
    assert three_days.read("container", None, T0 + timedelta(days=2)).num_rows == 2 * 24 * 3
    assert three_days.read("container", nodes=["node-b"]).num_rows == 72
    with pytest.raises(DataError, match="broken.parquet"):
        three_days.read("container")


def test_iter_partitions_streams_one_date_node_at_a_time_in_order(three_days):
    parts = list(three_days.iter_partitions("container", columns=["ts", "cpu_cores"]))
    assert [(p.date, p.node) for p in parts] == [(d, n) for d in ("2026-01-05", "2026-01-06", "2026-01-07")
                                                 for n in NODES]
    assert all(p.data.num_rows == 24 and p.data.column_names == ["ts", "cpu_cores"] for p in parts)


def test_time_range_and_unknown_columns(three_days):
    assert three_days.time_range("container") == (T0, T0 + timedelta(hours=71))
    assert three_days.time_range("gpu") is None
    assert three_days.read("gpu").num_rows == 0
    with pytest.raises(UserError, match="table 'container' has no column 'gpu_util'"):
        three_days.read("container", columns=["ts", "gpu_util"])


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-05", T0),
    ("2026-01-05T12:30Z", T0 + timedelta(hours=12, minutes=30)),
    ("2026-01-05T14:30:00+02:00", T0 + timedelta(hours=12, minutes=30)),
])
def test_parse_time_gives_aware_utc(text, expected):
    parsed = parse_time(text)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)


def test_parse_time_rejects_garbage_in_one_line():
    with pytest.raises(UserError) as err:
        parse_time("yesterday", "start")
    assert str(err.value) == "--start: 'yesterday' is not an ISO 8601 time (e.g. 2026-01-05 or 2026-01-05T12:00Z)"
    assert parse_time(datetime(2026, 1, 5)) == T0

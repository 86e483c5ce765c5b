"""Property: any rows, written in any batches, read back complete and filtered exactly like a reference."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.reader import Dataset
from store.writer import DatasetWriter
from tests.store.rows import T0, sort_rows, table

MINUTES = 3 * 24 * 60  # rows fall anywhere in three days, so batches span several date partitions

row = st.fixed_dictionaries({
    "ts": st.integers(0, MINUTES * 60 * 1000 - 1).map(lambda ms: T0 + timedelta(milliseconds=ms)),
    "node": st.sampled_from(["ip-10-0-1-1.ec2.internal", "node-b", "gpu-0"]),
    "interval_s": st.sampled_from([1.0, 10.0, 60.0]),
    "namespace": st.sampled_from(["ml", "web"]),
    "pod": st.text("abcdef-0123", min_size=1, max_size=8),
    "container": st.just("main"),
    "cpu_cores": st.none() | st.floats(0, 512, width=32),
    "mem_bytes": st.none() | st.integers(0, 2**40),
})


def _sample_key(r: dict) -> tuple:
    return r["ts"], r["node"], r["namespace"], r["pod"], r["container"]


# Distinct samples (one row per key: a repeated key is an integrity problem, tested in test_integrity.py),
# split into 1-4 batches.
_batches = st.lists(row, min_size=1, max_size=60, unique_by=_sample_key).flatmap(
    lambda rows: st.lists(st.integers(0, len(rows)), min_size=0, max_size=3).map(
        lambda cuts: [b for b in (rows[a:z] for a, z in zip([0, *sorted(cuts)], [*sorted(cuts), len(rows)],
                                                                strict=True)) if b]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches, window=st.tuples(st.integers(0, MINUTES), st.integers(0, MINUTES)))
def test_round_trip_preserves_every_row_and_filters_like_a_reference(tmp_path_factory, batches, window):
    root = str(tmp_path_factory.mktemp("prop") / uuid.uuid4().hex)
    writer = DatasetWriter(root)
    for batch in batches:
        writer.write("container", table("container", batch))
    everything = [r for batch in batches for r in batch]
    dataset = Dataset(root)
    assert sort_rows(dataset.read("container")) == sort_rows(table("container", everything))

    start, end = (T0 + timedelta(minutes=m) for m in sorted(window))
    expected = [r for r in everything if start <= r["ts"] < end]
    assert sort_rows(dataset.read("container", start, end)) == sort_rows(table("container", expected))
    # Every partition holds only its own date and node.
    for part in dataset.iter_partitions("container"):
        rows = part.data.to_pylist()
        assert {r["node"] for r in rows} == {part.node}
        assert {r["ts"].strftime("%Y-%m-%d") for r in rows} == {part.date}

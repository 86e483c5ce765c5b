"""The one uptime rule: how long a node ran is the union of its sample intervals ``(ts - interval_s, ts]``
over every sample table, overlapping intervals counted once (also across midnight). The allocation
charges a node for these hours; the observed cluster reports them (``NodeInfo.seconds``)."""

from __future__ import annotations

import numpy as np


def covered_runs(ts_ms: np.ndarray, interval_s: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """One partition's sample intervals as disjoint covered runs (start and end arrays, ms): a few per
    node-day, so the union with the other tables and dates can wait until the end."""
    if len(ts_ms) == 0:
        return None
    ends = np.asarray(ts_ms, dtype=np.int64)
    lengths = np.round(np.asarray(interval_s, dtype=float) * 1000).astype(np.int64)
    # Many rows share an instant: keep one interval per distinct end, the longest (it covers the others).
    if len(ends) > 1 and bool(np.all(ends[1:] >= ends[:-1])):
        # the agent writes rows in time order: the distinct ends without a sort
        at = np.flatnonzero(np.concatenate([[True], ends[1:] != ends[:-1]]))
        ends, longest = ends[at], np.maximum.reduceat(lengths, at)
    else:
        # other writers put a partition's rows in a few time-ordered runs (device after device): a stable
        # sort merges them (timsort), where np.unique would sort every row from scratch
        order = np.argsort(ends, kind="stable")
        ends, lengths = ends[order], lengths[order]
        at = np.flatnonzero(np.concatenate([[True], ends[1:] != ends[:-1]]))
        ends, longest = ends[at], np.maximum.reduceat(lengths, at)
    starts = ends - longest
    order = np.lexsort((ends, starts))
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    idx = np.flatnonzero(np.concatenate([[True], starts[1:] > reach[:-1]]))
    return starts[idx], np.maximum.reduceat(ends, idx)


def partition_runs(table) -> tuple[np.ndarray, np.ndarray] | None:
    """``covered_runs`` of one partition's rows (a pyarrow table with ``ts`` and ``interval_s``), computed
    once per table: the observed cluster and the allocation are handed the same partition."""
    if table.num_rows == 0:
        return None
    import pyarrow as pa

    from optimizer.scan import per_table

    return per_table(table, "covered runs", lambda: covered_runs(table.column("ts").cast(pa.int64()).to_numpy(),
                                                                 table.column("interval_s").to_numpy()))


def union_ms(starts: np.ndarray, ends: np.ndarray, carried_end: int | None):
    """Covered seconds of the union of [start, end) runs, less what lies before ``carried_end`` (the
    previous date's reach): (seconds, first start, last end, new carried end)."""
    order = np.lexsort((ends, starts))
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    prev = np.concatenate([[np.iinfo(np.int64).min], reach[:-1]])
    if carried_end is not None:
        prev = np.maximum(prev, carried_end)
    covered = np.clip(ends - np.maximum(starts, prev), 0, None)
    return float(covered.sum()) / 1000.0, int(starts[0]), int(reach[-1]), int(max(reach[-1], carried_end or 0))


def covered_seconds(runs_by_date: dict[str, list]) -> float:
    """A node's total covered seconds from its runs per date (``covered_runs`` of each partition)."""
    total, carried = 0.0, None
    for date in sorted(runs_by_date):
        starts = np.concatenate([r[0] for r in runs_by_date[date]])
        ends = np.concatenate([r[1] for r in runs_by_date[date]])
        seconds, _, _, carried = union_ms(starts, ends, carried)
        total += seconds
    return total

"""Checks for data that passes the v1 schema but would still give wrong numbers (docs/data-format.md,
"Integrity checks"). Every reader of a ``Dataset`` runs them; what they find is kept in the dataset's
``IntegrityLog``, which ``rightsizer validate`` prints and ``rightsizer recommend`` turns into notes.

- **Repeated rows.** Two rows with the same key (``KEY_COLUMNS``: the sample time and what was sampled)
  and the same values are one sample written twice (a segment retried after its upload did succeed, a
  file copied under a second name): the later copy is ignored and counted. The same key with different
  values is a contradiction no reader can settle: a ``DataError`` naming the file(s) and the key.
- **Clock skew.** The dates of the sample partitions are split into blocks wherever no node sampled
  for more than ``SKEW_GAP_DAYS``; every block but the main one (the largest, preferring blocks not in
  the future) is left out of the analysis window with a count per node, instead of stretching the window
  (one node ten years ahead made every node cost a tenth of its price per month).
- **Samples of pods the pods table does not know** are counted (``orphan_pods``): their workload, labels
  and requests are unknown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.errors import DataError

# What one row is a sample of. Two rows with the same key are the same sample.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "gpu": ("ts", "gpu_uuid", "namespace", "pod", "container"),
    "container": ("ts", "namespace", "pod", "container"),
    "pods": ("ts", "namespace", "pod", "container"),
    "nodes": ("ts", "node"),
    "autoscalers": ("ts", "namespace", "autoscaler_kind", "autoscaler_name"),
    "tokens": ("ts", "namespace", "pod", "server", "model"),
}
# String columns read dictionary-encoded: their codes make a row key without hashing strings.
DICTIONARY_COLUMNS = sorted({c for cols in KEY_COLUMNS.values() for c in cols if c != "ts"})
# A block of sample dates more than this many days away from every other date is a skewed clock.
SKEW_GAP_DAYS = 7
# A block starting later than this many days after today (UTC) is in the future.
FUTURE_DAYS = 1


@dataclass
class SkewedNode:
    node: str
    partitions: int = 0
    rows: int = 0
    first_date: str | None = None
    last_date: str | None = None


@dataclass
class IntegrityLog:
    """What the readers of one dataset found; filled while reading (thread-safe), read at the end."""

    duplicate_rows: dict[str, int] = field(default_factory=dict)           # path -> rows ignored
    duplicate_tables: dict[str, str] = field(default_factory=dict)         # path -> table
    skewed: dict[str, SkewedNode] = field(default_factory=dict)            # node -> what was left out
    window_dates: tuple[str, str] | None = None                            # the main block when skew was found
    sample_pods: set[tuple[str, str]] = field(default_factory=set)
    table_pods: set[tuple[str, str]] = field(default_factory=set)
    pods_read: bool = False
    _seen_pods: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_duplicates(self, table: str, path: str, rows: int) -> None:
        with self._lock:
            self.duplicate_rows[path] = rows  # the same file read again counts once
            self.duplicate_tables[path] = table

    def record_pods(self, table: str, path: str | list[str], data: pa.Table) -> None:
        """The (namespace, pod) pairs of ``data``, the rows of the file ``path`` (or of the files ``path``
        lists, read as one batch); files already recorded are not counted again."""
        if "namespace" not in data.column_names or "pod" not in data.column_names:
            return
        paths = [path] if isinstance(path, str) else path
        with self._lock:
            if all(p in self._seen_pods for p in paths):
                return
            self._seen_pods.update(paths)
        pairs = _distinct_pairs(data)
        with self._lock:
            if table == "pods":
                self.pods_read = True
                self.table_pods |= pairs
            else:
                self.sample_pods |= pairs

    @property
    def orphan_pods(self) -> list[tuple[str, str]]:
        """Pods with samples but no row in the pods table (only known once the pods table was read)."""
        return sorted(self.sample_pods - self.table_pods) if self.pods_read else []

    def duplicates_by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for path, rows in self.duplicate_rows.items():
            if rows:
                out[self.duplicate_tables[path]] = out.get(self.duplicate_tables[path], 0) + rows
        return dict(sorted(out.items()))

    def notes(self) -> list[str]:
        """One sentence per finding, for the recommendations' and the report's notes."""
        out = []
        dups = self.duplicates_by_table()
        if dups:
            files = sorted(p for p, n in self.duplicate_rows.items() if n)
            what = ", ".join(f"{n:,} {t}" for t, n in dups.items())
            out.append(f"{what} row(s) repeated rows already read (same sample, same values) and were counted once "
                       f"(in {len(files)} file(s), e.g. {files[0]})")
        if self.skewed:
            lo, hi = self.window_dates or ("?", "?")
            for s in sorted(self.skewed.values(), key=lambda s: s.node):
                out.append(f"node {s.node}: {s.rows:,} sample row(s) dated {s.first_date} to {s.last_date} lie far "
                           f"outside the other nodes' dates ({lo} to {hi}), a skewed clock; they were left out "
                           "of the window")
        orphans = self.orphan_pods
        if orphans:
            ns, pod = orphans[0]
            out.append(f"{len(orphans)} pod(s) have samples but no row in the pods table (e.g. {ns}/{pod}): their "
                       "workload, labels and requests are unknown")
        return out

    def to_json_dict(self) -> dict:
        return {
            "duplicate_rows": self.duplicates_by_table(),
            "duplicate_files": sorted(p for p, n in self.duplicate_rows.items() if n),
            "skewed_nodes": [vars(s) for s in sorted(self.skewed.values(), key=lambda s: s.node)],
            "window_dates": list(self.window_dates) if self.window_dates else None,
            "orphan_pods": len(self.orphan_pods),
        }


# -- repeated rows ---------------------------------------------------------------------------------

def row_codes(table: str, data: pa.Table) -> np.ndarray | None:
    """One int64 per row, equal exactly when the rows' keys are equal (``KEY_COLUMNS``), or None when
    the key columns were not read. Dictionary-encoded columns give their codes for free."""
    cols = KEY_COLUMNS[table]
    names = set(data.column_names)  # a new list on every access
    if any(c not in names for c in cols):
        return None
    ts = data.column("ts").cast(pa.int64()).to_numpy()
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    code = np.zeros(len(ts), dtype=np.int64)
    space = 1
    for name in cols[1:]:
        column = data.column(name)
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        combined = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        card = len(combined.dictionary) + 1  # + null
        indices = combined.indices.fill_null(card - 1) if combined.null_count else combined.indices
        idx = indices.to_numpy(zero_copy_only=False).astype(np.int64)
        space *= card
        if space >= 2**40:
            return _hashed_codes(data, cols)
        code = code * card + idx
    lo = int(ts.min())
    span = int(ts.max()) - lo + 1
    if span * space >= 2**62:
        return _hashed_codes(data, cols)
    return (ts - lo) * space + code  # time-major: rows in time order give increasing codes


def _hashed_codes(data: pa.Table, cols) -> np.ndarray:
    """Exact codes through a group-by (slower; only for keys too wide to pack into 62 bits)."""
    t = data.select(list(cols)).append_column("_row", pa.array(np.arange(data.num_rows)))
    groups = t.group_by(list(cols), use_threads=False).aggregate([("_row", "list")])
    code = np.empty(data.num_rows, dtype=np.int64)
    for k, rows in enumerate(groups.column("_row_list").to_pylist()):
        code[rows] = k
    return code


def repeated_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier): positions of rows whose key an earlier row has, and of that earlier row."""
    if len(codes) < 2 or bool(np.all(codes[1:] > codes[:-1])):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    same = codes[order][1:] == codes[order][:-1]
    return order[1:][same], order[:-1][same]


def check_repeats(table: str, data: pa.Table, later: np.ndarray, earlier: np.ndarray, where_later: str,
                  where_earlier: str | None = None, earlier_data: pa.Table | None = None) -> None:
    """Raise ``DataError`` when a repeated key carries different values in any column read."""
    if not len(later):
        return
    a = data.take(pa.array(later))
    b = (earlier_data if earlier_data is not None else data).take(pa.array(earlier))
    for name in a.column_names:
        if name not in b.column_names:
            continue
        x, y = a.column(name), b.column(name)
        if pa.types.is_dictionary(x.type):
            x = x.cast(x.type.value_type)
        if pa.types.is_dictionary(y.type):
            y = y.cast(y.type.value_type)
        differ = pc.fill_null(pc.not_equal(x, y), False)
        differ = pc.or_(differ, pc.xor(pc.is_null(x), pc.is_null(y)))
        if pc.any(differ).as_py():
            i = int(pc.index(differ, True).as_py())
            key = ", ".join(f"{c}={_show(a.column(c)[i].as_py())}" for c in KEY_COLUMNS[table])
            also = f" and {where_earlier}" if where_earlier and where_earlier != where_later else ""
            raise DataError(where_later, f"two rows for the same sample ({key}){also} differ in this column "
                                         f"({_show(x[i].as_py())} vs {_show(y[i].as_py())}); remove the wrong one",
                            name)


def _show(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return repr(value) if isinstance(value, str) else str(value)


def _distinct_pairs(data: pa.Table) -> set[tuple[str, str]]:
    ns, pod = data.column("namespace"), data.column("pod")
    if ns.num_chunks == 1 and pod.num_chunks == 1 and all(pa.types.is_dictionary(c.type) for c in (ns, pod)):
        # read dictionary-encoded: the distinct pairs of codes, without decoding a string of every row
        ns, pod = ns.chunk(0), pod.chunk(0)
        ni, pi = ((pc.fill_null(c.indices, -1) if c.null_count else c.indices).to_numpy().astype(np.int64)
                  for c in (ns, pod))
        keep = pi >= 0
        code = (ni[keep] + 1) * (len(pod.dictionary) + 1) + pi[keep]
        present = np.zeros((len(ns.dictionary) + 1) * (len(pod.dictionary) + 1), bool)
        present[code] = True  # a presence table over the few codes: no sort of every row's code
        pairs = np.flatnonzero(present)
        names, pods = ns.dictionary.to_pylist(), pod.dictionary.to_pylist()
        return {(names[n - 1] if n else None, pods[p]) for n, p in
                zip(*np.divmod(pairs, len(pod.dictionary) + 1), strict=True)}
    t = data.select(["namespace", "pod"])
    t = pa.table({c: (t.column(c).cast(pa.string()) if pa.types.is_dictionary(t.column(c).type) else t.column(c))
                  for c in t.column_names})
    t = t.filter(pc.is_valid(t.column("pod")))
    if t.num_rows == 0:
        return set()
    g = t.group_by(["namespace", "pod"], use_threads=False).aggregate([])
    return set(zip(g.column("namespace").to_pylist(), g.column("pod").to_pylist(), strict=True))


# -- clock skew ------------------------------------------------------------------------------------

def skewed_partitions(dates_by_node: dict[str, set[str]], today: date | None = None
                      ) -> tuple[set[tuple[str, str]], tuple[str, str] | None]:
    """The (date, node) sample partitions outside the main block of dates, and that block's first and
    last date (None when there is one block: nothing is skewed).

    Blocks: the sorted distinct dates of every node, split where two neighbours are more than
    ``SKEW_GAP_DAYS`` apart. The main block holds the most partitions; blocks starting more than
    ``FUTURE_DAYS`` after today lose to any block that does not (a clock ahead is the usual skew).
    """
    every = sorted({d for dates in dates_by_node.values() for d in dates})
    if len(every) < 2:
        return set(), None
    days = [date.fromisoformat(d) for d in every]
    blocks, start = [], 0
    for i in range(1, len(days)):
        if (days[i] - days[i - 1]).days > SKEW_GAP_DAYS:
            blocks.append((start, i))
            start = i
    blocks.append((start, len(days)))
    if len(blocks) == 1:
        return set(), None
    horizon = (today or datetime.now(UTC).date()) + timedelta(days=FUTURE_DAYS)
    weight = {d: sum(d in dates for dates in dates_by_node.values()) for d in every}

    def rank(block):
        lo, hi = block
        return (days[lo] <= horizon, sum(weight[every[i]] for i in range(lo, hi)), lo)

    lo, hi = max(blocks, key=rank)
    keep = set(every[lo:hi])
    out = {(d, node) for node, dates in dates_by_node.items() for d in dates if d not in keep}
    return out, (every[lo], every[hi - 1])

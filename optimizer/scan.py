"""One read of the dataset per ``recommend`` run.

The sample tables (gpu, container) are read once by the profiles' stream, which hands each partition to
the other consumers of the run as well (``stream.run_local_many(taps=...)``: the observed cluster, the
cost allocation). The change logs (pods, nodes) and the optional autoscalers and tokens tables are small and read whole by several consumers;
``SmallTablesOnce`` reads and validates each of them once and answers every later request from memory.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Future
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.reader import Dataset

SMALL_TABLES = ("pods", "nodes", "autoscalers", "tokens")


class SmallTablesOnce(Dataset):
    """The same dataset, with ``read`` of the pods and nodes tables served from one validated read."""

    def __init__(self, dataset: Dataset):
        self.__dict__.update(dataset.__dict__)
        self._small: dict[str, pa.Table] = {}
        self._reading: dict[tuple, threading.Lock] = {}  # threads asking for one table wait for one read
        self.small_reads = 0  # how often a small table was read from storage (once each)

    def read(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
             columns: list[str] | None = None, nodes: list[str] | None = None,
             keep_dictionary: bool = False) -> pa.Table:
        if table not in SMALL_TABLES or nodes is not None:
            return super().read(table, start, end, columns=columns, nodes=nodes, keep_dictionary=keep_dictionary)
        key = (table, keep_dictionary)
        with self._reading.setdefault(key, threading.Lock()):
            if key not in self._small:
                self._small[key] = super().read(table, keep_dictionary=keep_dictionary)
                self.small_reads += 1
        t = self._small[key]
        if start is not None or end is not None:
            ts = t.column("ts")
            keep = pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)) if start else pc.is_valid(ts),
                           pc.less(ts, pa.scalar(end, ts.type)) if end else pc.is_valid(ts))
            t = t.filter(keep)
        return t.select(columns) if columns is not None else t


def meanwhile(compute) -> Future:
    """``compute()`` on a thread of its own (a daemon: a run that fails before it needs the answer does not
    wait for it); the answer, or the exception, is the future's. The scan's helpers (the change logs, the
    tokens summaries) run this way beside the reading threads."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(compute())
        except BaseException as exc:  # handed to whoever asks for the result
            future.set_exception(exc)

    threading.Thread(target=work, name="meanwhile", daemon=True).start()
    return future


def tap_columns(*tap_types) -> dict[str, list[str]]:
    """The columns ({table: [column, ...]}) that taps of these types read besides the profiles' own (each
    type's ``columns``), for a scan that starts before the taps exist (``run_local_many``'s ``later``)."""
    out: dict[str, list[str]] = {}
    for kind in tap_types:
        for table, cols in kind.columns.items():
            out[table] = list(dict.fromkeys([*out.get(table, []), *cols]))
    return out


# -- dictionary codes of one partition, shared by its consumers ---------------------------------------
_codes_lock = threading.Lock()
_codes_of: dict[int, tuple[weakref.ref, dict]] = {}  # id(table) -> (the table, {column: (codes, values)})


def _forget(key: int):
    def drop(_ref) -> None:
        with _codes_lock:
            _codes_of.pop(key, None)
    return drop


def per_table(table: pa.Table, key: str, compute):
    """``compute()``, once per partition table while it lives: every consumer of one read (both profile
    levels, the observed cluster, the allocation) asks for the same codes and runs, on whichever reading
    thread it runs."""
    ident = id(table)
    with _codes_lock:
        entry = _codes_of.get(ident)
        if entry is None or entry[0]() is not table:
            entry = (weakref.ref(table, _forget(ident)), {})
            _codes_of[ident] = entry
        if key in entry[1]:
            return entry[1][key]
    value = compute()
    with _codes_lock:
        entry[1][key] = value
    return value


def column_codes(table: pa.Table, name: str) -> tuple[np.ndarray, list]:
    """(dictionary code per row, -1 for null; the distinct values, in order of first appearance, or the
    column's own dictionary when it was read dictionary-encoded, which may hold values no row has) of one
    column. The profiles of each entity level, the observed cluster and the allocation all group one
    partition's rows by the same key columns; the strings are hashed once per table while it lives."""
    return per_table(table, "codes:" + name, lambda: dictionary_codes(table.column(name)))


def dictionary_codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list]:
    """(code per row, -1 for null; the distinct values) of one column. A column read dictionary-encoded (the
    reader keeps the Parquet dictionary) gives its codes as they are; values of its dictionary that no row
    has left are never looked up."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
    indices = enc.indices
    codes = (pc.fill_null(indices, -1) if indices.null_count else indices).to_numpy().astype(np.int64)
    return codes, enc.dictionary.to_pylist()

"""One read of the dataset per ``recommend`` run.

The sample tables (gpu, container) are read once by the profiles' stream, which hands each partition to
the other consumers of the run as well (``stream.run_local_many(taps=...)``: the observed cluster, the
cost allocation). The change logs (pods, nodes) and the optional autoscalers and tokens tables are small and read whole by several consumers;
``SmallTablesOnce`` reads and validates each of them once and answers every later request from memory.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from store.reader import Dataset

SMALL_TABLES = ("pods", "nodes", "autoscalers", "tokens")


class SmallTablesOnce(Dataset):
    """The same dataset, with ``read`` of the pods and nodes tables served from one validated read."""

    def __init__(self, dataset: Dataset):
        self.__dict__.update(dataset.__dict__)
        self._small: dict[str, pa.Table] = {}
        self.small_reads = 0  # how often a small table was read from storage (once each)

    def read(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
             columns: list[str] | None = None, nodes: list[str] | None = None) -> pa.Table:
        if table not in SMALL_TABLES or nodes is not None:
            return super().read(table, start, end, columns=columns, nodes=nodes)
        if table not in self._small:
            self._small[table] = super().read(table)
            self.small_reads += 1
        t = self._small[table]
        if start is not None or end is not None:
            ts = t.column("ts")
            keep = pc.and_(pc.greater_equal(ts, pa.scalar(start, ts.type)) if start else pc.is_valid(ts),
                           pc.less(ts, pa.scalar(end, ts.type)) if end else pc.is_valid(ts))
            t = t.filter(keep)
        return t.select(columns) if columns is not None else t

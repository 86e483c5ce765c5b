"""One partition's columns as numpy arrays, and grouping by dense integer codes (no pandas groupby)."""

from __future__ import annotations

import numpy as np

from optimizer.group_kernels import groups_by_key


class Columns:
    """One partition's columns as numpy: numbers as float arrays, strings as dictionary codes (fast to group)."""

    def __init__(self, table):
        import pyarrow as pa

        self.table = table
        self.n = table.num_rows
        self.ts_ms = table.column("ts").cast(pa.int64()).to_numpy() if self.n else np.zeros(0, np.int64)
        self._codes: dict[str, tuple[np.ndarray, list]] = {}

    @property
    def empty(self) -> bool:
        return self.n == 0

    @property
    def ts_codes(self) -> np.ndarray:
        """A dense code per distinct sample time (hash-based: no sort)."""
        if "ts" not in self._codes:
            import pyarrow as pa
            import pyarrow.compute as pc

            ts = self.ts_ms
            if self.n > 1 and bool(np.all(ts[1:] >= ts[:-1])):
                # rows in time order (as the agent writes them): the code is the count of changes so far,
                # which is the order of first appearance, as the hash-based encoding numbers them
                codes = np.concatenate([[0], np.cumsum(ts[1:] != ts[:-1])]).astype(np.int64)
                self._codes["ts"] = (codes, [])
                return codes
            enc = pc.dictionary_encode(pa.array(ts)) if self.n else None
            self._codes["ts"] = (enc.indices.to_numpy().astype(np.int64) if enc is not None
                                 else np.zeros(0, np.int64), [])
        return self._codes["ts"][0]

    def num(self, name: str) -> np.ndarray:
        """Float values, null as NaN."""
        return self.table.column(name).to_numpy().astype(float, copy=False) if self.n else np.zeros(0)

    def codes(self, name: str) -> tuple[np.ndarray, list]:
        """(code per row, -1 for null; the distinct values) via Arrow dictionary encoding."""
        if name not in self._codes:
            from optimizer.scan import column_codes  # shared with the other consumers of the partition

            self._codes[name] = column_codes(self.table, name) if self.n else (np.zeros(0, np.int64), [])
        return self._codes[name]


def group_codes(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows by integer columns (codes, -1 allowed): (group code per row, first row of each group).

    The codes are dense (dictionary indices), so the combined key space is usually small enough to index
    an array directly, which groups in linear time; a sort (np.unique) is the fallback for huge spaces.
    """
    n = len(columns[0])
    combined = np.zeros(n, dtype=np.int64)
    space = 1
    for col in columns:
        col = np.asarray(col, dtype=np.int64)
        lo = int(col.min()) if n else 0
        width = int(col.max()) - lo + 1 if n else 1
        combined = combined * width + (col - lo)
        space *= width
    if n and space <= 4 * n + 1_000_000:
        return groups_by_key(combined, space)
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


def cap_factor(ts_codes: np.ndarray, amount: np.ndarray, capacity: float) -> np.ndarray:
    """Per row: min(1, capacity / sum of amount over rows of the same instant)."""
    if len(ts_codes) == 0:
        return np.ones(0)
    if capacity <= 0:
        return np.zeros(len(ts_codes))
    total = np.bincount(ts_codes, amount)[ts_codes]
    return np.divide(capacity, total, out=np.ones(len(ts_codes)), where=total > capacity)

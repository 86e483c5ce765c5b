"""Matrix results → dense arrays on the chunk's evaluation grid, and small PromQL helpers.

A chunk is evaluated at ``t0, t0+S, ..., t0+(n-1)S``; each series becomes one float64 array of length n
with NaN where the server returned no point (a gap: no row is made there, never a 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from store.schema import TS


@dataclass(frozen=True)
class Grid:
    t0: float  # first evaluation time (s)
    step: float
    n: int

    @property
    def end(self) -> float:
        return self.t0 + (self.n - 1) * self.step

    def ts_ms(self) -> np.ndarray:
        return (np.rint(self.t0 * 1000) + np.arange(self.n, dtype=np.int64) * int(round(self.step * 1000))
                ).astype(np.int64)


@dataclass
class Series:
    labels: dict[str, str]
    values: np.ndarray  # float64[n], NaN = no point


def dense(result: list[dict], grid: Grid) -> list[Series]:
    """Parse a matrix result onto ``grid``. Points off the grid (never sent by a conforming server) are
    dropped; values are strings in the API ("NaN", "+Inf" included); non-finite values count as gaps."""
    out = []
    from importers.prometheus.client import points

    for s in result:
        ts, vs = points(s)
        arr = np.full(grid.n, np.nan)
        if len(ts):
            idx = np.rint((ts - grid.t0) / grid.step).astype(np.int64)
            ok = (idx >= 0) & (idx < grid.n) & np.isfinite(vs)
            arr[idx[ok]] = vs[ok]
        out.append(Series(dict(s.get("metric") or {}), arr))
    return out


def regex_union(values: list[str]) -> str:
    """A PromQL string literal (with quotes) matching exactly these values."""
    body = "|".join(re.escape(v) for v in sorted(values))
    return '"' + body.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strings(codes: np.ndarray, dictionary: list[str | None]) -> pa.Array:
    """A string column from codes into ``dictionary`` (a None entry, or code -1, is null)."""
    codes = np.asarray(codes, dtype=np.int32)
    values = pa.array(dictionary, type=pa.string())
    valid = codes >= 0
    idx = pa.array(np.where(valid, codes, 0), mask=~valid)
    return pa.DictionaryArray.from_arrays(idx, values).cast(pa.string())


def timestamps(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype(np.int64)).view(TS)


class Codes:
    """Assigns small integer codes to strings, for building string columns of many rows at once."""

    def __init__(self):
        self.values: list[str | None] = []
        self._index: dict[str | None, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i

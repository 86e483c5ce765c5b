"""Mergeable, serializable profile state: histograms and accumulators per (entity, metric).

A ``ProfileState`` is what one partition (or any set of rows) contributes; ``merge`` adds another state
so that ``merge(state(A), state(B))`` equals ``state(A ∪ B)``:

* histograms, seconds, weighted sums, sample counts, idle seconds and the hour-of-week sums add;
  maxima take the maximum. Weights are float64 sums of float32 intervals, which are exact (so merge
  order does not change a single bit) for any realistic week of data;
* burst statistics need time order, which a histogram forgets, so the state keeps one small run record
  per (series, metric, partition) -- first/last run and the closed runs in between -- and joins them in
  time order only when statistics are extracted (``run_kernels.fold_runs``). A series is what a run is
  measured on: the pod for workload profiles (pooled over its pods like the histograms), else the entity.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from optimizer.profiles import kernels, run_kernels
from optimizer.profiles.bins import BinScheme

HOURS_PER_WEEK = 168


@dataclass
class MetricState:
    """State of one metric for rows ``0..n-1`` of the owning ProfileState (capacity may be larger)."""

    scheme: BinScheme
    idle_threshold: float | None
    hist: np.ndarray
    sums: np.ndarray
    hour_w: np.ndarray
    hour_vw: np.ndarray
    source_w: np.ndarray  # seconds whose activity came from (sm_active, gpu_util); gpu_activity only

    @classmethod
    def empty(cls, scheme: BinScheme, idle_threshold: float | None, n: int) -> MetricState:
        sums = np.zeros((n, kernels.N_SUMS))
        sums[:, kernels.MIN] = np.inf
        return cls(scheme, idle_threshold, np.zeros((n, scheme.nbins)), sums,
                   np.zeros((n, HOURS_PER_WEEK)), np.zeros((n, HOURS_PER_WEEK)), np.zeros((n, 2)))

    def grow(self, n: int) -> None:
        have = self.hist.shape[0]
        if n <= have:
            return
        cap = max(n, 2 * have, 16)
        for name in ("hist", "sums", "hour_w", "hour_vw", "source_w"):
            old = getattr(self, name)
            new = np.zeros((cap, old.shape[1]), old.dtype)
            if name == "sums":
                new[:, kernels.MIN] = np.inf
            new[:have] = old
            setattr(self, name, new)

    def add_rows(self, rows: np.ndarray, other: MetricState, n_other: int) -> None:
        """Add rows ``0..n_other-1`` of ``other`` into rows ``rows`` (distinct) of this state."""
        self.hist[rows] += other.hist[:n_other]
        mx = np.maximum(self.sums[rows, kernels.MAX], other.sums[:n_other, kernels.MAX])
        mn = np.minimum(self.sums[rows, kernels.MIN], other.sums[:n_other, kernels.MIN])
        self.sums[rows] += other.sums[:n_other]
        self.sums[rows, kernels.MAX] = mx
        self.sums[rows, kernels.MIN] = mn
        self.hour_w[rows] += other.hour_w[:n_other]
        self.hour_vw[rows] += other.hour_vw[:n_other]
        self.source_w[rows] += other.source_w[:n_other]


@dataclass
class RunRecords:
    """Run records of one metric: ``series`` indexes ``ProfileState.series_keys``."""

    series: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    records: np.ndarray = field(default_factory=lambda: np.zeros((0, run_kernels.N_RUN_FIELDS)))


class KeyIndex:
    """Tuple keys <-> dense row numbers; new keys are appended."""

    def __init__(self, keys: list[tuple] | None = None):
        self.keys: list[tuple] = []
        self._index: dict[tuple, int] = {}
        for k in keys or []:
            self.code(k)

    def code(self, key: tuple) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.keys)
            self.keys.append(key)
        return i

    def codes(self, keys: list[tuple]) -> np.ndarray:
        return np.fromiter((self.code(k) for k in keys), np.int64, len(keys))

    def get(self, key: tuple) -> int | None:
        return self._index.get(key)

    def __len__(self) -> int:
        return len(self.keys)


class ProfileState:
    """Profiles of one entity level: rows are entities (``keys``), columns bins/accumulators."""

    def __init__(self, entity: str):
        self.entity = entity
        self.entities = KeyIndex()
        self.series = KeyIndex()
        self.series_entity = np.zeros(0, np.int64)  # series row -> entity row
        self.metrics: dict[str, MetricState] = {}
        self.runs: dict[str, RunRecords] = {}
        self.first_ms: int | None = None  # earliest sample start / latest sample end seen (ms)
        self.last_ms: int | None = None

    # -- building ------------------------------------------------------------------------------
    def metric(self, name: str, scheme: BinScheme, idle_threshold: float | None) -> MetricState:
        m = self.metrics.get(name)
        if m is None:
            m = self.metrics[name] = MetricState.empty(scheme, idle_threshold, len(self.entities))
        m.grow(len(self.entities))
        return m

    def add_series(self, series_keys: list[tuple], entity_keys: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
        """Register series and their entities; returns (series rows, entity rows)."""
        e_rows = self.entities.codes(entity_keys)
        s_rows = self.series.codes(series_keys)
        if len(self.series) > self.series_entity.shape[0]:
            grown = np.zeros(len(self.series), np.int64)
            grown[:self.series_entity.shape[0]] = self.series_entity
            self.series_entity = grown
        self.series_entity[s_rows] = e_rows
        for m in self.metrics.values():
            m.grow(len(self.entities))
        return s_rows, e_rows

    def add_runs(self, metric: str, series_rows: np.ndarray, records: np.ndarray) -> None:
        r = self.runs.setdefault(metric, RunRecords())
        keep = records[:, run_kernels.R_N_RUNS] > 0
        r.series = np.concatenate([r.series, series_rows[keep]])
        r.records = np.concatenate([r.records, records[keep]])

    def note_time(self, first_ms: int, last_ms: int) -> None:
        self.first_ms = first_ms if self.first_ms is None else min(self.first_ms, first_ms)
        self.last_ms = last_ms if self.last_ms is None else max(self.last_ms, last_ms)

    # -- merging -------------------------------------------------------------------------------
    def merge(self, other: ProfileState) -> ProfileState:
        """Add ``other`` into this state (in place) and return self."""
        if other.entity != self.entity:
            raise ValueError(f"cannot merge {other.entity} profiles into {self.entity} profiles")
        e_map = self.entities.codes(other.entities.keys)
        s_map, _ = self.add_series(other.series.keys, [other.entities.keys[i] for i in other.series_entity])
        n = len(other.entities)
        for name, om in other.metrics.items():
            self.metric(name, om.scheme, om.idle_threshold).add_rows(e_map, om, n)
        for name, rr in other.runs.items():
            mine = self.runs.setdefault(name, RunRecords())
            mine.series = np.concatenate([mine.series, s_map[rr.series]])
            mine.records = np.concatenate([mine.records, rr.records])
        if other.first_ms is not None:
            self.note_time(other.first_ms, other.last_ms)
        return self

    # -- serialization (npz) ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"series_entity": self.series_entity[:len(self.series)]}
        meta = {"entity": self.entity, "entities": [list(k) for k in self.entities.keys],
                "series": [list(k) for k in self.series.keys], "first_ms": self.first_ms,
                "last_ms": self.last_ms, "metrics": {}}
        n = len(self.entities)
        for name, m in self.metrics.items():
            meta["metrics"][name] = {"scheme": [m.scheme.name, m.scheme.kind, m.scheme.a, m.scheme.b, m.scheme.c],
                                     "idle_threshold": m.idle_threshold}
            for part in ("hist", "sums", "hour_w", "hour_vw", "source_w"):
                arrays[f"{name}.{part}"] = getattr(m, part)[:n]
        for name, rr in self.runs.items():
            arrays[f"runs.{name}.series"] = rr.series
            arrays[f"runs.{name}.records"] = rr.records
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProfileState:
        from optimizer.profiles.bins import linear_scheme, loglinear_scheme

        z = np.load(io.BytesIO(data))
        meta = json.loads(z["meta"].tobytes())
        st = cls(meta["entity"])
        st.entities = KeyIndex([tuple(k) for k in meta["entities"]])
        st.series = KeyIndex([tuple(k) for k in meta["series"]])
        st.series_entity = z["series_entity"].copy()
        st.first_ms, st.last_ms = meta["first_ms"], meta["last_ms"]
        for name, info in meta["metrics"].items():
            sname, kind, a, b, c = info["scheme"]
            scheme = linear_scheme(sname, int(a)) if kind == 0 else loglinear_scheme(sname, int(a), int(b), int(c))
            st.metrics[name] = MetricState(scheme, info["idle_threshold"],
                                           *(z[f"{name}.{p}"].copy() for p in
                                             ("hist", "sums", "hour_w", "hour_vw", "source_w")))
        for key in z.files:
            if key.startswith("runs.") and key.endswith(".series"):
                name = key[5:-7]
                st.runs[name] = RunRecords(z[key].copy(), z[f"runs.{name}.records"].copy())
        return st

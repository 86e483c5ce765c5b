"""The profiles seam: ``compute_profiles`` -> ``ProfileSet`` of ``MetricStats`` per (entity, metric)."""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import numpy as np

from optimizer.config import DEFAULT_PROFILE_CONFIG, ProfileConfig
from optimizer.profiles import core, kernels, run_kernels
from optimizer.profiles.state import ProfileState
from optimizer.profiles.stream import (
    ACTIVITY_SOURCES,
    ENTITY_KEYS,
    METRICS,
    Settings,
    load_workloads,
    run_local_many,
    tables_for,
)
from optimizer.scan import meanwhile
from store.errors import UserError
from store.reader import Dataset, parse_time

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class MetricStats:
    """Time-weighted statistics of one metric of one entity over the window.

    Percentiles are upper bin edges (never below the exact value, at most one bin above it). ``seconds``
    is the observed time (sum of sample intervals), ``samples`` the number of (series, instant)
    observations. Activity fields (``idle_fraction``, ``duty_cycle``, bursts) are NaN for metrics without
    an idle threshold (bytes). A burst is a run of contiguous active samples of one series.
    """

    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float
    idle_fraction: float
    seconds: float
    samples: int
    duty_cycle: float
    burst_count: int
    mean_burst_s: float
    max_idle_run_s: float


STAT_FIELDS = tuple(f.name for f in fields(MetricStats))


class ProfileSet:
    """Profiles of one entity level over a window (built by ``compute_profiles`` or from a state)."""

    def __init__(self, state: ProfileState, window: tuple[datetime | None, datetime | None] | None = None,
                 config: ProfileConfig = DEFAULT_PROFILE_CONFIG):
        self.entity = state.entity
        self.config = config
        self._state = state
        self._n = len(state.entities)
        observed = (_dt(state.first_ms), _dt(state.last_ms))
        start, end = window or (None, None)
        self.window = (start or observed[0], end or observed[1])
        self._table: dict[str, np.ndarray] = {}
        bursts = self._bursts()
        for name, m in state.metrics.items():
            n = self._n
            sums = m.sums[:n]
            sw = sums[:, kernels.SUM_W]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(sw > 0, sums[:, kernels.SUM_VW] / sw, np.nan)
                idle = np.where(sw > 0, sums[:, kernels.IDLE_W] / sw, np.nan)
            if m.idle_threshold is None:
                idle = np.full(n, np.nan)
            p = core.percentiles(m, n)
            b = bursts.get(name)
            if b is None:
                b = np.full((n, 3), np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_burst = np.where(b[:, 0] > 0, b[:, 1] / b[:, 0], np.where(b[:, 0] == 0, 0.0, np.nan))
            self._table[name] = np.column_stack([
                p, np.where(sums[:, kernels.COUNT] > 0, sums[:, kernels.MAX], np.nan), mean, idle, sw,
                sums[:, kernels.COUNT], 1.0 - idle, b[:, 0], mean_burst, b[:, 2]])

    def _bursts(self) -> dict[str, np.ndarray]:
        st = self._state
        out = {}
        for name, rr in st.runs.items():
            m = st.metrics.get(name)
            if m is None or m.idle_threshold is None:
                continue
            order = np.lexsort((rr.records[:, run_kernels.R_START], rr.series))
            per_series = run_kernels.fold_runs(rr.series[order], rr.records[order], self.config.run_gap_factor,
                                           len(st.series))
            per_entity = np.zeros((self._n, 3))
            ent = st.series_entity[:len(st.series)]
            np.add.at(per_entity[:, 0], ent, per_series[:, 0])
            np.add.at(per_entity[:, 1], ent, per_series[:, 1])
            np.maximum.at(per_entity[:, 2], ent, per_series[:, 2])
            out[name] = per_entity
        return out

    # -- the seam ---------------------------------------------------------------------------------
    @property
    def state(self) -> ProfileState:
        return self._state

    def keys(self) -> list[tuple]:
        return list(self._state.entities.keys)

    def metrics(self) -> list[str]:
        return [m for m in METRICS if m in self._table]

    def stats(self, key: tuple, metric: str) -> MetricStats | None:
        row = self._row(key, metric)
        if row is None:
            return None
        vals = self._table[metric][row]
        kw = {}
        for f, v in zip(STAT_FIELDS, vals, strict=True):
            kw[f] = int(v) if f in ("samples", "burst_count") and not math.isnan(v) else float(v)
        if math.isnan(vals[STAT_FIELDS.index("burst_count")]):
            kw["burst_count"] = 0
        return MetricStats(**kw)

    def hour_of_week(self, key: tuple, metric: str) -> np.ndarray:
        i = self._state.entities.get(tuple(key))
        m = self._state.metrics.get(metric)
        if i is None or m is None:
            return np.full(168, np.nan)
        w = m.hour_w[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(w > 0, m.hour_vw[i] / w, np.nan)

    def histogram(self, key: tuple, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(upper edges, seconds) per bin; bin i holds values above edges[i-1] up to edges[i]."""
        m = self._state.metrics.get(metric)
        i = self._state.entities.get(tuple(key))
        if m is None or i is None:
            raise KeyError((key, metric))
        return m.scheme.upper_edges.copy(), m.hist[i].copy()

    def activity_source(self, key: tuple) -> str | None:
        """Which metric gpu_activity used for this entity: sm_active, gpu_util, mixed, or None (no GPU data)."""
        m = self._state.metrics.get("gpu_activity")
        i = self._state.entities.get(tuple(key))
        if m is None or i is None:
            return None
        used = [src for src, sec in zip(ACTIVITY_SOURCES, m.source_w[i], strict=True) if sec > 0]
        if not used:
            n = m.sums[i, kernels.COUNT]
            return None if n == 0 else "gpu_util"
        return used[0] if len(used) == 1 else "mixed"

    def to_frame(self):
        """One row per (entity, metric) with data: key columns, metric, the MetricStats fields, activity_source."""
        import pandas as pd

        key_names = ENTITY_KEYS[self.entity]
        rows = []
        keys = self._state.entities.keys
        for metric in self.metrics():
            table = self._table[metric]
            for i in np.flatnonzero(table[:, STAT_FIELDS.index("samples")] > 0):
                rows.append((*keys[i], metric, *table[i],
                             self.activity_source(keys[i]) if metric == "gpu_activity" else None))
        cols = [*key_names, "metric", *STAT_FIELDS, "activity_source"]
        frame = pd.DataFrame(rows, columns=cols)
        frame["samples"] = frame["samples"].astype("int64")
        frame["burst_count"] = frame["burst_count"].astype("Float64").round().astype("Int64")
        return frame

    def _row(self, key: tuple, metric: str) -> int | None:
        i = self._state.entities.get(tuple(key))
        table = self._table.get(metric)
        if i is None or table is None or table[i, STAT_FIELDS.index("samples")] == 0:
            return None
        return i


def compute_profiles(data: str | Dataset, *, start=None, end=None, entity: str = "workload",
                     threads: int | None = None, engine: str = "local", scheduler: str | None = None,
                     progress: bool | object = False, config: ProfileConfig = DEFAULT_PROFILE_CONFIG) -> ProfileSet:
    """Profiles of every ``entity`` in ``data`` between ``start`` (inclusive) and ``end`` (exclusive).

    ``progress`` is False, True (a rich progress bar on stderr) or an object with ``start(total)`` and
    ``advance(label)``. ``engine="dask"`` runs the partitions on a dask.distributed cluster
    (``scheduler`` address, or a local cluster when None).
    """
    return compute_profiles_many(data, entities=(entity,), start=start, end=end, threads=threads, engine=engine,
                                 scheduler=scheduler, progress=progress, config=config)[entity]


def compute_profiles_many(data: str | Dataset, *, entities: tuple[str, ...] | list[str], start=None, end=None,
                          threads: int | None = None, engine: str = "local", scheduler: str | None = None,
                          progress: bool | object = False,
                          config: ProfileConfig = DEFAULT_PROFILE_CONFIG, taps: tuple = (),
                          owners: dict | None = None,
                          tables: dict[str, tuple[str, ...]] | None = None, later: Future | None = None,
                          later_columns: dict[str, list[str]] | None = None) -> dict[str, ProfileSet]:
    """``compute_profiles`` for several entity levels at once: {entity: ProfileSet}, each identical to its
    own ``compute_profiles`` call. The local engine reads every partition once for all of them, and
    hands each partition it read to the ``taps`` too (``stream.run_local_many``); with the Dask engine
    the taps get their partitions from a second, local read. ``owners`` ((namespace, pod) -> workload
    key, the observed cluster's ``pod_workload``) saves reading the pods table for it again. ``tables``
    ({entity: sample tables}) limits a level to the metrics of some tables: a level left out reads all it
    can (``stream.tables_for``); ``{"container": ("container",)}`` gives container profiles of CPU and
    memory only, without the GPU metrics per container. ``later`` and ``later_columns``: the owners and
    taps still being read from the change logs when the scan starts (``stream.run_local_many``); without
    ``owners`` or ``later``, the workload level's owners are read from the pods table beside the scan."""
    dataset = data if isinstance(data, Dataset) else Dataset(data)
    start, end = parse_time(start, "start"), parse_time(end, "end")
    if start and end and start >= end:
        raise UserError(f"--start ({start.isoformat()}) must be before --end ({end.isoformat()})")
    entities = list(dict.fromkeys(entities))
    for entity in entities:
        if entity not in ENTITY_KEYS:
            raise UserError(f"--entity: '{entity}' is not one of {', '.join(ENTITY_KEYS)}")
    if engine not in ENGINES:
        raise UserError(f"--engine: '{engine}' is not one of {', '.join(ENGINES)}")
    for entity, wanted in (tables or {}).items():
        bad = [t for t in wanted if t not in tables_for(entity)]
        if entity not in entities or bad or not wanted:
            raise ValueError(f"compute_profiles_many: tables {wanted!r} for entity {entity!r}")
    if engine == "dask" and later is not None:  # the Dask workers get the settings whole
        owners_read, more = later.result()
        owners, taps, later = owners if owners_read is None else owners_read, (*taps, *more), None
    workloads: dict = {}
    if "workload" in entities and owners is not None:
        workloads = dict(owners)
    elif "workload" in entities and later is None and engine == "dask":  # its workers get the map whole
        workloads = load_workloads(dataset)
    elif "workload" in entities and later is None:
        # the pods table is read on a thread of its own while the local engine reads the first partitions
        later = meanwhile(lambda: (load_workloads(dataset), ()))
    settings = [Settings(entity, config, workloads if entity == "workload" else {}, start, end,
                         tuple((tables or {}).get(entity, ()))) for entity in entities]
    nthreads = core.resolve_threads(threads)
    bar = _progress(progress)
    try:
        if engine == "dask":
            from optimizer.profiles.dask_engine import run_dask

            states = [run_dask(dataset, s, scheduler=scheduler, progress=bar) for s in settings]
            if taps:
                run_local_many(dataset, [Settings("gpu", config, {}, start, end)], nthreads, taps=taps)
        else:
            states = run_local_many(dataset, settings, nthreads, progress=bar, taps=taps, later=later,
                                    later_columns=later_columns)
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    return {s.entity: ProfileSet(st, (start, end), config) for s, st in zip(settings, states, strict=True)}


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


class _RichProgress:
    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("profiling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TextColumn("{task.description}"), transient=True)
        self._task = None

    def start(self, total: int) -> None:
        self._p.start()
        self._task = self._p.add_task("", total=total)

    def advance(self, label: str) -> None:
        self._p.update(self._task, advance=1, description=label)

    def close(self) -> None:
        self._p.stop()


def _progress(progress):
    if progress is True:
        return _RichProgress()
    return progress or None

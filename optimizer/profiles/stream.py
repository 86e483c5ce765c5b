"""Stream a v1 dataset partition by partition into a ProfileState.

Per partition (one ``table/date=/node=`` folder, so at most one node-day in memory):

1. rows get a *series* key (the unit a metric is measured on: the pod for workload and pod profiles,
   the container, the GPU device, the node) and a local code from pyarrow dictionary encoding;
2. rows of one series at one timestamp are combined first -- GPU memory summed over the pod's GPUs,
   utilization / SM activity averaged over them, CPU and memory summed over containers -- because a
   time-weighted percentile of a pod is a percentile of its per-instant totals, not of the parts;
3. the per-instant rows are histogrammed by entity (``core.build_sorted``), run records are taken per series,
   and the partition's state is merged into the running state (keys go through one dictionary shared
   across partitions, ``ProfileState.entities``).

Everything a partition produces depends on that partition only, which is what lets the Dask engine run
``partition_state`` on workers and merge the results.
"""

from __future__ import annotations

import threading
import zoneinfo
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.config import ProfileConfig
from optimizer.group_kernels import groups_by_key
from optimizer.profiles import core, instant_kernels, run_kernels
from optimizer.profiles.bins import Schemes, schemes
from optimizer.profiles.state import ProfileState
from store.errors import UserError
from store.reader import Dataset

ENTITIES = ("workload", "pod", "container", "gpu", "node")
ENTITY_KEYS = {
    "workload": ("namespace", "kind", "name"),
    "pod": ("namespace", "pod"),
    "container": ("namespace", "pod", "container"),
    "gpu": ("node", "gpu_uuid"),
    "node": ("node",),
}
GPU_METRICS = ("gpu_util", "sm_active", "gpu_activity", "gpu_mem_bytes")
CONTAINER_METRICS = ("cpu_cores", "mem_bytes")
METRICS = GPU_METRICS + CONTAINER_METRICS
ACTIVITY_SOURCES = ("sm_active", "gpu_util")
GPU_COLUMNS = ["ts", "node", "interval_s", "gpu_uuid", "namespace", "pod", "container", "gpu_util",
               "sm_active", "mem_used_bytes"]
CONTAINER_COLUMNS = ["ts", "node", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes"]
# Series key columns per (table, entity); None = the table says nothing about that entity.
SERIES = {
    ("gpu", "workload"): ("namespace", "pod"), ("gpu", "pod"): ("namespace", "pod"),
    ("gpu", "container"): ("namespace", "pod", "container"), ("gpu", "gpu"): ("node", "gpu_uuid"),
    ("gpu", "node"): ("node", "gpu_uuid"),  # per GPU first, then averaged / summed per node
    ("container", "workload"): ("namespace", "pod"), ("container", "pod"): ("namespace", "pod"),
    ("container", "container"): ("namespace", "pod", "container"), ("container", "node"): ("node",),
}


@dataclass(frozen=True)
class Settings:
    """Everything a partition needs besides its rows (picklable, sent to Dask workers)."""

    entity: str
    config: ProfileConfig
    workloads: dict[tuple[str, str], tuple[str, str, str]]  # (namespace, pod) -> workload key
    start: datetime | None = None
    end: datetime | None = None
    tables: tuple[str, ...] = ()  # the sample tables this level reads; () = all it can (tables_for)

    def reads(self, table: str) -> bool:
        return table in (self.tables or tables_for(self.entity))

    def metric_args(self, sch: Schemes) -> dict:
        util = (sch.utilization, self.config.idle_threshold)
        return {"gpu_util": util, "sm_active": util, "gpu_activity": util, "gpu_mem_bytes": (sch.bytes, None),
                "cpu_cores": (sch.cores, self.config.cpu_idle_threshold_cores), "mem_bytes": (sch.bytes, None)}


def tables_for(entity: str) -> list[str]:
    if entity not in ENTITIES:
        raise UserError(f"--entity: '{entity}' is not one of {', '.join(ENTITIES)}")
    return ["gpu"] if entity == "gpu" else ["gpu", "container"]


def load_workloads(dataset: Dataset) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(namespace, pod) -> (namespace, workload_kind, workload_name) from the pods change log."""
    mapping: dict[tuple[str, str], tuple[str, str, str]] = {}
    # A pod's owner never changes; the latest row wins only for data that says otherwise.
    t = dataset.read("pods", columns=["ts", "namespace", "pod", "workload_kind", "workload_name"]).sort_by("ts")
    for ns, pod, kind, name in zip(*(t.column(c).to_pylist() for c in
                                     ("namespace", "pod", "workload_kind", "workload_name")), strict=True):
        mapping[(ns, pod)] = (ns, kind, name)
    return mapping


def partition_fragments(dataset: Dataset, table: str, start=None, end=None, nodes=None) -> dict[tuple, list]:
    """{(date, node): [fragments]} of ``table`` for partitions that can hold rows in [start, end), sorted."""
    return dict(dataset.partition_groups(table, start, end, nodes))


def list_partitions(dataset: Dataset, table: str, start=None, end=None) -> list[tuple[str, str]]:
    return list(partition_fragments(dataset, table, start, end))


def read_fragments(dataset: Dataset, table: str, frags: list, start=None, end=None,
                   extra: tuple[str, ...] = ()) -> pa.Table:
    """The validated rows of one partition, only the columns profiles use (plus ``extra`` ones)."""
    columns = GPU_COLUMNS if table == "gpu" else CONTAINER_COLUMNS
    columns = columns + [c for c in extra if c not in columns]
    # key strings stay dictionary-encoded: every consumer groups by their codes (optimizer.scan.column_codes)
    parts = [dataset.read_fragment(table, f, start, end, columns=columns, keep_dictionary=True) for f in frags]
    if len({p.schema for p in parts}) > 1:  # segments written by other tools: one type per column first
        parts = [p.cast(pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type,
                                            f.nullable) for f in p.schema])) for p in parts]
    return pa.concat_tables(parts) if parts else pa.schema([]).empty_table()


def read_partition(dataset: Dataset, table: str, date: str, node: str, start=None, end=None) -> pa.Table:
    frags = partition_fragments(dataset, table, start, end, nodes=[node]).get((date, node), [])
    return read_fragments(dataset, table, frags, start, end)


# -- the local engine ----------------------------------------------------------------------------------
def run_local_many(dataset: Dataset, settings: list[Settings], nthreads: int, progress=None,
                   taps: tuple = (), later: Future | None = None,
                   later_columns: dict[str, list[str]] | None = None) -> list[ProfileState]:
    """One ProfileState per ``settings`` (entity levels over one window), from a single read of the data.

    ``taps`` are other consumers of the same read (the observed cluster, the cost allocation): objects with
    ``columns`` ({table: [column, ...]}, read besides the profiles' own), ``prepare(table, date, node,
    data)``, called on the reading threads (it must not touch the tap's state) and ``merge(prepared)``,
    called on this thread in the merge order, so each tap sees each partition once, in order, and its
    result does not depend on the thread count.

    Partitions are read and aggregated on ``nthreads`` threads (pyarrow and the kernels release the
    GIL), at most ``nthreads + 1`` ahead of the merge, so memory stays bounded by a few partitions; the
    merge order is fixed, so the result does not depend on the thread count. Each partition is read
    once whatever the number of entity levels: reading and validating Parquet is about half the work.

    ``later``: what is still being read from the change logs (pods, nodes) when the scan starts, a Future
    of (the workload level's (namespace, pod) -> workload map or None, more taps), with ``later_columns``
    ({table: [column, ...]}) the columns those taps read. The first partitions are read meanwhile and
    wait for it only before their profile states and taps: the change logs of a week are a few seconds
    that would otherwise come before the first partition.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    if len({(s.start, s.end) for s in settings}) > 1:
        raise ValueError("run_local_many: every Settings must cover the same window")
    first = settings[0]
    wanted = [tap.columns for tap in taps] + [later_columns or {}]
    extra = {t: tuple(dict.fromkeys(c for cols in wanted for c in cols.get(t, ()))) for t in ("gpu", "container")}
    tables = [t for t in ("gpu", "container") if extra[t] or any(s.reads(t) for s in settings)]
    jobs = [(t, d, n, frags) for t in tables
            for (d, n), frags in partition_fragments(dataset, t, first.start, first.end).items()]
    states = [ProfileState(s.entity) for s in settings]
    if progress is not None:
        progress.start(len(jobs))

    resolved: list[tuple[list[Settings], tuple]] = []
    resolving = threading.Lock()

    def ready() -> tuple[list[Settings], tuple]:
        """(the settings, every tap) once ``later`` is in."""
        if later is None:
            return settings, taps
        with resolving:
            if not resolved:
                mapping, more = later.result()
                resolved.append(([replace(s, workloads=mapping) if s.entity == "workload" and mapping is not None
                                  else s for s in settings], (*taps, *more)))
        return resolved[0]

    def work(job):
        data = read_fragments(dataset, job[0], job[3], first.start, first.end, extra[job[0]])
        levels, consumers = ready()
        parts = [partition_state(job[0], data, s) if s.reads(job[0]) else None for s in levels]
        # a tap's columns are read with the profiles' own, once; its per-partition sums run here too
        prepared = [tap.prepare(job[0], job[1], job[2], data) for tap in consumers]
        return parts, prepared

    with ThreadPoolExecutor(max_workers=nthreads) as pool:
        pending: deque = deque()
        queued = iter(jobs)
        for job in queued:
            pending.append((job, pool.submit(work, job)))
            if len(pending) > nthreads:
                break
        while pending:
            job, fut = pending.popleft()
            parts, prepared = fut.result()
            for state, part in zip(states, parts, strict=True):
                if part is not None:
                    state.merge(part)
            for tap, done in zip(ready()[1], prepared, strict=True):
                tap.merge(done)
            nxt = next(queued, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(work, nxt)))
            if progress is not None:
                progress.advance(f"{job[0]} {job[1]} {job[2]}")
    ready()  # a change log that cannot be read fails the run even when no partition needed it
    return states


# -- one partition -----------------------------------------------------------------------------------
def partition_state(table: str, data: pa.Table, settings: Settings) -> ProfileState:
    """The ProfileState of one partition's rows (``GPU_COLUMNS`` or ``CONTAINER_COLUMNS``)."""
    st = ProfileState(settings.entity)
    key_cols = SERIES.get((table, settings.entity))
    if key_cols is None or data.num_rows == 0:
        return st
    valid = None
    for c in key_cols:
        col = data.column(c)
        if col.null_count:
            valid = pc.is_valid(col) if valid is None else pc.and_(valid, pc.is_valid(col))
    if valid is not None:
        data = data.filter(valid)  # GPU rows of no pod count for GPUs and nodes only
    if data.num_rows == 0:
        return st
    series, series_keys = _encode(data, key_cols)
    ts = data.column("ts").cast(pa.int64()).to_numpy()
    interval = _f64(data.column("interval_s"))
    if table == "gpu":
        cols = {"mem": (_f64(data.column("mem_used_bytes")), "sum")}
        util, sm = _f64(data.column("gpu_util")), _f64(data.column("sm_active"))
        if settings.entity in ("gpu", "node"):  # device level: per-pod shares add up; GPM is per device
            cols.update(util=(util, "sum"), sm=(sm, "max"))
        else:
            cols.update(util=(util, "mean"), sm=(sm, "mean"))
        series, ts, interval, vals = group_instants(series, ts, interval, cols)
        if settings.entity in ("gpu", "node"):
            vals["util"] = np.minimum(vals["util"], 1.0)
        from_sm = ~np.isnan(vals["sm"])
        vals["act"] = np.where(from_sm, vals["sm"], vals["util"])
        if settings.entity == "node":  # GPUs -> node: mean activity, summed memory
            node_of = [(k[0],) for k in series_keys]
            node_codes, series_keys = _recode(node_of, series)
            vals["from_sm"] = np.where(from_sm, 1.0, 0.0)
            series, ts, interval, vals = group_instants(
                node_codes, ts, interval, {"mem": (vals["mem"], "sum"), "util": (vals["util"], "mean"),
                                           "sm": (vals["sm"], "mean"), "act": (vals["act"], "mean"),
                                           "from_sm": (vals["from_sm"], "mean")})
            from_sm = vals["from_sm"]  # share of the node's GPUs whose activity is SM activity
        metrics = {"gpu_util": vals["util"], "sm_active": vals["sm"], "gpu_activity": vals["act"],
                   "gpu_mem_bytes": vals["mem"]}
    else:
        cols = {"cpu": (_f64(data.column("cpu_cores")), "sum"), "mem": (_f64(data.column("mem_bytes")), "sum")}
        series, ts, interval, vals = group_instants(series, ts, interval, cols)
        metrics = {"cpu_cores": vals["cpu"], "mem_bytes": vals["mem"]}
        from_sm = None
    entity_keys = [_entity_key(settings, k) for k in series_keys]
    s_rows, e_rows = st.add_series(series_keys, entity_keys)
    codes = e_rows[series].astype(np.int32)
    n = len(st.entities)
    hours = hour_of_week(ts - (interval * 500.0).astype(np.int64), settings.config.timezone)
    args = settings.metric_args(schemes(settings.config))
    inputs = {name: core.MetricInput(v, *args[name]) for name, v in metrics.items()}
    built = core.build_sorted(codes, n, interval, inputs, hours=hours)
    for name, m in built.items():
        st.metrics[name] = m
        thr = args[name][1]
        if thr is not None:
            offsets = np.searchsorted(series, np.arange(len(series_keys) + 1))
            rec = run_kernels.runs_by_segment(offsets, ts, interval, metrics[name], float(thr),
                                          settings.config.run_gap_factor)
            st.add_runs(name, s_rows, rec)
    if from_sm is not None:
        act = st.metrics["gpu_activity"]
        valid = ~np.isnan(metrics["gpu_activity"])
        sm_share = np.where(valid, from_sm.astype(np.float64), 0.0)
        for j, share in enumerate((sm_share, np.where(valid, 1.0 - sm_share, 0.0))):
            act.source_w[:n, j] = np.bincount(codes, weights=interval * share, minlength=n)
    st.note_time(int((ts - interval * 1000.0).min()), int(ts.max()))
    return st


def group_instants(series: np.ndarray, ts: np.ndarray, interval: np.ndarray,
                   cols: dict[str, tuple[np.ndarray, str]]):
    """Combine rows with equal (series, ts): ``sum``/``mean``/``max`` over non-null values (null if none).

    Returns rows sorted by (series, ts) -- time order within each series, whatever the input order.
    """
    order = sort_order(series, ts)
    names = list(cols)
    values = np.empty((len(names), len(series)), np.float64)
    for j, name in enumerate(names):
        values[j] = cols[name][0]
    how = np.array([_HOW[cols[name][1]] for name in names], np.int64)
    s, t, i, out = instant_kernels.combine_sorted(order, series, ts.astype(np.int64, copy=False),
                                                  interval.astype(np.float64, copy=False), values, how)
    return s, t, i, {name: out[j] for j, name in enumerate(names)}


_HOW = {"sum": instant_kernels.SUM, "mean": instant_kernels.MEAN, "max": instant_kernels.MAX}


def sort_order(series: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The order that sorts rows by (series, ts). Writers keep each series in time order (the agent
    writes instant after instant, other tools series after series), so a stable sort by series alone
    usually suffices. Otherwise (several devices of a pod written one after the other) one stable sort
    of (series, ts) packed in an int64: numpy's timsort merges the sorted runs, 5x faster than lexsort."""
    order = core.stable_argsort(series)
    if instant_kernels.time_ordered(order, series, ts):
        return order
    lo, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if (int(series.max()) + 1) * span < 2**62:
        return np.argsort(series.astype(np.int64) * span + (ts - lo), kind="stable")
    return np.lexsort((ts, series))


def hour_of_week(ms: np.ndarray, timezone: str = "UTC") -> np.ndarray:
    """Hour of the week (Monday 00:00 = 0) of each UTC millisecond timestamp, in ``timezone``."""
    hours = ms // 3_600_000
    if timezone in ("UTC", "Etc/UTC"):
        return ((hours + 72) % 168).astype(np.float64)  # 1970-01-01 was a Thursday (3 days after Monday)
    try:
        tz = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserError(f"timezone '{timezone}' is not an IANA time zone name (e.g. Europe/Berlin)") from None
    uniq, inv = np.unique(hours, return_inverse=True)
    local = np.array([(lambda d: d.weekday() * 24 + d.hour)(datetime.fromtimestamp(int(h) * 3600, UTC).astimezone(tz))
                      for h in uniq], np.float64)
    return local[inv]


def _entity_key(settings: Settings, series_key: tuple) -> tuple:
    if settings.entity == "workload":
        ns, pod = series_key
        return settings.workloads.get((ns, pod), (ns, "Pod", pod))
    return series_key


def _f64(col: pa.ChunkedArray) -> np.ndarray:
    """A column as float64 with NaN for null (the v1 reader has already rejected real NaN)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        arr = pc.fill_null(arr.cast(pa.float64()), float("nan"))
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _encode(data: pa.Table, key_cols: tuple[str, ...]) -> tuple[np.ndarray, list[tuple]]:
    """Local series codes (0..n-1) and the key tuple of each code."""
    from optimizer.scan import column_codes  # the same partition's codes serve every entity level and tap

    code = np.zeros(data.num_rows, np.int64)
    dicts = []
    for c in key_cols:
        indices, values = column_codes(data, c)
        dicts.append(values)
        code = code * len(values) + indices
    uniq, inv = _dense_unique(code)
    keys = []
    for u in uniq.tolist():
        parts = []
        for d in reversed(dicts):
            u, i = divmod(u, len(d))
            parts.append(d[i])
        keys.append(tuple(reversed(parts)))
    return inv.astype(np.int64), keys


def _dense_unique(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(code, return_inverse=True)`` for non-negative codes, without a sort when the code
    range is small (a partition's pods x containers): groups numbered in code order, as np.unique does."""
    top = int(code.max()) + 1 if len(code) else 0
    if top > 4 * len(code) + 65536:
        uniq, inv = np.unique(code, return_inverse=True)
        return uniq, inv.ravel()
    inverse, first = groups_by_key(code, top)
    return code[first], inverse


def _recode(keys_of_codes: list[tuple], codes: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    index: dict[tuple, int] = {}
    mapping = np.array([index.setdefault(k, len(index)) for k in keys_of_codes], np.int64)
    return mapping[codes], list(index)

"""Check every file of a dataset and summarise it: what ``rightsizer validate`` shows after agents are deployed.

One pass, partition by partition: the sample tables (gpu, container) are read one ``(date, node)`` at a
time, both tables of that partition together, so memory stays bounded by the largest partition whatever
the size of the dataset. Per-node state carried between partitions is a few numbers per node and GPU.
Every file is read in full, so every contract check (schema, values, partition) runs on every row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.errors import UserError
from store.reader import Dataset
from store.schema import AGENT_TABLES, TABLES

# A gap is a hole between consecutive samples longer than this many sampling intervals.
GAP_FACTOR = 2.5


@dataclass
class TableStats:
    table: str
    files: int = 0
    partitions: int = 0
    rows: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def see_ts(self, ts: pa.ChunkedArray) -> None:
        if len(ts) == 0:
            return
        mm = pc.min_max(ts)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        self.first = lo if self.first is None or lo < self.first else self.first
        self.last = hi if self.last is None or hi > self.last else self.last


@dataclass
class NodeGaps:
    """Holes in one node's sampling: consecutive sample times more than GAP_FACTOR intervals apart."""

    node: str
    samples: int = 0
    gaps: int = 0
    longest_s: float = 0.0
    missing_s: float = 0.0
    gpu_gaps: int = 0  # holes in one GPU's series while the node kept sampling others (a GPU lost)
    source: str | None = None  # "gpu" (GPU rows) or "container" (CPU-only node: no rows while nothing runs)


@dataclass
class GpuModelStats:
    gpu_model: str
    gpus: int  # whole GPUs (distinct gpu_uuid without mig_profile)
    mig_slices: int  # MIG instances (distinct MIG uuid); their parent GPU has no row of its own
    nodes: int
    gpu_hours: float
    attributed_share: float | None


@dataclass
class DatasetSummary:
    uri: str
    window: tuple[datetime | None, datetime | None]
    tables: list[TableStats]
    first: datetime | None
    last: datetime | None
    nodes: list[str]
    instance_types: dict[str, int]
    capacity_types: dict[str, int]
    gpu_models: list[GpuModelStats]
    gpu_hours: float
    attributed_gpu_hours: float
    workloads: int
    pods: int
    namespaces: int
    gap_factor: float
    node_gaps: list[NodeGaps]  # every node with at least one gap, most missing time first
    warnings: list[str] = field(default_factory=list)
    # pods with samples but no row in 'pods' (the optimizer keeps them with what is known)
    orphan_pods: int = 0
    # what the readers found and set aside (store/integrity.py): repeated rows, skewed clocks
    integrity: dict = field(default_factory=dict)

    @property
    def attributed_share(self) -> float | None:
        return self.attributed_gpu_hours / self.gpu_hours if self.gpu_hours else None

    @property
    def gpus(self) -> int:
        return sum(m.gpus for m in self.gpu_models)

    def to_json_dict(self) -> dict:
        def iso(value):
            return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value

        out = asdict(self)
        out["window"] = {"start": iso(self.window[0]), "end": iso(self.window[1])}
        out["first"], out["last"] = iso(self.first), iso(self.last)
        for t in out["tables"]:
            t["first"], t["last"] = iso(t["first"]), iso(t["last"])
        out["gpus"] = self.gpus
        out["attributed_share"] = self.attributed_share
        return out


def inspect_dataset(data: str | Dataset, start: datetime | None = None, end: datetime | None = None, *,
                    progress: Callable[[int, int], None] | None = None, s3_client=None) -> DatasetSummary:
    """Validate every file of ``data`` in [start, end) and summarise it; raises DataError on the first bad file.

    The change-log tables (pods, nodes) are read up to ``end`` from the beginning: a pod created before
    ``start`` still runs inside the window.
    """
    dataset = data if isinstance(data, Dataset) else Dataset(data, s3_client=s3_client)
    present = dataset.tables()
    if not present:
        raise UserError(f"{dataset.uri}: no dataset tables here (expected folders {', '.join(f'{t}/' for t in AGENT_TABLES)}"
                        " below this root)")
    stats = {t: TableStats(t) for t in present}
    scan = _SampleScan()
    groups = {t: dict(dataset.partition_groups(t, start, end)) for t in ("gpu", "container") if t in present}
    logs = {t: dataset.partition_groups(t, None, end) for t in ("pods", "nodes") if t in present}
    keys = sorted({k for g in groups.values() for k in g})
    total = len(keys) + sum(len(v) for v in logs.values())
    done = 0
    for key in keys:
        parts = {}
        for table, tgroups in groups.items():
            frags = tgroups.get(key)
            if not frags:
                continue
            data_t = pa.concat_tables([dataset.read_fragment(table, f, start, end) for f in frags])
            _count(stats[table], len(frags), data_t)
            parts[table] = data_t
        scan.add(key[1], parts.get("gpu"), parts.get("container"))
        done += 1
        if progress:
            progress(done, total)
    # Partitions left out for a skewed clock are not summarised, but every contract check still runs on them.
    for table in groups:
        for frag in dataset.skewed_fragments(table, start, end):
            dataset.read_fragment(table, frag, start, end)
    state = _StateScan()
    for table, tgroups in logs.items():
        for _key, frags in tgroups:
            data_t = pa.concat_tables([dataset.read_fragment(table, f, None, end) for f in frags])
            _count(stats[table], len(frags), data_t)
            state.add(table, data_t)
            done += 1
            if progress:
                progress(done, total)
    return _summary(dataset, start, end, present, stats, scan, state)


def _count(stats: TableStats, files: int, data: pa.Table) -> None:
    stats.files += files
    stats.partitions += 1
    stats.rows += data.num_rows
    stats.see_ts(data.column("ts"))


class _SampleScan:
    """Accumulates GPU inventory, attribution and sampling gaps over (date, node) partitions in date order."""

    def __init__(self):
        self.uuids: dict[str, set[str]] = defaultdict(set)  # model -> whole-GPU uuids
        self.mig_uuids: dict[str, set[str]] = defaultdict(set)  # model -> MIG instance uuids
        self.model_nodes: dict[str, set[str]] = defaultdict(set)
        self.seconds: dict[str, float] = defaultdict(float)  # model -> sampled GPU-seconds
        self.attributed: dict[str, float] = defaultdict(float)
        self.sample_pods: set[tuple[str, str]] = set()
        self.nodes: dict[str, NodeGaps] = {}
        self.last_node_ts: dict[str, int] = {}
        self.last_gpu_ts: dict[tuple[str, str], int] = {}

    def add(self, node: str, gpu: pa.Table | None, container: pa.Table | None) -> None:
        gaps = self.nodes.setdefault(node, NodeGaps(node))
        # The gpu table has a row per GPU at every sample, allocated or not: the reliable heartbeat of a
        # GPU node. The container table is the only one on CPU-only nodes, but it is empty while no
        # container runs there, so a hole on such a node may also be a node with nothing scheduled.
        series = []  # (ts ms, interval_s) of every sample on this node
        per_gpu = None
        if gpu is not None and gpu.num_rows:
            per_gpu = self._add_gpu(node, gpu, gaps)
            gaps.source = "gpu"
            series.append((per_gpu["ts"].cast(pa.int64()).to_numpy(), per_gpu["interval_s"].to_numpy()))
        if container is not None and container.num_rows:
            self._pods(container)
            if not series:
                gaps.source = gaps.source or "container"
                series.append((container["ts"].cast(pa.int64()).to_numpy(),
                               container["interval_s"].to_numpy().astype(np.float64)))
        if not series:
            return
        ts = np.concatenate([s[0] for s in series])
        iv = np.concatenate([s[1] for s in series])
        order = np.lexsort((-iv, ts))  # by ts; for equal ts the longest interval first
        ts, iv = ts[order], iv[order]
        first = np.ones(len(ts), dtype=bool)
        first[1:] = ts[1:] != ts[:-1]
        ts, iv = ts[first], iv[first]
        gaps.samples += len(ts)
        count, longest, missing = _holes(self.last_node_ts.get(node), ts, iv)
        gaps.gaps += count
        gaps.longest_s = max(gaps.longest_s, longest)
        gaps.missing_s += missing
        self.last_node_ts[node] = int(ts[-1])
        if per_gpu is not None:
            self._gpu_only_gaps(node, per_gpu, ts, gaps)

    def _add_gpu(self, node: str, gpu: pa.Table, gaps: NodeGaps) -> pa.Table:
        self._pods(gpu.filter(pc.is_valid(gpu["pod"])))
        # A shared GPU has one row per pod at each instant: one GPU-sample is one (gpu_uuid, ts).
        t = gpu.select(["gpu_model", "gpu_uuid", "ts", "interval_s"]).append_column(
            "attributed", pc.is_valid(gpu["pod"])).append_column("mig", pc.is_valid(gpu["mig_profile"]))
        per = t.group_by(["gpu_model", "gpu_uuid", "ts"], use_threads=False).aggregate(
            [("interval_s", "max"), ("attributed", "max"), ("mig", "max")])
        per = per.rename_columns(["gpu_model", "gpu_uuid", "ts", "interval_s", "attributed", "mig"])
        mig = per["mig"].to_numpy(zero_copy_only=False)
        iv = per["interval_s"].to_numpy().astype(np.float64)
        att = per["attributed"].to_numpy(zero_copy_only=False)
        model_codes, models = _codes(per["gpu_model"])
        uuid_codes, uuids = _codes(per["gpu_uuid"])
        for k, model in enumerate(models):
            sel = model_codes == k
            whole = np.unique(uuid_codes[sel & ~mig])
            sliced = np.unique(uuid_codes[sel & mig])
            self.uuids[model].update(uuids[i] for i in whole)
            self.mig_uuids[model].update(uuids[i] for i in sliced)
            self.model_nodes[model].add(node)
            self.seconds[model] += float(iv[sel].sum())
            self.attributed[model] += float(iv[sel & att].sum())
        return per

    def _gpu_only_gaps(self, node: str, per: pa.Table, node_ts: np.ndarray, gaps: NodeGaps) -> None:
        """Holes in one GPU's series during which the node sampled (other GPUs): a GPU that went missing."""
        ts = per["ts"].cast(pa.int64()).to_numpy()
        iv = per["interval_s"].to_numpy().astype(np.float64)
        uuid_codes, uuids = _codes(per["gpu_uuid"])
        for k, uuid in enumerate(uuids):
            sel = uuid_codes == k
            order = np.argsort(ts[sel], kind="stable")
            g_ts, g_iv = ts[sel][order], iv[sel][order]
            prev = self.last_gpu_ts.get((node, uuid))
            if prev is not None:
                g_ts, g_iv = np.concatenate([[prev], g_ts]), np.concatenate([[g_iv[0]], g_iv])
            if len(g_ts) > 1:
                dt = np.diff(g_ts) / 1000.0
                hole = np.flatnonzero(dt > GAP_FACTOR * g_iv[1:])
                inside = (np.searchsorted(node_ts, g_ts[hole + 1], "left")
                          - np.searchsorted(node_ts, g_ts[hole], "right"))
                gaps.gpu_gaps += int((inside > 0).sum())
            self.last_gpu_ts[(node, uuid)] = int(g_ts[-1])

    def _pods(self, data: pa.Table) -> None:
        if data.num_rows:
            pairs = data.select(["namespace", "pod"]).group_by(["namespace", "pod"], use_threads=False).aggregate([])
            self.sample_pods.update(zip(pairs["namespace"].to_pylist(), pairs["pod"].to_pylist(), strict=True))


def _codes(column) -> tuple[np.ndarray, list]:
    """Integer codes and distinct values of a string column (far faster than numpy.unique on strings)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = array.dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


def _holes(prev_ts: int | None, ts: np.ndarray, iv: np.ndarray) -> tuple[int, float, float]:
    """Count holes in a sorted series: consecutive times more than GAP_FACTOR x interval_s apart.

    Returns (count, longest hole in seconds, total missing seconds); a hole's length is the time no row
    covers: the distance between the two samples minus the later sample's own interval.
    """
    if prev_ts is not None:
        ts = np.concatenate([[prev_ts], ts])
        iv = np.concatenate([[iv[0]], iv])
    if len(ts) < 2:
        return 0, 0.0, 0.0
    dt = np.diff(ts) / 1000.0
    later = iv[1:]
    hole = dt > GAP_FACTOR * later
    if not hole.any():
        return 0, 0.0, 0.0
    missing = dt[hole] - later[hole]
    return int(hole.sum()), float(missing.max()), float(missing.sum())


class _StateScan:
    """Workloads and pods from the pods change log; the latest row of each node from the nodes log."""

    def __init__(self):
        self.workloads: set[tuple[str, str, str]] = set()
        self.pods: set[tuple[str, str]] = set()
        self.latest_node: dict[str, tuple[int, str | None, str | None]] = {}

    def add(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        if table == "pods":
            w = data.group_by(["namespace", "workload_kind", "workload_name"], use_threads=False).aggregate([])
            self.workloads.update(zip(*(w[c].to_pylist() for c in w.column_names), strict=True))
            p = data.group_by(["namespace", "pod"], use_threads=False).aggregate([])
            self.pods.update(zip(p["namespace"].to_pylist(), p["pod"].to_pylist(), strict=True))
            return
        ts = data["ts"].cast(pa.int64()).to_numpy()
        nodes = data["node"].to_pylist()
        types = data["instance_type"].to_pylist()
        caps = data["capacity_type"].to_pylist()
        for i in np.argsort(ts, kind="stable"):
            seen = self.latest_node.get(nodes[i])
            if seen is None or ts[i] >= seen[0]:
                self.latest_node[nodes[i]] = (int(ts[i]), types[i], caps[i])


def _summary(dataset: Dataset, start, end, present, stats, scan: _SampleScan, state: _StateScan) -> DatasetSummary:
    tables = [stats[t] for t in TABLES if t in stats]
    sampled = [s for s in tables if s.table in ("gpu", "container") and s.first is not None]
    first = min((s.first for s in sampled), default=None)
    last = max((s.last for s in sampled), default=None)
    nodes = sorted(set(scan.nodes) | set(state.latest_node))
    instance_types: dict[str, int] = defaultdict(int)
    capacity_types: dict[str, int] = defaultdict(int)
    for _ts, itype, cap in state.latest_node.values():
        instance_types[itype or "unknown"] += 1
        capacity_types[cap or "unknown"] += 1
    models = [
        GpuModelStats(m, len(scan.uuids[m]), len(scan.mig_uuids[m]), len(scan.model_nodes[m]),
                      scan.seconds[m] / 3600, scan.attributed[m] / scan.seconds[m] if scan.seconds[m] else None)
        for m in sorted(scan.model_nodes, key=lambda m: (-len(scan.uuids[m]), -len(scan.mig_uuids[m]), m))
    ]
    gaps = sorted((g for g in scan.nodes.values() if g.gaps or g.gpu_gaps),
                  key=lambda g: (-g.missing_s, -g.gpu_gaps, g.node))
    warnings = []
    for table in AGENT_TABLES:
        if table not in present:
            warnings.append(f"no '{table}' table: {_MISSING_TABLE[table]}")
    unknown_pods = scan.sample_pods - state.pods if "pods" in present else set()
    if unknown_pods:
        ns, pod = sorted(unknown_pods)[0]
        warnings.append(f"{len(unknown_pods)} pod(s) in the samples have no row in 'pods' (e.g. {ns}/{pod}): "
                        "their workload and labels are unknown")
    # Repeated rows and skewed clocks (the orphan pods are said above, from this scan's own sets).
    warnings.extend(n for n in dataset.integrity.notes() if "no row in the pods table" not in n)
    no_node_row = sorted(set(scan.nodes) - set(state.latest_node))
    if "nodes" in present and no_node_row:
        warnings.append(f"{len(no_node_row)} node(s) have samples but no row in 'nodes' (e.g. {no_node_row[0]}): "
                        "their instance type and price are unknown")
    return DatasetSummary(
        uri=dataset.uri, window=(start, end), tables=tables, first=first, last=last, nodes=nodes,
        instance_types=dict(sorted(instance_types.items(), key=lambda kv: (-kv[1], kv[0]))),
        capacity_types=dict(sorted(capacity_types.items())), gpu_models=models,
        gpu_hours=sum(scan.seconds.values()) / 3600, attributed_gpu_hours=sum(scan.attributed.values()) / 3600,
        workloads=len(state.workloads), pods=len(state.pods | scan.sample_pods),
        namespaces=len({ns for ns, _ in state.pods | scan.sample_pods}),
        gap_factor=GAP_FACTOR, node_gaps=gaps, warnings=warnings, orphan_pods=len(unknown_pods),
        integrity=dataset.integrity.to_json_dict() | {"orphan_pods": len(unknown_pods)})


_MISSING_TABLE = {
    "gpu": "no GPU samples (CPU-only cluster, or the agent found no NVIDIA driver)",
    "container": "no CPU/memory samples per container",
    "pods": "pods cannot be mapped to workloads, teams or requests",
    "nodes": "instance types and prices of the nodes are unknown",
}


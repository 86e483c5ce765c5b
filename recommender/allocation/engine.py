"""Cost attribution over a v1 dataset, one (date, node) partition at a time (the model: SPEC.md here).

Memory stays bounded by one partition of the ``gpu`` and ``container`` tables plus small accumulators
keyed by (workload, day) and (node, day); the ``pods`` and ``nodes`` change logs are read whole (they
hold a row per pod/node change, not per sample).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np

from optimizer.costing import priced_sentence
from optimizer.uptime import partition_runs, union_ms
from recommender.allocation.charges import (
    N_COST,
    N_CPU_COST,
    N_FIELDS,
    N_GPU_COST,
    N_GPU_HOURS,
    N_HOURS,
    N_RAM_COST,
    W_FIELDS,
    PartitionCharges,
    charge_containers,
    charge_gpus,
)
from recommender.allocation.columns import Columns
from recommender.allocation.labels import owner_of
from recommender.allocation.pricing import NodeRates, Pricer
from recommender.allocation.result import AllocationResult, build_result
from recommender.config import Config, LabelKeys

_GPU_COLS = ["ts", "interval_s", "gpu_uuid", "mig_profile", "namespace", "pod", "gpu_util", "sm_active",
             "mem_used_bytes", "mem_total_bytes"]
_CONTAINER_COLS = ["ts", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes"]
_MS_PER_HOUR = 3_600_000.0


def allocate(dataset, catalog, config: Config | None = None, *, start: datetime | None = None,
             end: datetime | None = None, pricer: Pricer | None = None, cost_model=None,
             progress=None) -> AllocationResult:
    """Attribute every node-hour in [start, end) to workloads or to idle. See SPEC.md for the rules.

    ``dataset`` is a ``store.reader.Dataset``; ``catalog`` follows the ``optimizer.catalog.Catalog`` API;
    ``cost_model`` (an ``optimizer.costing.CostModel``) is shared with the recommendations of the same run.
    A node the cost model cannot price (no price in its region and market, not in the catalog, no nodes
    row) is left out and listed in ``result.unpriced``. ``progress`` is called with (done, total) partitions.
    Reads the sample tables itself; ``AllocationScan`` takes partitions another reader already read. The
    nodes, pods, requests and owners come from the observed cluster (``optimizer.inventory.InventoryScan``),
    built here from the dataset's pods and nodes change logs.
    """
    from optimizer.inventory import InventoryScan

    observed = InventoryScan(dataset, start, end)
    scan = AllocationScan(dataset, catalog, config, observed=observed, start=start, end=end, pricer=pricer,
                          cost_model=cost_model)
    groups = sorted(_partition_groups(dataset, start, end).items())

    def load(item):
        _, frags = item
        return (_read(dataset, "gpu", frags.get("gpu", []), start, end, _GPU_COLS),
                _read(dataset, "container", frags.get("container", []), start, end, _CONTAINER_COLS))

    # Read ahead on a small thread pool (Arrow and the file system release the GIL) while the current
    # partition is priced; at most ``lookahead`` partitions are in memory at once.
    for i, (((date, node), _), tables) in enumerate(_prefetch(groups, load, lookahead=2)):
        for table, data in zip(("gpu", "container"), tables, strict=True):
            scan.add(table, date, node, data)
        if progress:
            progress(i + 1, len(groups))
    return scan.result()


class AllocationScan:
    """The allocation fed one partition of one sample table at a time, in any order of tables: the gpu
    and container partitions of a node are charged as they come, and the node's hours (the union of both
    tables' sample intervals) are summed at the end from the covered runs each partition leaves.

    What ran where is read from ``observed``, the run's observed cluster (``optimizer.inventory.
    InventoryScan``, fed by the same read): each node's latest nodes row, each pod's own container
    requests, pod -> workload, and each workload's labels (its newest pods row). Without it, one is built
    from ``dataset``'s pods and nodes change logs."""

    columns = {"gpu": _GPU_COLS, "container": _CONTAINER_COLS}

    def __init__(self, dataset, catalog, config: Config | None = None, *, observed=None,
                 start: datetime | None = None, end: datetime | None = None, pricer: Pricer | None = None,
                 cost_model=None):
        self.config = config or Config()
        self.start, self.end = start, end
        self.pricer = pricer or Pricer(catalog, region=self.config.region, cost_model=cost_model)
        if observed is None:
            from optimizer.inventory import InventoryScan

            observed = InventoryScan(dataset, start, end)
        self.nodes = observed.nodes  # name -> NodeInfo
        self.pods = ObservedPods(observed, self.config.labels)
        self.acc = _Accumulator(self.config.thresholds.gpu_idle_activity)
        self.rates: dict[str, NodeRates] = {}
        self.unpriced: dict = {}
        self._lock = threading.Lock()

    def _rates(self, date: str, node: str) -> NodeRates | None:
        from optimizer.costing import UnpricedNode

        if node not in self.rates and node not in self.unpriced:
            rates = self.pricer.node_rates(self.nodes[node]) if node in self.nodes else None
            if rates is not None:
                self.rates[node] = rates
            elif node not in self.nodes:
                self.unpriced[node] = UnpricedNode(node, None, None, f"samples on {date} but no nodes row (its "
                                                   "instance type, hence its price, is unknown)")
            else:
                self.unpriced[node] = next(u for u in self.pricer.unpriced if u.node == node)
        return self.rates.get(node)

    def add(self, table: str, date: str, node: str, data) -> None:
        """One (date, node) partition of ``table`` (``gpu`` or ``container``) with at least ``columns``."""
        self.merge(self.prepare(table, date, node, data))

    def prepare(self, table: str, date: str, node: str, data) -> PartitionCharges | None:
        """The partition's charges (safe on the reader's threads: only the node's rates are looked up)."""
        if data is None or data.num_rows == 0:
            return None
        with self._lock:
            rates = self._rates(date, node)
        if rates is None:
            return None
        cols = Columns(data)  # the same table object the observed cluster got: its covered runs are reused
        charges = PartitionCharges(date, rates.node, _covered_runs(cols))
        if table == "gpu":
            charge_gpus(charges, rates, cols, self.pods, self.pricer, self.acc.idle_activity)
        else:
            charge_containers(charges, rates, cols, self.pods)
        return charges

    def merge(self, charges: PartitionCharges | None) -> None:
        if charges is not None:
            self.acc.apply(charges)

    def result(self) -> AllocationResult:
        self.acc.finish_hours(self.rates)
        notes = list(self.pricer.notes)
        seen = len(self.rates) + len(self.unpriced)
        unpriced = sorted(self.unpriced.values(), key=lambda u: u.node)
        if unpriced:
            notes.append(f"{priced_sentence(len(self.rates), seen)}; left out of every cost: "
                         + "; ".join(f"{u.node} ({u.reason})" for u in unpriced))
        result = build_result(self.acc, self.pods, self.rates, self.config, self.start, self.end, notes=notes)
        result.unpriced = unpriced
        result.nodes_seen = seen
        return result


# -- inputs --------------------------------------------------------------------------------------------
def _prefetch(items, load, *, lookahead: int):
    """Yield (item, load(item)) in order, loading up to ``lookahead`` items ahead on worker threads."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    items = iter(items)
    with ThreadPoolExecutor(max_workers=lookahead, thread_name_prefix="allocation-read") as pool:
        pending = deque()
        for item in items:
            pending.append((item, pool.submit(load, item)))
            if len(pending) >= lookahead:
                break
        while pending:
            item, future = pending.popleft()
            nxt = next(items, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(load, nxt)))
            yield item, future.result()


def _partition_groups(dataset, start, end) -> dict[tuple[str, str], dict[str, list]]:
    import pyarrow.dataset as ds

    groups: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for table in ("gpu", "container"):
        for frag in dataset.fragments(table, start, end):
            keys = ds.get_partition_keys(frag.partition_expression)
            groups[(keys["date"], keys["node"])][table].append(frag)
    return groups


def _read(dataset, table, frags, start, end, columns):
    import pyarrow as pa

    from store.schema import SCHEMAS

    if not frags:
        return SCHEMAS[table].empty_table().select(columns)
    return pa.concat_tables([dataset.read_fragment(table, f, start, end, columns=columns) for f in frags])


class ObservedPods:
    """What the per-partition charges (charges.py) ask of the observed cluster: a container's request in
    its own pod and the workload a pod belongs to; and each workload's owner for the rows."""

    def __init__(self, observed, keys: LabelKeys):
        self._specs = observed.pod_specs      # (namespace, pod) -> {container: ContainerSpec}, read-only
        self._workloads = observed.pod_workload  # (namespace, pod) -> (namespace, kind, name)
        # the owner from the workload's labels as the observed cluster keeps them (its newest pods row)
        self.owners = {wk: owner_of(wk[0], wk[1], {str(k): str(v) for k, v in labels.items()}, keys)
                       for wk, labels in observed.labels.items()}

    def request(self, namespace: str, pod: str, container: str, what: str) -> float:
        """A container's ``cpu_request``/``mem_request`` in its own pod (nan when unset or unknown)."""
        spec = self._specs.get((namespace, pod), {}).get(container)
        value = None if spec is None else getattr(spec, what)
        return np.nan if value is None else float(value)

    def workload_of(self, namespace: str, pod: str) -> tuple[str, str, str]:
        """A pod without a pods row is a workload of its own, the key the observed cluster gives it."""
        return self._workloads.get((namespace, pod), (namespace, "Pod", pod))


# -- the per-partition arithmetic ----------------------------------------------------------------------
class _Accumulator:
    """Sums per (workload, day) and per (node, day); each partition is priced and dropped."""

    def __init__(self, idle_activity: float):
        self.idle_activity = idle_activity
        self.workload = defaultdict(lambda: np.zeros(W_FIELDS))  # (key, date) -> vector
        self.node = defaultdict(lambda: np.zeros(N_FIELDS))      # (node, date) -> vector
        self.runs: dict[str, dict[str, list]] = {}  # node -> date -> [(starts, ends)] of covered runs
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.gpu_mem_capacity: dict = {}  # workload -> largest GPU (or slice) memory a pod of it held

    def finish_hours(self, rates: dict) -> None:
        """Each node's hours per date: the union of its partitions' sample intervals, in date order, an
        interval crossing midnight counted once; then its cost and GPU-hours at those hours."""
        for node, by_date in self.runs.items():
            r = rates[node]
            carried = None
            for date in sorted(by_date):
                starts = np.concatenate([x[0] for x in by_date[date]])
                ends = np.concatenate([x[1] for x in by_date[date]])
                seconds, first, last, carried = union_ms(starts, ends, carried)
                self.first_ms = first if self.first_ms is None else min(self.first_ms, first)
                self.last_ms = last if self.last_ms is None else max(self.last_ms, last)
                hours = seconds / 3600.0
                n = self.node[(node, date)]
                n[N_HOURS] += hours
                n[N_COST] += r.hourly * hours
                n[N_GPU_COST] += r.gpu_hourly * hours
                n[N_CPU_COST] += r.cpu_hourly * hours
                n[N_RAM_COST] += r.ram_hourly * hours
                n[N_GPU_HOURS] += r.gpu_count * hours

    def apply(self, charges: PartitionCharges) -> None:
        """Add one partition's charges (on one thread, in the read's fixed order)."""
        if charges.runs is not None:
            self.runs.setdefault(charges.node, {}).setdefault(charges.date, []).append(charges.runs)
        n = self.node[(charges.node, charges.date)]
        for key, capacity in charges.gpu_memory:
            self.gpu_mem_capacity[key] = max(self.gpu_mem_capacity.get(key, 0.0), capacity)
        for key, adds in charges.workload_adds:
            w = self.workload[(key, charges.date)]
            for f, amount in adds:
                w[f] += amount
        for f, amount in charges.node_adds:
            n[f] += amount


def _covered_runs(cols: Columns):
    return None if cols.empty else partition_runs(cols.table)


def utc(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


__all__ = ["allocate", "AllocationResult", "AllocationScan", "ObservedPods"]

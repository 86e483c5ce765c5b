"""The allocation result: allocation.csv rows that sum to the cluster cost to the cent, daily series,
per-node idle, GPU-hours and label coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from optimizer.valueclass import infer_value_class
from recommender.allocation.labels import IDLE, UNALLOCATED, Owner

CSV_COLUMNS = ["row_type", "team", "project", "use_case", "value_class", "value_class_inferred", "namespace",
               "kind", "workload", "node", "gpu_cost", "cpu_cost", "ram_cost", "total_cost", "share",
               "gpu_hours", "gpu_hours_used", "cpu_core_hours", "mem_gib_hours"]
# allocation.csv: the columns above, then the unit of its money (USD over a window this many hours long)
CSV_FILE_COLUMNS = [*CSV_COLUMNS, "window_hours"]
MONEY_COLUMNS = ("gpu_cost", "cpu_cost", "ram_cost", "total_cost")


@dataclass
class AllocationResult:
    window_start: datetime | None
    window_end: datetime | None
    total_cost: float                 # exact (unrounded) sum of node costs in the window
    rows: pd.DataFrame                # CSV_COLUMNS; money rounded to cents; total_cost sums to total_cents
    daily: pd.DataFrame               # date, row_type, team, project, use_case, namespace, kind, workload, cost
    nodes: pd.DataFrame               # per node: cost, idle, hours, GPU-hours
    gpu_hours_capacity: float
    gpu_hours_allocated: float
    gpu_hours_used: float
    gpu_hours_busy: float
    label_coverage: dict[str, float]  # team/project/use_case -> share of workload cost that is labeled
    day_hours: dict = field(default_factory=dict)   # date -> node-hours observed (partial days are smaller)
    gpu_memory_capacity: dict = field(default_factory=dict)  # workload -> GPU memory bytes per device/slice
    notes: list = field(default_factory=list)       # pricing fallbacks and other caveats for the report
    owners: dict = field(default_factory=dict)      # workload -> Owner
    unpriced: list = field(default_factory=list)    # optimizer.costing.UnpricedNode: left out of every cost
    nodes_seen: int = 0                             # nodes with samples in the window, priced or not

    @property
    def nodes_priced(self) -> int:
        return len(self.nodes)

    def workload_costs(self) -> dict:
        """(namespace, kind, name) -> cost over the window, in cents exactly as allocation.csv writes it."""
        work = self.rows[self.rows["row_type"] == "workload"]
        return {(r.namespace, r.kind, r.workload): float(r.total_cost) for r in work.itertuples(index=False)}

    @property
    def total_cents(self) -> int:
        return round(self.total_cost * 100)

    @property
    def window_days(self) -> float:
        if not self.window_start or not self.window_end:
            return 0.0
        return max((self.window_end - self.window_start).total_seconds() / 86400.0, 1e-9)

    @property
    def gpu_idle_share(self) -> float:
        """Share of GPU time (capacity) in which the GPU did nothing: unallocated or below the idle threshold."""
        if self.gpu_hours_capacity <= 0:
            return 0.0
        return max(0.0, 1.0 - self.gpu_hours_busy / self.gpu_hours_capacity)

    def by(self, column: str) -> pd.Series:
        """Cost per value of ``column`` (team, project, use_case, value_class, namespace), largest first."""
        return self.rows.groupby(column)["total_cost"].sum().sort_values(ascending=False)

    def daily_by(self, column: str) -> pd.DataFrame:
        """A date x value table of daily cost (idle rows excluded)."""
        df = self.daily[self.daily["row_type"] == "workload"]
        if df.empty:
            return pd.DataFrame()
        return df.pivot_table(index="date", columns=column, values="cost", aggfunc="sum", fill_value=0.0)

    def write_csv(self, path) -> None:
        """allocation.csv: the rows, with workloads that have no team label as ``unallocated`` rows (one
        zero row when every workload is labeled, so the row is always there), money in USD over the
        window (``window_hours`` on every row says how long it is), never ``-0.00``."""
        rows = csv_rows(self.rows)
        for col in MONEY_COLUMNS:
            rows[col] = [f"{v:.2f}" for v in _no_negative_zero(rows[col].round(2))]  # cents, exactly as summed
        for col in ("share", "gpu_hours", "gpu_hours_used", "cpu_core_hours", "mem_gib_hours"):
            rows[col] = _no_negative_zero(rows[col])
        rows["window_hours"] = round(self.window_days * 24, 4)
        rows.to_csv(path, index=False, columns=CSV_FILE_COLUMNS)


def csv_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The CSV's rows: a workload without a team label becomes an ``unallocated`` row (its cost is the
    unallocated cost, per workload so it can be labeled); with none, one zero ``unallocated`` row."""
    out = rows.copy()
    unlabeled = (out["row_type"] == "workload") & (out["team"] == UNALLOCATED)
    out.loc[unlabeled, "row_type"] = UNALLOCATED
    if not unlabeled.any():
        zero = {c: 0.0 for c in CSV_COLUMNS}
        zero.update({"row_type": UNALLOCATED, "team": UNALLOCATED, "project": UNALLOCATED,
                     "use_case": UNALLOCATED, "value_class": "", "value_class_inferred": False, "namespace": "",
                     "kind": "", "workload": "", "node": ""})
        out = pd.concat([out, pd.DataFrame([zero], columns=out.columns)], ignore_index=True)
    order = {"workload": 0, UNALLOCATED: 1, IDLE: 2}
    return out.sort_values("row_type", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def _no_negative_zero(values: pd.Series) -> pd.Series:
    """Adding 0.0 turns -0.0 (a rounded tiny negative) into 0.0, so no cell reads -0.00."""
    return values.astype(float) + 0.0


def round_to_cents(values: np.ndarray, total_cents: int) -> np.ndarray:
    """Round to cents so that the cents add up to ``total_cents`` exactly (largest remainder)."""
    cents = np.asarray(values, dtype=float) * 100.0
    floor = np.floor(cents)
    short = int(total_cents - floor.sum())
    if len(cents) and short:
        order = np.argsort(-(cents - floor), kind="stable")
        if short > 0:
            floor[order[:short]] += 1
        else:
            floor[order[::-1][: -short]] -= 1
    return floor.astype(np.int64)


def build_result(acc, pods, rates, config, start, end, notes=()) -> AllocationResult:
    from recommender.allocation import charges as e
    from recommender.allocation.engine import utc

    wrows, daily = [], []
    per_workload: dict = {}
    for (key, date), v in acc.workload.items():
        per_workload.setdefault(key, np.zeros(e.W_FIELDS))
        per_workload[key] += v
        daily.append((date, "workload", key, float(v[e.W_GPU_COST] + v[e.W_CPU_COST] + v[e.W_RAM_COST])))
    for key, v in per_workload.items():
        owner = pods.owners.get(key) or _unlabeled(key)
        wrows.append({
            "row_type": "workload", "team": owner.team, "project": owner.project, "use_case": owner.use_case,
            "value_class": owner.value_class, "value_class_inferred": owner.value_class_inferred,
            "namespace": key[0], "kind": key[1], "workload": key[2], "node": "",
            "gpu_cost": v[e.W_GPU_COST], "cpu_cost": v[e.W_CPU_COST], "ram_cost": v[e.W_RAM_COST],
            "gpu_hours": v[e.W_GPU_H], "gpu_hours_used": v[e.W_GPU_USED_H],
            "cpu_core_hours": v[e.W_CORE_H], "mem_gib_hours": v[e.W_GIB_H]})
    per_node: dict = {}
    for (node, date), v in acc.node.items():
        per_node.setdefault(node, np.zeros(e.N_FIELDS))
        per_node[node] += v
        daily.append((date, "idle", ("", "Node", node), float(v[e.N_COST] - v[e.N_GPU_CHARGED]
                                                               - v[e.N_CPU_CHARGED] - v[e.N_RAM_CHARGED])))
    irows, nrows = [], []
    for node, v in sorted(per_node.items()):
        r = rates[node]
        idle = {"gpu_cost": v[e.N_GPU_COST] - v[e.N_GPU_CHARGED], "cpu_cost": v[e.N_CPU_COST] - v[e.N_CPU_CHARGED],
                "ram_cost": v[e.N_RAM_COST] - v[e.N_RAM_CHARGED]}
        irows.append({"row_type": "idle", "team": IDLE, "project": IDLE, "use_case": IDLE, "value_class": IDLE,
                      "value_class_inferred": False, "namespace": "", "kind": "Node", "workload": node,
                      "node": node, **idle, "gpu_hours": max(0.0, v[e.N_GPU_HOURS] - v[e.N_GPU_ALLOC_HOURS]),
                      "gpu_hours_used": 0.0, "cpu_core_hours": 0.0, "mem_gib_hours": 0.0})
        nrows.append({"node": node, "instance_type": r.instance_type, "capacity_type": r.capacity_type,
                      "region": r.region, "hourly": r.hourly, "hours": v[e.N_HOURS], "cost": v[e.N_COST],
                      "idle_cost": sum(idle.values()), "gpu_count": r.gpu_count, "gpu_hours": v[e.N_GPU_HOURS],
                      "gpu_hours_allocated": v[e.N_GPU_ALLOC_HOURS], "gpu_hours_used": v[e.N_GPU_USED_HOURS],
                      "gpu_hours_busy": v[e.N_GPU_BUSY_HOURS]})
    rows = pd.DataFrame(wrows + irows, columns=[c for c in CSV_COLUMNS if c != "share"])
    rows["total_cost"] = rows[["gpu_cost", "cpu_cost", "ram_cost"]].sum(axis=1) if len(rows) else []
    total = float(sum(v[e.N_COST] for v in per_node.values()))
    rows = _finish_rows(rows, total)
    nodes = pd.DataFrame(nrows)
    sums = {k: float(nodes[k].sum()) if len(nodes) else 0.0
            for k in ("gpu_hours", "gpu_hours_allocated", "gpu_hours_used", "gpu_hours_busy")}
    daily_df = pd.DataFrame([{"date": d, "row_type": t, "namespace": k[0], "kind": k[1], "workload": k[2],
                              "cost": c} for d, t, k, c in daily],
                            columns=["date", "row_type", "namespace", "kind", "workload", "cost"])
    daily_df = _add_owner_columns(daily_df, pods)
    return AllocationResult(
        window_start=start or utc(acc.first_ms), window_end=end or utc(acc.last_ms), total_cost=total,
        rows=rows, daily=daily_df, nodes=nodes, gpu_hours_capacity=sums["gpu_hours"],
        gpu_hours_allocated=sums["gpu_hours_allocated"], gpu_hours_used=sums["gpu_hours_used"],
        gpu_hours_busy=sums["gpu_hours_busy"], label_coverage=_coverage(rows, per_workload, pods),
        day_hours=_day_hours(acc, e.N_HOURS), gpu_memory_capacity=dict(acc.gpu_mem_capacity), owners=pods.owners,
        notes=list(notes))


def _finish_rows(rows: pd.DataFrame, total: float) -> pd.DataFrame:
    if rows.empty:
        rows["share"] = []
        return rows
    rows = rows.sort_values(["row_type", "total_cost"], ascending=[False, False], kind="stable").reset_index(drop=True)
    cents = round_to_cents(rows["total_cost"].to_numpy(), round(total * 100))
    for part in ("gpu_cost", "cpu_cost", "ram_cost"):
        rows[part] = rows[part].round(2)
    rows["total_cost"] = cents / 100.0
    rows["share"] = (rows["total_cost"] / total).round(6) if total else 0.0
    for col in ("gpu_hours", "gpu_hours_used", "cpu_core_hours", "mem_gib_hours"):
        rows[col] = rows[col].round(4)
    return rows


def _day_hours(acc, index: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for (_, date), v in acc.node.items():
        out[date] = out.get(date, 0.0) + float(v[index])
    return dict(sorted(out.items()))


def _unlabeled(key) -> Owner:
    return Owner(UNALLOCATED, UNALLOCATED, UNALLOCATED, infer_value_class(key[0], key[1]).name, True, frozenset())


def _add_owner_columns(daily: pd.DataFrame, pods) -> pd.DataFrame:
    owners = [pods.owners.get((r.namespace, r.kind, r.workload)) if r.row_type == "workload" else None
              for r in daily.itertuples(index=False)]
    for col in ("team", "project", "use_case", "value_class"):
        daily[col] = [getattr(o, col) if o else (UNALLOCATED if t == "workload" else IDLE)
                      for o, t in zip(owners, daily["row_type"], strict=True)]
    return daily.sort_values(["date", "row_type", "namespace", "workload"], kind="stable").reset_index(drop=True)


def _coverage(rows: pd.DataFrame, per_workload: dict, pods) -> dict[str, float]:
    work = rows[rows["row_type"] == "workload"]
    total = float(work["total_cost"].sum()) if len(work) else 0.0
    out = {}
    for dim in ("team", "project", "use_case"):
        if total <= 0:
            out[dim] = 0.0
            continue
        labeled = sum(float(r.total_cost) for r in work.itertuples(index=False)
                      if dim in getattr(pods.owners.get((r.namespace, r.kind, r.workload)), "labeled", ()))
        out[dim] = labeled / total
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Columnar in-memory buffer: one Python list per column, so a flush builds Arrow arrays without
per-row objects, and pyarrow is needed only at flush time."""

from __future__ import annotations

COLUMNS = {
    "gpu": ("ts", "node", "interval_s", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod", "container",
            "gpu_util", "sm_active", "sm_occupancy", "tensor_active", "dram_active", "mem_used_bytes",
            "mem_total_bytes", "power_w"),
    "container": ("ts", "node", "interval_s", "namespace", "pod", "container", "cpu_cores", "mem_bytes"),
    "pods": ("ts", "node", "namespace", "pod", "pod_uid", "workload_kind", "workload_name", "labels", "container",
             "cpu_request", "cpu_limit", "mem_request", "mem_limit", "gpu_resource", "gpu_request"),
    "nodes": ("ts", "node", "instance_type", "capacity_type", "zone", "region", "cpu_capacity", "mem_capacity",
              "gpu_count", "gpu_model", "labels"),
}


class ColumnBuffer:
    def __init__(self):
        self._cols = {t: {c: [] for c in cols} for t, cols in COLUMNS.items()}
        self._rows = dict.fromkeys(COLUMNS, 0)

    def append(self, table: str, common: dict, row: dict) -> None:
        """Add one row; ``common`` holds the values shared by the rows of a tick (ts, node, interval_s)."""
        for name, col in self._cols[table].items():
            col.append(row[name] if name in row else common.get(name))
        self._rows[table] += 1

    def rows(self, table: str | None = None) -> int:
        return self._rows[table] if table else sum(self._rows.values())

    def drain(self) -> dict[str, dict[str, list]]:
        """Take everything buffered ({table: {column: values}}, non-empty tables only) and start empty."""
        out = {t: cols for t, cols in self._cols.items() if self._rows[t]}
        self._cols = {t: {c: [] for c in cols} for t, cols in COLUMNS.items()}
        self._rows = dict.fromkeys(COLUMNS, 0)
        return out

    def restore(self, drained: dict[str, dict[str, list]]) -> None:
        """Put a drained batch back in front (a flush that could not write keeps its rows)."""
        for table, cols in drained.items():
            n = len(next(iter(cols.values())))
            for name, values in cols.items():
                self._cols[table][name][:0] = values
            self._rows[table] += n

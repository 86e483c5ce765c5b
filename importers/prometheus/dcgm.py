"""gpu rows from NVIDIA dcgm-exporter series (docs/prometheus.md, "gpu").

One row per (GPU or MIG instance, attributed pod, evaluation time) where ``DCGM_FI_DEV_FB_USED`` has a
point (memory used and total are required columns). Utilisation is ``DCGM_FI_DEV_GPU_UTIL / 100`` or,
where that is absent (MIG instances never report it), ``DCGM_FI_PROF_GR_ENGINE_ACTIVE``; the row's
``gpu_util_source`` names the field used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from importers.prometheus.series import Codes, Grid, Series, dense, regex_union, strings, timestamps

MIB = 1 << 20
UTIL, GR_ENGINE = "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
FB_USED, FB_FREE, FB_RESERVED = "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED"
POWER = "DCGM_FI_DEV_POWER_USAGE"
# column → (field, range function); fractions already 0..1
PROF_FIELDS = {
    "sm_active": "DCGM_FI_PROF_SM_ACTIVE",
    "sm_occupancy": "DCGM_FI_PROF_SM_OCCUPANCY",
    "tensor_active": "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "dram_active": "DCGM_FI_PROF_DRAM_ACTIVE",
}
ALL_FIELDS = (UTIL, GR_ENGINE, FB_USED, FB_FREE, FB_RESERVED, POWER, *PROF_FIELDS.values())
NODE_LABELS = ("Hostname", "hostname")  # renamed in dcgm-exporter d5e5f510 (2026-05); accept both
UUID_LABELS = ("UUID", "uuid")  # uuid with -o/--use-old-namespace
MODEL_LABELS = ("modelName", "model_name")
# Identity of a device (or MIG instance) and of a row; `max by` over these collapses duplicate scrapes.
DEVICE = (*UUID_LABELS, "GPU_I_ID", *NODE_LABELS)
POD_LABELS = ("namespace", "pod", "container", "exported_namespace", "exported_pod", "exported_container",
              "pod_namespace", "pod_name", "container_name")
ROW = (*DEVICE, "gpu", *MODEL_LABELS, "GPU_I_PROFILE", "vgpu", *POD_LABELS)
EXPORTER = "dcgm-exporter"


@dataclass(frozen=True)
class DcgmDialect:
    node_labels: tuple[str, ...]  # which of Hostname / hostname the series carry
    fields: frozenset[str]  # the DCGM fields that have series in the window
    exporter_pods: frozenset[tuple[str, str]] = frozenset()  # (namespace, pod) of dcgm-exporter itself
    selector: str = ""  # extra matchers, e.g. 'cluster="prod"'


def _sel(dialect: DcgmDialect, label: str, nodes: list[str] | None) -> str:
    parts = [dialect.selector] if dialect.selector else []
    if nodes is not None:
        parts.append(f"{label}=~{regex_union(nodes)}")
    return ",".join(parts)


def query(dialect: DcgmDialect, field: str, fn: str, step_s: int, nodes: list[str] | None,
          by: tuple[str, ...] = ROW, extra: str = "") -> str:
    """``max by (by) (fn(field{node in nodes}[step]))``, once per node label the dialect uses (`or`-ed:
    a node whose exporter was upgraded mid-window has both)."""
    labels = dialect.node_labels or ("Hostname",)
    parts = []
    for label in labels:
        sel = ",".join(p for p in (_sel(dialect, label, nodes), extra) if p)
        parts.append(f"max by ({', '.join(by)}) ({fn}({field}{{{sel}}}[{step_s}s]))")
    return " or ".join(parts)


def queries(dialect: DcgmDialect, step_s: int, nodes: list[str] | None) -> dict[str, str]:
    """The queries of one gpu chunk, by name."""
    f = dialect.fields
    q = {"used": query(dialect, FB_USED, "max_over_time", step_s, nodes)}
    # Device totals from the device-level series (vgpu absent): on a time-sliced GPU the per-pod copies of
    # FB_USED are per-process, so used + free + reserved of a copy is not the device's size.
    q["dev_used"] = query(dialect, FB_USED, "last_over_time", step_s, nodes, DEVICE, 'vgpu=""')
    if FB_FREE in f:
        q["dev_free"] = query(dialect, FB_FREE, "last_over_time", step_s, nodes, DEVICE)
    if FB_RESERVED in f:
        q["dev_reserved"] = query(dialect, FB_RESERVED, "last_over_time", step_s, nodes, DEVICE)
    if UTIL in f:
        q["util"] = query(dialect, UTIL, "avg_over_time", step_s, nodes)
    if GR_ENGINE in f:
        q["gr_engine"] = query(dialect, GR_ENGINE, "avg_over_time", step_s, nodes)
    for column, field in PROF_FIELDS.items():
        if field in f:
            q[column] = query(dialect, field, "avg_over_time", step_s, nodes)
    if POWER in f:
        q["power"] = query(dialect, POWER, "avg_over_time", step_s, nodes, DEVICE)
    return q


def _first(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        v = labels.get(n)
        if v:
            return v
    return None


def _key(labels: dict[str, str], names: tuple[str, ...]) -> tuple:
    return tuple(labels.get(n, "") for n in names)


def attribution(labels: dict[str, str], exporter_pods: frozenset) -> tuple[str | None, str | None, str | None]:
    """(namespace, pod, container) holding this GPU, or all None when it is allocated to nobody.

    ``exported_*`` win (Prometheus renamed the exporter's labels because the target's own pod labels,
    dcgm-exporter's, took ``pod``/``namespace``). Plain labels that name dcgm-exporter's own pod mean the
    GPU is allocated to nobody: the exporter never holds a GPU.
    """
    if labels.get("exported_pod"):
        return labels.get("exported_namespace") or None, labels["exported_pod"], labels.get("exported_container") or None
    if labels.get("pod_name"):  # dcgm-exporter -o (old namespace)
        return labels.get("pod_namespace") or None, labels["pod_name"], labels.get("container_name") or None
    pod = labels.get("pod")
    if not pod:
        return None, None, None
    ns, container = labels.get("namespace") or None, labels.get("container") or None
    if (ns, pod) in exporter_pods or EXPORTER in pod or (container and EXPORTER in container):
        return None, None, None
    return ns, pod, container


@dataclass
class GpuChunk:
    table: pa.Table
    rows_without_total: int = 0
    rows_without_model: int = 0


def build(results: dict[str, list[dict]], grid: Grid, step_s: int, dialect: DcgmDialect) -> GpuChunk:
    """The gpu rows of one chunk from the answers to ``queries``."""
    parsed = {name: dense(res, grid) for name, res in results.items()}
    by_row = {name: {_key(s.labels, ROW): s.values for s in parsed[name]}
              for name in ("util", "gr_engine", *PROF_FIELDS) if name in parsed}
    by_dev = {name: {_key(s.labels, DEVICE): s.values for s in parsed[name]}
              for name in ("dev_used", "dev_free", "dev_reserved", "power") if name in parsed}
    # Device-level values of the copied (not per-process) fields, for rows whose own series lacks them.
    dev_level = {name: {} for name in ("gr_engine", *PROF_FIELDS) if name in parsed}
    for name in dev_level:
        for s in parsed[name]:
            if not s.labels.get("vgpu"):
                dev_level[name].setdefault(_key(s.labels, DEVICE), s.values)
    used = parsed["used"]
    # A time-sliced GPU with --kubernetes-virtual-gpus: per-pod copies (vgpu="n") plus the device-level
    # series. Where copies exist, the device-level series is not another row (it would count twice).
    shared = {}
    for s in used:
        if s.labels.get("vgpu"):
            dev = _key(s.labels, DEVICE)
            has = ~np.isnan(s.values)
            shared[dev] = shared[dev] | has if dev in shared else has

    nan = np.full(grid.n, np.nan)
    ts_ms = grid.ts_ms()
    cols = {n: [] for n in ("idx", "gpu_util", "gr", "power", "used", "total", *PROF_FIELDS)}
    codes = {n: [] for n in ("node", "uuid", "model", "mig", "ns", "pod", "container")}
    dicts = {n: Codes() for n in codes}
    no_total = no_model = 0
    for s in used:
        lab = s.labels
        node, uuid = _first(lab, NODE_LABELS), _first(lab, UUID_LABELS)
        if not node or not uuid:
            continue
        dev = _key(lab, DEVICE)
        key = _key(lab, ROW)
        mask = ~np.isnan(s.values)
        if not lab.get("vgpu") and dev in shared:
            mask &= ~shared[dev]
        total = by_dev.get("dev_used", {}).get(dev, nan) + by_dev.get("dev_free", {}).get(dev, nan)
        reserved = by_dev.get("dev_reserved", {}).get(dev)
        if reserved is not None:
            total = total + np.nan_to_num(reserved)
        missing_total = mask & np.isnan(total)
        no_total += int(missing_total.sum())
        mask &= ~missing_total
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        gi = lab.get("GPU_I_ID") or None
        mig = lab.get("GPU_I_PROFILE") or None
        model = _first(lab, MODEL_LABELS)
        if model is None:
            no_model += len(idx)
            model = "unknown"
        ns, pod, container = attribution(lab, dialect.exporter_pods)
        cols["idx"].append(idx)
        cols["used"].append(s.values[idx])
        cols["total"].append(total[idx])
        cols["gpu_util"].append(by_row.get("util", {}).get(key, nan)[idx])
        gr = by_row.get("gr_engine", {}).get(key)
        if gr is None:
            gr = dev_level.get("gr_engine", {}).get(dev, nan)
        cols["gr"].append(gr[idx])
        for column in PROF_FIELDS:
            v = by_row.get(column, {}).get(key)
            if v is None:
                v = dev_level.get(column, {}).get(dev, nan)
            cols[column].append(v[idx])
        # board power is a device quantity; a MIG slice has none of its own
        cols["power"].append((nan if gi else by_dev.get("power", {}).get(dev, nan))[idx])
        for name, value in (("node", node), ("uuid", f"{uuid}/gi{gi}" if gi else uuid), ("model", model),
                            ("mig", mig), ("ns", ns), ("pod", pod), ("container", container)):
            codes[name].append(np.full(len(idx), dicts[name].code(value), dtype=np.int32))
    if not cols["idx"]:
        from store.schema import empty_table

        return GpuChunk(empty_table("gpu"), no_total, no_model)
    cat = {n: np.concatenate(v) for n, v in cols.items()}
    util = cat["gpu_util"] / 100.0
    source = np.where(~np.isnan(util), 0, np.where(~np.isnan(cat["gr"]), 1, -1))
    util = np.where(np.isnan(util), cat["gr"], util)
    table = {
        "ts": timestamps(ts_ms[cat["idx"]]),
        "node": strings(np.concatenate(codes["node"]), dicts["node"].values),
        "interval_s": pa.array(np.full(len(cat["idx"]), step_s, dtype=np.float32)),
        "gpu_uuid": strings(np.concatenate(codes["uuid"]), dicts["uuid"].values),
        "gpu_model": strings(np.concatenate(codes["model"]), dicts["model"].values),
        "mig_profile": strings(np.concatenate(codes["mig"]), dicts["mig"].values),
        "namespace": strings(np.concatenate(codes["ns"]), dicts["ns"].values),
        "pod": strings(np.concatenate(codes["pod"]), dicts["pod"].values),
        "container": strings(np.concatenate(codes["container"]), dicts["container"].values),
        "gpu_util": _fraction(util),
        **{c: _fraction(cat[c]) for c in PROF_FIELDS},
        "mem_used_bytes": pa.array(np.rint(np.maximum(cat["used"], 0) * MIB).astype(np.int64)),
        "mem_total_bytes": pa.array(np.rint(np.maximum(cat["total"], 0) * MIB).astype(np.int64)),
        "power_w": _float(np.maximum(cat["power"], 0)),
        "gpu_util_source": strings(source, [UTIL, GR_ENGINE]),
    }
    return GpuChunk(pa.table(table), no_total, no_model)


def _float(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.float32), mask=np.isnan(values))


def _fraction(values: np.ndarray) -> pa.Array:
    # DCGM can overshoot 100 % / 1.0 by rounding; the format holds fractions 0..1
    return _float(np.clip(values, 0.0, 1.0))


def series_nodes(series: list[Series]) -> set[str]:
    return {n for s in series if (n := _first(s.labels, NODE_LABELS))}

"""``autoscalers`` rows from kube-state-metrics' HorizontalPodAutoscaler series (docs/prometheus.md,
"autoscalers").

kube-state-metrics exports each HPA as ``kube_horizontalpodautoscaler_info`` (``scaletargetref_kind``,
``scaletargetref_name``), ``..._spec_min_replicas``, ``..._spec_max_replicas`` and one
``..._spec_target_metric`` per metric (``metric_name``, ``metric_target_type`` ∈ value | utilization |
average; the value is the target: a percentage for utilization, the quantity for the others). It does not
say which source a metric has (Resource, Pods, Object, External), so ``metrics`` is the HPA's
``spec.metrics`` as far as that tells: ``cpu`` and ``memory`` become ``Resource`` metrics (what a request
change moves), any other name ``{"metric": {"name"}, "target"}`` without a ``type``. KEDA's ScaledObjects
show up as the HPAs KEDA makes for them, named ``keda-hpa-<name>`` (KEDA's default): those rows are written
as ``ScaledObject <name>``, the object to change (KEDA puts back any edit of its HPA), with the metrics in
the HPA shape above; their ``min_replicas`` is the HPA's, 1 where the ScaledObject's is 0.

The table holds listings: every listing names every autoscaler present at its time (``recommend`` uses the
latest one). One listing is written on the state grid (``--state-step``) at the first point of each chunk
where an HPA is present, at each point where one appears, goes or changes, and at the chunk's last point;
the chunk's segment name is the same on a second run, which replaces it.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from importers.prometheus.series import Grid, dense, timestamps

HPA = "HorizontalPodAutoscaler"  # the table's autoscaler_kind (docs/data-format.md)
SCALED_OBJECT = "ScaledObject"
KEDA_HPA_PREFIX = "keda-hpa-"  # KEDA's name for the HPA of a ScaledObject (unless advanced.horizontalPodAutoscalerConfig.name)
NODE = "cluster"  # every table is partitioned by node; autoscalers belong to the cluster
PREFIX = "kube_horizontalpodautoscaler_"
_KEY = "namespace, horizontalpodautoscaler"
_TARGET_TYPES = {"utilization": ("Utilization", "averageUtilization"), "average": ("AverageValue", "averageValue"),
                 "value": ("Value", "value")}
RESOURCE_METRICS = ("cpu", "memory")


def _sel(selector: str) -> str:
    return "{" + selector + "}" if selector else ""


def queries(selector: str, state_s: int) -> dict[str, str]:
    s = _sel(selector)

    def last(metric: str, by: str) -> str:
        return f"max by ({by}) (last_over_time({PREFIX}{metric}{s}[{state_s}s]))"

    return {"info": last("info", f"{_KEY}, scaletargetref_kind, scaletargetref_name"),
            "min": last("spec_min_replicas", _KEY), "max": last("spec_max_replicas", _KEY),
            "target": last("spec_target_metric", f"{_KEY}, metric_name, metric_target_type")}


def _quantity(v: float) -> str:
    """A target value as the API writes a quantity: whole numbers plain, else in milli-units."""
    return str(int(v)) if float(v).is_integer() else f"{int(round(v * 1000))}m"


def metric_spec(name: str, target_type: str, value: float) -> dict | None:
    """One ``spec.metrics`` entry from a ``spec_target_metric`` series; None for an unknown target type."""
    known = _TARGET_TYPES.get(target_type)
    if known is None:
        return None
    kind, field = known
    target = {"type": kind, field: int(round(value)) if kind == "Utilization" else _quantity(value)}
    if name in RESOURCE_METRICS:
        return {"type": "Resource", "resource": {"name": name, "target": target}}
    return {"metric": {"name": name}, "target": target}


def build(results: dict[str, list[dict]], coarse: Grid) -> pa.Table | None:
    """The listings of one chunk (None when no HPA is present in it)."""
    n = coarse.n
    info: dict[tuple, tuple[np.ndarray, tuple[str, str]]] = {}
    for s in dense(results.get("info", []), coarse):
        key = (s.labels.get("namespace"), s.labels.get("horizontalpodautoscaler"))
        if None in key or key in info:  # a duplicate series (two KSM replicas): the first one
            continue
        info[key] = (~np.isnan(s.values), (s.labels.get("scaletargetref_kind") or "Deployment",
                                           s.labels.get("scaletargetref_name") or ""))
    if not info:
        return None
    bounds = {name: {} for name in ("min", "max")}
    for name in bounds:
        for s in dense(results.get(name, []), coarse):
            bounds[name].setdefault((s.labels.get("namespace"), s.labels.get("horizontalpodautoscaler")), s.values)
    targets: dict[tuple, list[tuple[str, str, np.ndarray]]] = {}
    for s in dense(results.get("target", []), coarse):
        key = (s.labels.get("namespace"), s.labels.get("horizontalpodautoscaler"))
        targets.setdefault(key, []).append((s.labels.get("metric_name") or "", s.labels.get("metric_target_type") or "",
                                            s.values))

    def spec_at(key, i: int):
        present, (kind, name) = info[key]
        if not present[i]:
            return None
        lo, hi = (bounds[b].get(key, np.full(n, np.nan))[i] for b in ("min", "max"))
        metrics = [m for metric, ttype, v in sorted(targets.get(key, []), key=lambda t: t[:2])
                   if not np.isnan(v[i]) and (m := metric_spec(metric, ttype, float(v[i]))) is not None]
        return (kind, name, None if np.isnan(lo) else int(lo), None if np.isnan(hi) else int(hi),
                json.dumps(metrics, sort_keys=True))

    keys = sorted(info)
    states = [tuple(spec_at(k, i) for k in keys) for i in range(n)]
    present = [i for i in range(n) if any(x is not None for x in states[i])]
    listed = [i for j, i in enumerate(present) if j == 0 or states[i] != states[present[j - 1]] or i == present[-1]]
    cols = {c: [] for c in ("ts", "namespace", "autoscaler_name", "target_kind", "target_name", "min_replicas",
                            "max_replicas", "metrics")}
    ts_ms = coarse.ts_ms()
    for i in listed:
        for key, spec in zip(keys, states[i], strict=True):
            if spec is None:
                continue
            for c, v in zip(cols, (ts_ms[i], *key, *spec), strict=True):
                cols[c].append(v)
    rows = len(cols["ts"])
    kinds = [SCALED_OBJECT if n.startswith(KEDA_HPA_PREFIX) else HPA for n in cols["autoscaler_name"]]
    names = [n.removeprefix(KEDA_HPA_PREFIX) for n in cols["autoscaler_name"]]
    return pa.table({"ts": timestamps(np.asarray(cols["ts"], dtype=np.int64)), "node": [NODE] * rows,
                     "namespace": cols["namespace"], "autoscaler_kind": kinds, "autoscaler_name": names, "target_kind": cols["target_kind"],
                     "target_name": cols["target_name"],
                     "min_replicas": pa.array(cols["min_replicas"], pa.int32()),
                     "max_replicas": pa.array(cols["max_replicas"], pa.int32()), "metrics": cols["metrics"]})


def import_chunks(client, chunks: list[tuple[str, Grid]], selector: str, state_s: int, writer, location,
                  state_dir: str) -> int:
    """Fetch and write the listings of every chunk (segment name, state grid) not done by an earlier run into
    the same root; returns the rows written. A chunk is done once its marker is under
    ``<state_dir>/done-autoscalers/``; a chunk whose grid grew (a later --end) is fetched again and its
    segment replaced."""
    import hashlib

    folder = f"{state_dir}/done-autoscalers"
    done = {p.rsplit("/", 1)[-1].removesuffix(".json") for p in location.list_files(folder)}
    rows = 0
    for segment, coarse in chunks:
        qs = queries(selector, state_s)
        spec = {"segment": segment, "t0": coarse.t0, "n": coarse.n, "step": coarse.step, "queries": qs}
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
        if key in done:
            continue
        results = {name: client.query_range(q, coarse.t0, coarse.end, coarse.step) for name, q in qs.items()}
        table = build(results, coarse)
        n = 0 if table is None else table.num_rows
        if n:
            writer.write("autoscalers", table, segment=segment)
            rows += n
        location.write_atomic(f"{folder}/{key}.json", json.dumps({"segment": segment, "rows": n}).encode())
    return rows

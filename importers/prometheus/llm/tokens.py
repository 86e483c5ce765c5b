"""tokens rows from the model servers' own series (docs/prometheus.md, "LLM serving series").

Every series is fetched as its raw value at each step, ``last_over_time(m[S])``, on a grid that starts one
step before the chunk, so the chunk's first row has the value before it; increments are computed here
(``counters.py``). A row is (ts, namespace, pod, server, model) where prompt or generation tokens have an
increment; a row's series (vLLM engines, ``finished_reason``s, Triton model versions) are summed, and
duplicate scrapes of one server (two monitors, HA replicas) are collapsed with ``max`` first.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from importers.prometheus.llm.catalog import FAMILIES, SCRAPE_LABELS, engine, target
from importers.prometheus.llm.counters import sibling_increments
from importers.prometheus.llm.discovery import LlmDialect
from importers.prometheus.series import Grid, dense, regex_union

POD_INFO = "pod_info"


def extended(grid: Grid) -> Grid:
    """The chunk's grid with one more point before it (the value before the chunk's first row)."""
    return Grid(grid.t0 - grid.step, grid.step, grid.n + 1)


def _sel(d: LlmDialect, *parts: str) -> str:
    body = ",".join(p for p in (d.selector, *parts) if p)
    return "{" + body + "}" if body else ""


def queries(d: LlmDialect, grid: Grid, step_s: int) -> dict[str, tuple[str, Grid]]:
    """The queries of one tokens chunk, by name (``family|metric`` and ``pod_info``)."""
    ext = extended(grid)
    drop = ", ".join(SCRAPE_LABELS)
    q: dict[str, tuple[str, Grid]] = {}
    for name in d.families:
        for metric in FAMILIES[name].all_metrics():
            if metric in d.metrics:
                q[f"{name}|{metric}"] = (f"max without ({drop}) (last_over_time({metric}{_sel(d)}[{step_s}s]))", ext)
    if d.pods:
        sel = _sel(d, 'node!=""', "pod=~" + regex_union(sorted({p for _, p in d.pods})))
        q[POD_INFO] = (f"max by (namespace, pod, node) (last_over_time(kube_pod_info{sel}[{step_s}s]))", ext)
    return q


@dataclass
class _Row:
    """The series of one (server, namespace, pod, model) in a chunk, by metric."""

    family: str
    container: str | None = None
    # series whose target carries a `node` label: (first point, node, values) for placing the row's points
    node_labelled: list[tuple[int, str, np.ndarray]] = field(default_factory=list)
    series: dict[str, list[tuple[dict, np.ndarray]]] = field(default_factory=dict)


def build(results: dict[str, list[dict]], grid: Grid, step_s: int, d: LlmDialect) -> pa.Table:
    """The tokens rows of one chunk from the answers to ``queries``."""
    from store.schema import conform, empty_table

    ext = extended(grid)
    keyed: dict[tuple, _Row] = {}
    infos: dict[tuple[str, str], list[tuple[dict, np.ndarray]]] = {}
    for name, result in results.items():
        if name == POD_INFO:
            continue
        family, metric = name.split("|", 1)
        for s in dense(result, ext):
            t = target(s.labels, family)
            if t is None:
                continue
            if metric in FAMILIES[family].cache_info:
                infos.setdefault((t.namespace, t.pod), []).append((s.labels, s.values))
                continue
            row = keyed.setdefault((t.server, t.namespace, t.pod, t.model), _Row(family))
            row.container = row.container or t.container
            seen = np.flatnonzero(~np.isnan(s.values))
            if t.node and len(seen):
                row.node_labelled.append((int(seen[0]), t.node, s.values))
            row.series.setdefault(metric, []).append((s.labels, s.values))
    if not keyed:
        return empty_table("tokens")
    placement = _placement(dense(results.get(POD_INFO, []), ext), ext.n, d.node_map())
    ts_ms = ext.ts_ms()[1:]
    parts: list[dict] = []
    for (server, ns, pod, model), row in sorted(keyed.items(), key=lambda kv: tuple(x or "" for x in kv[0])):
        cols = _columns(row, FAMILIES[row.family], infos.get((ns, pod), []), model, grid.n)
        keep = ~np.isnan(cols["prompt_tokens"]) | ~np.isnan(cols["generation_tokens"])
        nodes = _newest(row.node_labelled, ext.n)[1:]
        placed = placement.get((ns, pod))
        if placed is not None:
            nodes = np.where(nodes == None, placed, nodes)  # noqa: E711 (element-wise on an object array)
        keep &= np.array([n is not None for n in nodes], dtype=bool)
        idx = np.flatnonzero(keep)
        if not len(idx):
            continue
        k = len(idx)
        part = {"ts": ts_ms[idx], "node": list(nodes[idx]), "interval_s": np.full(k, float(step_s)),
                "namespace": [ns] * k, "pod": [pod] * k, "container": [row.container] * k, "server": [server] * k,
                "model": [model] * k, "prompt_tokens_hist": [cols["prompt_tokens_hist"][i] for i in idx]}
        for c, v in cols.items():
            if c != "prompt_tokens_hist":
                part[c] = v[idx]
        parts.append(part)
    if not parts:
        return empty_table("tokens")
    return conform("tokens", _table(parts))


def _sum(values: list[np.ndarray], n: int) -> np.ndarray:
    if not values:
        return np.full(n, np.nan)
    stack = np.vstack(values)
    out = np.nansum(stack, axis=0)
    out[np.isnan(stack).all(axis=0)] = np.nan
    return out


def _counter(row: _Row, metrics: tuple[str, ...], n: int, *, summed: bool = False) -> np.ndarray:
    """A counter column: the increments of the row's series of the first metric it has (or of all the
    metrics, ``summed``), without the point before the chunk."""
    chosen = [m for m in metrics if m in row.series]
    if not summed:
        chosen = chosen[:1]
    values = [v for m in chosen for _, v in row.series[m]]
    return _sum(sibling_increments(values), n + 1)[1:] if values else np.full(n, np.nan)


def _columns(row: _Row, fam, infos: list[tuple[dict, np.ndarray]], model: str | None, n: int) -> dict:
    cols = {
        "prompt_tokens": _counter(row, (fam.prompt,), n),
        "generation_tokens": _counter(row, (fam.generation,), n),
        "cached_prompt_tokens": _counter(row, fam.cached, n),
        "requests": _counter(row, fam.requests, n, summed=True),
        "prefill_seconds": _counter(row, fam.prefill, n),
        "decode_seconds": _counter(row, fam.decode, n),
    }
    kv = np.full(n, np.nan)
    for metric in fam.kv_usage:
        if metric in row.series:  # several engines: their mean (equal pools)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN step is a gap, not a problem
                kv = np.nanmean(np.vstack([v for _, v in row.series[metric]]), axis=0)[1:]
            break
    cols["kv_cache_usage"] = np.clip(kv, 0.0, 1.0)
    cols["kv_cache_capacity_tokens"], cols["gpu_memory_utilization"] = _cache_config(infos, model, n)
    cols["prompt_tokens_hist"] = _histogram(row, fam.prompt_hist, n)
    return cols


def _number(labels: dict, name: str) -> float | None:
    try:
        v = float(labels.get(name, ""))
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


def _cache_config(infos: list[tuple[dict, np.ndarray]], model: str | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """KV-cache pool size (num_gpu_blocks × block_size) and gpu_memory_utilization from vLLM's
    ``cache_config_info`` of the pod: the entries naming this model, else those naming none. Engines' pools
    add up; two entries of one engine at one step (a restart with another config) give the larger."""
    own = [(lab, v) for lab, v in infos if (lab.get("model_name") or lab.get("model")) == model]
    if not own:
        own = [(lab, v) for lab, v in infos if not (lab.get("model_name") or lab.get("model"))]
    per_engine: dict[tuple, np.ndarray] = {}
    gmu = np.full(n + 1, np.nan)
    for lab, values in own:
        blocks, size = _number(lab, "num_gpu_blocks"), _number(lab, "block_size")
        seen = ~np.isnan(values)
        if blocks is not None and size is not None:
            cap = np.where(seen, blocks * size, np.nan)
            e = engine(lab)
            per_engine[e] = np.fmax(per_engine[e], cap) if e in per_engine else cap
        share = _number(lab, "gpu_memory_utilization")
        if share is not None:
            gmu = np.fmax(gmu, np.where(seen, min(share, 1.0), np.nan))
    cap = _sum(list(per_engine.values()), n + 1)
    return cap[1:], gmu[1:]


def _le(value: str) -> str | None:
    try:
        b = float(value)
    except ValueError:
        return None
    if math.isinf(b):
        return "+Inf"
    return str(int(b)) if b.is_integer() else repr(b)


def _histogram(row: _Row, metrics: tuple[str, ...], n: int) -> list[str | None]:
    """Per row, the increments of the histogram's cumulative buckets as JSON ``{"le": count}``."""
    metric = next((m for m in metrics if m in row.series), None)
    if metric is None:
        return [None] * n
    series = [(le, v) for lab, v in row.series[metric] if (le := _le(lab.get("le", ""))) is not None]
    inc = sibling_increments([v for _, v in series])
    by_le: dict[str, list[np.ndarray]] = {}
    for (le, _), values in zip(series, inc, strict=True):
        by_le.setdefault(le, []).append(values)
    bounds = sorted(by_le, key=float)
    counts = np.vstack([_sum(by_le[le], n + 1)[1:] for le in bounds])  # buckets × rows
    valid = ~np.isnan(counts)
    whole = np.rint(np.maximum(np.nan_to_num(counts), 0)).astype(np.int64).T.tolist()
    complete = valid.all(axis=0).tolist()
    # every bucket at a step (the usual case): one string format, not a dict and json.dumps per row
    template = "{" + ",".join(f'"{le}":%d' for le in bounds) + "}"
    out: list[str | None] = []
    for i in range(n):
        if complete[i]:
            out.append(template % tuple(whole[i]))
        elif valid[:, i].any():
            got = {le: whole[i][k] for k, le in enumerate(bounds) if valid[k, i]}
            out.append(json.dumps(got, separators=(",", ":")))
        else:
            out.append(None)
    return out


def _placement(info, n: int, window: dict[tuple[str, str], tuple[str, ...]]) -> dict[tuple[str, str], np.ndarray]:
    """(namespace, pod) → its node at each row of the chunk (None: unknown).

    From ``kube_pod_info`` at the step; where two nodes report the pod at one step (it was recreated on
    another node within the step) the newer placement wins; a step without a point takes the pod's node at
    the nearest step before it, else after it, else its only node in the window."""
    series: dict[tuple[str, str], list[tuple[int, str, np.ndarray]]] = {}
    for s in info:
        ns, pod, node = s.labels.get("namespace"), s.labels.get("pod"), s.labels.get("node")
        seen = np.flatnonzero(~np.isnan(s.values))
        if ns and pod and node and len(seen):
            series.setdefault((ns, pod), []).append((int(seen[0]), node, s.values))
    out: dict[tuple[str, str], np.ndarray] = {}
    for key in set(series) | set(window):
        nodes = _newest(series.get(key, []), n)
        known = np.flatnonzero(nodes != None)  # noqa: E711 (element-wise on an object array)
        if len(known):
            # forward fill, then the first known value backwards
            pos = np.maximum.accumulate(np.where(nodes != None, np.arange(n), -1))  # noqa: E711
            nodes = np.where(pos >= 0, nodes[np.maximum(pos, 0)], nodes[known[0]])
        elif len(window.get(key, ())) == 1:
            nodes[:] = window[key][0]
        out[key] = nodes[1:]
    return out


def _newest(placements: list[tuple[int, str, np.ndarray]], n: int) -> np.ndarray:
    """Each point's node from series that say where the pod ran; the series that started later wins a point
    both have (the pod was recreated on another node within that step). None where no series has a point."""
    nodes = np.full(n, None, dtype=object)
    for _, node, values in sorted(placements, key=lambda x: x[0]):
        nodes[~np.isnan(values)] = node
    return nodes


def _table(parts: list[dict]) -> pa.Table:
    from store.schema import TS

    def ints(name):
        v = np.concatenate([p[name] for p in parts])
        return pa.array(np.rint(np.nan_to_num(np.maximum(v, 0))).astype(np.int64), mask=np.isnan(v))

    def floats(name, dtype):
        v = np.concatenate([p[name] for p in parts])
        return pa.array(np.nan_to_num(np.maximum(v, 0)).astype(dtype), mask=np.isnan(v))

    def strings(name):
        return pa.array([x for p in parts for x in p[name]], type=pa.string())

    return pa.table({
        "ts": pa.array(np.concatenate([p["ts"] for p in parts]).astype(np.int64)).view(TS),
        "node": strings("node"), "interval_s": floats("interval_s", np.float32),
        "namespace": strings("namespace"), "pod": strings("pod"), "container": strings("container"),
        "server": strings("server"), "model": strings("model"),
        **{c: ints(c) for c in ("prompt_tokens", "generation_tokens", "cached_prompt_tokens", "requests",
                                "kv_cache_capacity_tokens")},
        "kv_cache_usage": floats("kv_cache_usage", np.float32),
        "prefill_seconds": floats("prefill_seconds", np.float64),
        "decode_seconds": floats("decode_seconds", np.float64),
        "prompt_tokens_hist": strings("prompt_tokens_hist"),
        "gpu_memory_utilization": floats("gpu_memory_utilization", np.float32),
    })

"""What the model servers served in a window: the ``tokens`` table (docs/data-format.md) summed per serving
pod and model. Every LLM consumer of a ``recommend`` run (the $ per 1M tokens in tokens.csv, the KV-aware
memory need, the managed-API comparison, the token guard rails) reads these summaries, built from one read
of the table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optimizer.scan import dictionary_codes

TABLE = "tokens"


@dataclass
class ServingUsage:
    """One serving pod × model over the window (token sums; KV-cache figures where the server exports them)."""

    namespace: str
    pod: str
    server: str
    model: str | None
    node: str
    container: str | None
    seconds: float  # seconds the rows cover
    rows: int
    prompt_tokens: int
    generation_tokens: int
    cached_prompt_tokens: int | None  # None: not exported
    requests: int | None
    prefill_seconds: float | None
    decode_seconds: float | None
    kv_usage_p99: float | None  # time-weighted p99 of kv_cache_usage (0..1)
    kv_usage_max: float | None
    kv_capacity_tokens: int | None  # the largest pool size reported
    gpu_memory_utilization: float | None  # the last value reported
    prompt_hist: dict[float, int] = field(default_factory=dict)  # le -> requests (cumulative buckets)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generation_tokens


def bucket_quantile(hist: dict[float, int], q: float) -> float | None:
    """The q-quantile of a cumulative-bucket histogram ({le: count}): linear within a bucket, and the last
    finite bound for the top bucket (never extrapolated). None: no histogram or no counts."""
    if not hist:
        return None
    bounds = sorted(hist)
    counts = [hist[b] for b in bounds]
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    prev_b, prev_c = 0.0, 0
    for b, c in zip(bounds, counts, strict=True):
        if c >= rank:
            if np.isinf(b):
                return prev_b  # above the last finite bound: the bound itself, never extrapolated
            if c == prev_c:
                return b
            return prev_b + (b - prev_b) * (rank - prev_c) / (c - prev_c)
        prev_b, prev_c = b, c
    return bounds[-1] if not np.isinf(bounds[-1]) else prev_b


def read_tokens(dataset, start: datetime | None = None, end: datetime | None = None) -> pa.Table | None:
    """The tokens rows of the window, or None when the dataset has no tokens table."""
    if TABLE not in dataset.tables():
        return None
    # millions of rows for a week of servers keyed by a few strings: those stay dictionary-encoded
    return dataset.read(TABLE, start, end, keep_dictionary=True)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[min(np.searchsorted(cum, q * cum[-1], side="left"), len(v) - 1)])


def _sum_or_none(col: np.ndarray, valid: np.ndarray):
    return None if not valid.any() else col[valid].sum()


def serving_usage(table: pa.Table | None) -> list[ServingUsage]:
    """The rows summed per (namespace, pod, server, model), in key order.

    A week of a few dozen servers at 10 s is millions of rows: the rows are grouped by their key columns'
    dictionary codes and summed with numpy; only the non-null prompt histograms (JSON text) are parsed,
    each distinct text once."""
    if table is None or table.num_rows == 0:
        return []
    key_cols = ("namespace", "pod", "server", "model")
    codes, values = zip(*(dictionary_codes(table.column(c)) for c in key_cols), strict=True)
    combined = np.zeros(table.num_rows, np.int64)
    for c, v in zip(codes, values, strict=True):
        combined = combined * (len(v) + 1) + (c + 1)
    uniq, group = np.unique(combined, return_inverse=True)
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(len(uniq) + 1))

    hists = _histograms(table.column("prompt_tokens_hist"), group, len(uniq))
    keys = []
    for g, u in enumerate(uniq.tolist()):
        parts = []
        for v in reversed(values):
            u, i = divmod(u, len(v) + 1)
            parts.append(None if i == 0 else v[i - 1])
        keys.append((tuple(reversed(parts)), g))
    summed = table.select([*_INT_COLUMNS, *_FLOAT_COLUMNS, "interval_s", "ts", "node", "container"])
    out = []
    for key, g in sorted(keys, key=lambda kg: tuple("" if x is None else x for x in kg[0])):
        # one pod's rows at a time: the table stays as read, only this group's columns become numpy
        rows = summed.take(pa.array(order[bounds[g]:bounds[g + 1]]))
        out.append(_summary(key, rows, hists[g]))
    return out


_INT_COLUMNS = ("prompt_tokens", "generation_tokens", "cached_prompt_tokens", "requests", "kv_cache_capacity_tokens")
_FLOAT_COLUMNS = ("prefill_seconds", "decode_seconds", "kv_cache_usage", "gpu_memory_utilization")


def _summary(key: tuple, rows: pa.Table, hist: dict[float, int]) -> ServingUsage:
    """One (namespace, pod, server, model)'s rows, in the table's order, summed."""

    def arr(name, dtype=float):
        col = rows.column(name)
        valid = pc.is_valid(col).to_numpy(zero_copy_only=False)
        values = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(dtype)
        return values, valid

    interval, _ = arr("interval_s")
    cols = {c: arr(c, np.int64) for c in _INT_COLUMNS}
    cols.update({c: arr(c) for c in _FLOAT_COLUMNS})
    ts = rows.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    kv, kv_ok = cols["kv_cache_usage"]
    cap, cap_ok = cols["kv_cache_capacity_tokens"]
    gmu, gmu_ok = cols["gpu_memory_utilization"]
    last = int(np.argmax(ts))
    gmu_last = float(gmu[gmu_ok][np.argmax(ts[gmu_ok])]) if gmu_ok.any() else None

    def total(c, cast=int):
        s = _sum_or_none(*cols[c])
        return None if s is None else cast(s)

    ns, pod, server, model = key
    return ServingUsage(
        namespace=ns, pod=pod, server=server, model=model, node=rows.column("node")[last].as_py(),
        container=rows.column("container")[last].as_py(), seconds=float(interval.sum()), rows=rows.num_rows,
        prompt_tokens=total("prompt_tokens") or 0, generation_tokens=total("generation_tokens") or 0,
        cached_prompt_tokens=total("cached_prompt_tokens"), requests=total("requests"),
        prefill_seconds=total("prefill_seconds", float), decode_seconds=total("decode_seconds", float),
        kv_usage_p99=_weighted_quantile(kv[kv_ok], interval[kv_ok], 0.99) if kv_ok.any() else None,
        kv_usage_max=float(kv[kv_ok].max()) if kv_ok.any() else None,
        kv_capacity_tokens=int(cap[cap_ok].max()) if cap_ok.any() else None,
        gpu_memory_utilization=gmu_last, prompt_hist=hist)


def _histograms(col: pa.ChunkedArray, group: np.ndarray, groups: int) -> list[dict[float, int]]:
    """Each group's prompt-length histogram: the bucket counts of its rows' JSON texts summed (each distinct
    text parsed once, weighted by how often the group has it)."""
    out: list[dict[float, int]] = [{} for _ in range(groups)]
    code, texts = dictionary_codes(col)
    has = code >= 0
    if not has.any():
        return out
    pair = group[has] * len(texts) + code[has]
    pairs, counts = np.unique(pair, return_counts=True)
    parsed: dict[int, list[tuple[float, int]]] = {}
    for p, n in zip(pairs.tolist(), counts.tolist(), strict=True):
        g, t = divmod(p, len(texts))
        if t not in parsed:
            parsed[t] = [(float(le), int(c)) for le, c in json.loads(texts[t]).items()] if texts[t] else []
        hist = out[g]
        for le, c in parsed[t]:
            hist[le] = hist.get(le, 0) + c * n
    return out

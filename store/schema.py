"""Arrow schemas of dataset format v1 (docs/data-format.md; a contract: extend with nullable columns, never break).

Layout: ``<root>/<table>/date=YYYY-MM-DD/node=<node>/<segment>.parquet``. Every sample row covers the
interval ``(ts - interval_s, ts]``; aggregations weight rows by ``interval_s``.
"""

from __future__ import annotations

import pyarrow as pa

FORMAT_VERSION = 1
TS = pa.timestamp("ms", tz="UTC")

# (name, type, nullable). Nullable here means "null is a legal value", not "may be absent".
_GPU = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("interval_s", pa.float32(), False),
    ("gpu_uuid", pa.string(), False),
    ("gpu_model", pa.string(), False),
    ("mig_profile", pa.string(), True),
    ("namespace", pa.string(), True),
    ("pod", pa.string(), True),
    ("container", pa.string(), True),
    ("gpu_util", pa.float32(), True),
    ("sm_active", pa.float32(), True),
    ("sm_occupancy", pa.float32(), True),
    ("tensor_active", pa.float32(), True),
    ("dram_active", pa.float32(), True),
    ("mem_used_bytes", pa.int64(), False),
    ("mem_total_bytes", pa.int64(), False),
    ("power_w", pa.float32(), True),
    # v1 extension (2026-12): which counter gpu_util came from, where the writer knows it; see ADDED_COLUMNS
    ("gpu_util_source", pa.string(), True),
]
_CONTAINER = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("interval_s", pa.float32(), False),
    ("namespace", pa.string(), False),
    ("pod", pa.string(), False),
    ("container", pa.string(), False),
    ("cpu_cores", pa.float32(), True),
    ("mem_bytes", pa.int64(), True),
]
_PODS = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("namespace", pa.string(), False),
    ("pod", pa.string(), False),
    ("pod_uid", pa.string(), True),
    ("workload_kind", pa.string(), False),
    ("workload_name", pa.string(), False),
    ("labels", pa.string(), True),
    ("container", pa.string(), False),
    ("cpu_request", pa.float64(), True),
    ("cpu_limit", pa.float64(), True),
    ("mem_request", pa.int64(), True),
    ("mem_limit", pa.int64(), True),
    ("gpu_resource", pa.string(), True),
    ("gpu_request", pa.float64(), True),
]
_NODES = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("instance_type", pa.string(), True),
    ("capacity_type", pa.string(), True),
    ("zone", pa.string(), True),
    ("region", pa.string(), True),
    ("cpu_capacity", pa.float64(), True),
    ("mem_capacity", pa.int64(), True),
    ("gpu_count", pa.int32(), True),
    ("gpu_model", pa.string(), True),
    ("labels", pa.string(), True),
]

# Autoscalers (HorizontalPodAutoscaler, KEDA ScaledObject) as the report job lists them from the API: one
# row per autoscaler per listing. ``node`` is every table's partition key; here always "cluster".
_AUTOSCALERS = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("namespace", pa.string(), False),
    ("autoscaler_kind", pa.string(), False),
    ("autoscaler_name", pa.string(), False),
    ("target_kind", pa.string(), False),
    ("target_name", pa.string(), False),
    ("min_replicas", pa.int32(), True),
    ("max_replicas", pa.int32(), True),
    ("metrics", pa.string(), True),
]

# LLM serving counters (vLLM, SGLang, TGI, NIM, Triton's vLLM backend) per pod, model and interval: the
# counters' increments over (ts - interval_s, ts], counter resets handled by the writer. Filled by the
# Prometheus import and the simulator; a dataset without this table is complete (docs/data-format.md).
_TOKENS = [
    ("ts", TS, False),
    ("node", pa.string(), False),
    ("interval_s", pa.float32(), False),
    ("namespace", pa.string(), False),
    ("pod", pa.string(), False),
    ("container", pa.string(), True),
    ("server", pa.string(), False),
    ("model", pa.string(), True),
    ("prompt_tokens", pa.int64(), True),
    ("generation_tokens", pa.int64(), True),
    ("cached_prompt_tokens", pa.int64(), True),
    ("requests", pa.int64(), True),
    ("kv_cache_usage", pa.float32(), True),
    ("kv_cache_capacity_tokens", pa.int64(), True),
    # increments of the prefill / decode time histograms' _sum (seconds), where the server exports them:
    # the measured time shares that split a pod's cost between prompt and generation tokens
    ("prefill_seconds", pa.float64(), True),
    ("decode_seconds", pa.float64(), True),
    # increments of the prompt-length histogram's buckets as a JSON object {"le": count} (p99 prompt length)
    ("prompt_tokens_hist", pa.string(), True),
    # the server's pre-allocated share of GPU memory (vLLM --gpu-memory-utilization), where it says
    ("gpu_memory_utilization", pa.float32(), True),
]

SERVERS = ("vllm", "sglang", "tgi", "nim", "triton")


def _schema(fields) -> pa.Schema:
    return pa.schema([pa.field(n, t, nullable=nullable) for n, t, nullable in fields])


SCHEMAS: dict[str, pa.Schema] = {
    "gpu": _schema(_GPU),
    "container": _schema(_CONTAINER),
    "pods": _schema(_PODS),
    "nodes": _schema(_NODES),
    "autoscalers": _schema(_AUTOSCALERS),
    "tokens": _schema(_TOKENS),
}
TABLES = tuple(SCHEMAS)
# What the agent writes; ``autoscalers`` (report time) and ``tokens`` (Prometheus import) may be absent.
AGENT_TABLES = ("gpu", "container", "pods", "nodes")

# Nullable columns added to v1 after its first release (docs/data-format.md, Versioning). Writers always
# write them; a file written before them lacks them and reads as if they were all null.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {"gpu": ("gpu_util_source",)}

# Sample tables carry interval_s; state tables (pods, nodes) are change logs.
SAMPLE_TABLES = ("gpu", "container")

# Columns that must never be negative (NaN is rejected in every float column).
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "gpu": ("interval_s", "gpu_util", "sm_active", "sm_occupancy", "tensor_active", "dram_active",
            "mem_used_bytes", "mem_total_bytes", "power_w"),
    "container": ("interval_s", "cpu_cores", "mem_bytes"),
    "pods": ("cpu_request", "cpu_limit", "mem_request", "mem_limit", "gpu_request"),
    "nodes": ("cpu_capacity", "mem_capacity", "gpu_count"),
    "autoscalers": ("min_replicas", "max_replicas"),
    "tokens": ("interval_s", "prompt_tokens", "generation_tokens", "cached_prompt_tokens", "requests",
               "kv_cache_usage", "kv_cache_capacity_tokens", "prefill_seconds", "decode_seconds",
               "gpu_memory_utilization"),
}
# Fractions that must lie in 0..1.
FRACTIONS: dict[str, tuple[str, ...]] = {
    "gpu": ("gpu_util", "sm_active", "sm_occupancy", "tensor_active", "dram_active"),
    "tokens": ("kv_cache_usage", "gpu_memory_utilization"),
}

CAPACITY_TYPES = ("on-demand", "spot")


def empty_table(table: str) -> pa.Table:
    return SCHEMAS[table].empty_table()


def conform(table: str, data: pa.Table | dict, *, where: str | None = None) -> pa.Table:
    """Return ``data`` as a table with exactly the v1 schema of ``table`` (column order, types).

    Accepts a dict of columns or a table; missing nullable columns become null, extra columns are
    dropped. Timestamps of any unit are truncated to milliseconds; naive ones are taken as UTC. Used by
    writers so a segment on disk always has the full schema, whatever produced it. Raises ``UserError``
    naming ``where`` (default: the table) and the column when a column is missing or cannot be cast.
    """
    from store.errors import DataError

    where = where or table
    schema = SCHEMAS[table]
    if isinstance(data, dict):
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise DataError(where, f"columns have different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        names = data
    else:
        n = data.num_rows
        names = data.column_names
    cols = []
    for f in schema:
        if f.name not in names:
            if f.nullable:
                cols.append(pa.nulls(n, type=f.type))
                continue
            raise DataError(where, "missing (required by dataset format v1)", f.name)
        values = data[f.name] if isinstance(data, dict) else data.column(f.name)
        try:
            if isinstance(values, pa.Array | pa.ChunkedArray):
                col = values.cast(f.type, safe=not pa.types.is_timestamp(f.type))
            elif pa.types.is_timestamp(f.type):
                col = pa.array(values).cast(f.type, safe=False)
            else:
                col = pa.array(values, type=f.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(where, f"cannot be stored as {f.type} ({first})", f.name) from None
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=schema)

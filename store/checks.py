"""Contract checks shared by the writer (before anything is written) and the reader (every file it reads).

Each check raises ``DataError`` naming the file (or the destination, for the writer) and the column, so
the CLI can print one line and exit 2.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from store.errors import DataError
from store.schema import ADDED_COLUMNS, CAPACITY_TYPES, FRACTIONS, NON_NEGATIVE, SCHEMAS

_UTC_NAMES = ("UTC", "+00:00", "Etc/UTC", "Z", "utc")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Columns holding a JSON object as text.
JSON_COLUMNS: dict[str, tuple[str, ...]] = {"pods": ("labels",), "nodes": ("labels",)}


def is_compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """True when a file's column type can stand for the v1 type without losing meaning.

    Exact types always; any string flavour (large_string from polars, dictionary-encoded strings from
    Spark) for a string column; any timestamp unit in UTC for ``ts`` (DuckDB writes microseconds).
    """
    if actual == expected:
        return True
    if pa.types.is_string(expected):
        if pa.types.is_dictionary(actual):
            actual = actual.value_type
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or actual == pa.string_view()
    if pa.types.is_timestamp(expected) and pa.types.is_timestamp(actual):
        return actual.tz in _UTC_NAMES
    return False


def validate_schema(table: str, physical: pa.Schema, path: str) -> None:
    """Each v1 column must be present with its type; extra columns are allowed (extensions)."""
    for field in SCHEMAS[table]:
        idx = physical.get_field_index(field.name)
        if idx < 0 and field.name in ADDED_COLUMNS.get(table, ()):
            continue  # written before this column existed: reads as null
        if idx < 0:
            raise DataError(path, "missing (required by dataset format v1)", field.name)
        actual = physical.field(idx).type
        if is_compatible(actual, field.type):
            continue
        if pa.types.is_timestamp(actual) and actual.tz is None:
            raise DataError(path, f"timestamp has no time zone ({actual}); v1 needs {field.type}", field.name)
        if pa.types.is_timestamp(actual):
            raise DataError(path, f"time zone is {actual.tz}; v1 needs {field.type}", field.name)
        raise DataError(path, f"has type {actual}, expected {field.type}", field.name)


def conform_types(table: str, data: pa.Table, *, keep_dictionary: bool = False) -> pa.Table:
    """Cast the (already compatible) columns of ``data`` to their exact v1 types; with ``keep_dictionary``
    a dictionary-encoded string column stays encoded (its values are the v1 strings)."""
    schema = SCHEMAS[table]
    cols, fields = [], []
    for name in data.column_names:
        col = data.column(name)
        idx = schema.get_field_index(name)
        kept = (keep_dictionary and idx >= 0 and pa.types.is_dictionary(col.type)
                and pa.types.is_string(col.type.value_type) and pa.types.is_string(schema.field(idx).type))
        if idx >= 0 and col.type != schema.field(idx).type and not kept:
            col = col.cast(schema.field(idx).type, safe=not pa.types.is_timestamp(col.type))
        cols.append(col)
        if kept:
            fields.append(pa.field(name, col.type, schema.field(idx).nullable))
            continue
        fields.append(schema.field(idx) if idx >= 0 else pa.field(name, col.type))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


def validate_values(table: str, data: pa.Table, path: str) -> None:
    """Check the values of the v1 columns present in ``data`` (a reader may read only some columns)."""
    schema = SCHEMAS[table]
    present = set(data.column_names)
    for field in schema:
        if field.name not in present:
            continue
        col = data.column(field.name)
        if not field.nullable and col.null_count:
            raise DataError(path, f"{col.null_count} null value(s); this column is required", field.name)
        # one pass for the common case: a NaN or an infinity makes the sum non-finite (finite samples
        # cannot overflow a double); only then are they counted, for the message
        if pa.types.is_floating(field.type) and len(col) and not math.isfinite(pc.sum(col).as_py() or 0.0):
            nan = pc.sum(pc.is_nan(col)).as_py() or 0
            if nan:
                raise DataError(path, f"{nan} NaN value(s); missing values must be null", field.name)
            inf = pc.sum(pc.is_inf(col)).as_py() or 0
            if inf:
                raise DataError(path, f"{inf} infinite value(s)", field.name)
    fractions = FRACTIONS.get(table, ())
    for name in dict.fromkeys((*NON_NEGATIVE.get(table, ()), *fractions)):
        if name not in present:
            continue
        bounds = pc.min_max(data.column(name))
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if name in NON_NEGATIVE.get(table, ()) and lo is not None and lo < 0:
            raise DataError(path, f"negative value {lo}", name)
        if name in fractions and hi is not None and hi > 1.0 + 1e-3:
            raise DataError(path, f"value {hi} is above 1 (fractions are 0..1, not percent)", name)
        if name == "interval_s" and lo == 0:
            zero = pc.sum(pc.equal(data.column(name), 0)).as_py() or 0
            raise DataError(path, f"{zero} row(s) with interval 0; every sample covers a positive number of "
                                  "seconds (ts - interval_s, ts]", "interval_s")
    if table == "gpu" and {"mem_used_bytes", "mem_total_bytes"} <= present and len(data):
        over = pc.greater(data.column("mem_used_bytes"), data.column("mem_total_bytes"))
        count = pc.sum(over).as_py() or 0
        if count:
            i = int(pc.index(over, True).as_py())
            used, total = data.column("mem_used_bytes")[i].as_py(), data.column("mem_total_bytes")[i].as_py()
            uuid = data.column("gpu_uuid")[i].as_py() if "gpu_uuid" in present else None
            raise DataError(path, f"{count} row(s) use more GPU memory than the device has (e.g. {used} > "
                                  f"mem_total_bytes {total}{' on ' + uuid if uuid else ''})", "mem_used_bytes")
    if table == "nodes" and "capacity_type" in present:
        for value in pc.unique(data.column("capacity_type").drop_null()).to_pylist():
            if value not in CAPACITY_TYPES:
                raise DataError(path, f"value '{value}' is not one of {', '.join(CAPACITY_TYPES)}", "capacity_type")
    for name in JSON_COLUMNS.get(table, ()):
        if name not in present:
            continue
        for value in pc.unique(data.column(name).drop_null()).to_pylist():
            try:
                ok = isinstance(json.loads(value), dict)
            except ValueError:
                ok = False
            if not ok:
                shown = value if len(value) <= 60 else value[:57] + "..."
                raise DataError(path, f"value '{shown}' is not a JSON object", name)


def validate_partition(data: pa.Table, path: str, date: str, node: str) -> None:
    """Rows must belong to the ``date=``/``node=`` folder they are in, or partition pruning would miss them."""
    if data.num_rows == 0:
        return
    if "ts" in data.column_names:
        lo = datetime.fromisoformat(date).replace(tzinfo=UTC)
        lo_ms = int(lo.timestamp() * 1000)
        ts = data.column("ts").cast(pa.int64())
        mm = pc.min_max(ts)
        for bound in (mm["min"].as_py(), mm["max"].as_py()):
            if bound is not None and not lo_ms <= bound < lo_ms + 86_400_000:
                when = datetime.fromtimestamp(bound / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
                raise DataError(path, f"row at {when} is outside its partition date={date}", "ts")
    if "node" in data.column_names:
        for value in pc.unique(data.column("node").drop_null()).to_pylist():
            if value != node:
                raise DataError(path, f"value '{value}' differs from its partition node={node}", "node")

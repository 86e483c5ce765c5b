"""Read a v1 dataset with pyarrow.dataset: partition pruning by date/node, time-range filter, validation.

Every file is checked against the v1 schema before its rows are used; a file that breaks the contract
raises ``DataError`` naming the file and the column (the CLI prints it as one line, exit code 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from store.errors import DataError, UserError
from store.location import Location, open_location
from store.schema import FRACTIONS, NON_NEGATIVE, SCHEMAS, TABLES


@dataclass(frozen=True)
class Partition:
    """The rows of one ``table/date=/node=`` folder (possibly several segments)."""

    table: str
    date: str
    node: str
    data: pa.Table


def parse_time(value: str | datetime | None, what: str = "time") -> datetime | None:
    """ISO 8601 (``2026-01-05``, ``2026-01-05T12:00``, ``...Z``, ``...+02:00``) to an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--{what}: '{value}' is not an ISO 8601 time (e.g. 2026-01-05 or 2026-01-05T12:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Dataset:
    """A v1 dataset root (local folder or s3://bucket/prefix)."""

    def __init__(self, root: str | Location, *, s3_client=None):
        self.location = root if isinstance(root, Location) else open_location(root, s3_client=s3_client)

    # -- discovery ---------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [t for t in TABLES if self.location.exists(t)]

    def _arrow_dataset(self, table: str) -> ds.Dataset:
        schema = SCHEMAS[table]
        part_schema = pa.schema([("date", pa.string()), ("node", pa.string())])
        files = self.location.list_files(table)
        return ds.dataset(
            files,
            schema=schema.append(pa.field("date", pa.string())),
            format="parquet",
            filesystem=self.location.filesystem,
            partitioning=ds.partitioning(part_schema, flavor="hive"),
            partition_base_dir=self.location.path(table),
        )

    def fragments(self, table: str, start: datetime | None = None, end: datetime | None = None,
                  nodes: list[str] | None = None) -> list[ds.ParquetFileFragment]:
        """The files of ``table`` whose partitions can hold rows in [start, end) on ``nodes``."""
        if table not in SCHEMAS:
            raise UserError(f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
        if not self.location.exists(table):
            return []
        expr = _partition_filter(start, end, nodes)
        dataset = self._arrow_dataset(table)
        return list(dataset.get_fragments(filter=expr) if expr is not None else dataset.get_fragments())

    # -- reading -------------------------------------------------------------------------------------
    def read(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
             columns: list[str] | None = None, nodes: list[str] | None = None) -> pa.Table:
        """All rows of ``table`` with start <= ts < end, validated, as one table (v1 column order)."""
        parts = [p.data for p in self.iter_partitions(table, start, end, columns=columns, nodes=nodes)]
        if not parts:
            schema = SCHEMAS[table]
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(parts)

    def iter_partitions(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
                        columns: list[str] | None = None, nodes: list[str] | None = None) -> Iterator[Partition]:
        """Yield one ``Partition`` per (date, node) folder, in date then node order.

        Only one partition is in memory at a time: consumers that stream (profiles) stay bounded by the
        largest partition, not by the dataset.
        """
        groups: dict[tuple[str, str], list[ds.ParquetFileFragment]] = {}
        for frag in self.fragments(table, start, end, nodes):
            keys = ds.get_partition_keys(frag.partition_expression)
            groups.setdefault((keys.get("date"), keys.get("node")), []).append(frag)
        for (date, node), frags in sorted(groups.items()):
            tables = [self.read_fragment(table, f, start, end, columns=columns) for f in frags]
            yield Partition(table, date, node, pa.concat_tables(tables))

    def read_fragment(self, table: str, frag: ds.ParquetFileFragment, start=None, end=None, *,
                      columns: list[str] | None = None) -> pa.Table:
        path = self.location.display(frag.path)
        try:
            physical = frag.physical_schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(path, f"not a readable Parquet file ({_first_line(exc)})") from None
        validate_schema(table, physical, path)
        wanted = list(SCHEMAS[table].names) if columns is None else list(columns)
        try:
            data = pa.Table.from_batches(frag.to_batches(schema=SCHEMAS[table], columns=list(SCHEMAS[table].names),
                                                          use_threads=not self.location.is_s3),
                                         schema=SCHEMAS[table])
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(path, f"not a readable Parquet file ({_first_line(exc)})") from None
        validate_values(table, data, path)
        if start is not None or end is not None:
            data = data.filter(_time_filter(data, start, end))
        return data.select(wanted)

    def time_range(self, table: str) -> tuple[datetime, datetime] | None:
        lo = hi = None
        for part in self.iter_partitions(table, columns=["ts"]):
            if part.data.num_rows == 0:
                continue
            mm = pc.min_max(part.data.column("ts"))
            a, b = mm["min"].as_py(), mm["max"].as_py()
            lo = a if lo is None or a < lo else lo
            hi = b if hi is None or b > hi else hi
        return None if lo is None else (lo, hi)


# -- validation ------------------------------------------------------------------------------------
def validate_schema(table: str, physical: pa.Schema, path: str) -> None:
    """Each v1 column must be present with its exact type; extra columns are allowed (extensions)."""
    for field in SCHEMAS[table]:
        idx = physical.get_field_index(field.name)
        if idx < 0:
            raise DataError(path, "missing (required by dataset format v1)", field.name)
        actual = physical.field(idx).type
        if actual == field.type:
            continue
        if pa.types.is_timestamp(actual) and pa.types.is_timestamp(field.type):
            if actual.tz is None:
                raise DataError(path, f"timestamp has no time zone ({actual}); v1 needs {field.type}", field.name)
            if actual.tz not in ("UTC", "+00:00", "Etc/UTC"):
                raise DataError(path, f"time zone is {actual.tz}; v1 needs {field.type}", field.name)
            raise DataError(path, f"has type {actual}, expected {field.type}", field.name)
        raise DataError(path, f"has type {actual}, expected {field.type}", field.name)


def validate_values(table: str, data: pa.Table, path: str) -> None:
    schema = SCHEMAS[table]
    for field in schema:
        col = data.column(field.name)
        if not field.nullable and col.null_count:
            raise DataError(path, f"{col.null_count} null value(s); this column is required", field.name)
        if pa.types.is_floating(field.type) and col.num_chunks:
            nan = pc.sum(pc.is_nan(col)).as_py() or 0
            if nan:
                raise DataError(path, f"{nan} NaN value(s); missing values must be null", field.name)
    for name in NON_NEGATIVE.get(table, ()):
        col = data.column(name)
        if len(col) and col.null_count < len(col):
            lo = pc.min(col).as_py()
            if lo is not None and lo < 0:
                raise DataError(path, f"negative value {lo}", name)
    for name in FRACTIONS.get(table, ()):
        col = data.column(name)
        if len(col) and col.null_count < len(col):
            hi = pc.max(col).as_py()
            if hi is not None and hi > 1.0 + 1e-3:
                raise DataError(path, f"value {hi} is above 1 (fractions are 0..1, not percent)", name)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _partition_filter(start, end, nodes):
    expr = None

    def _and(a, b):
        return b if a is None else a & b

    if start is not None:
        expr = _and(expr, ds.field("date") >= start.astimezone(UTC).strftime("%Y-%m-%d"))
    if end is not None:
        expr = _and(expr, ds.field("date") <= end.astimezone(UTC).strftime("%Y-%m-%d"))
    if nodes:
        expr = _and(expr, ds.field("node").isin(list(nodes)))
    return expr


def _time_filter(data: pa.Table, start, end):
    ts = data.column("ts").cast(pa.int64()).to_numpy()
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= int(start.timestamp() * 1000)
    if end is not None:
        mask &= ts < int(end.timestamp() * 1000)
    return pa.array(mask)

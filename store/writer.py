"""Write v1 segments: one Parquet file per (table, date, node), made visible atomically."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from store.checks import validate_values
from store.errors import UserError
from store.location import Location, open_location
from store.schema import SCHEMAS, conform

_MS_PER_DAY = 86_400_000
# Node names are DNS subdomains; anything else would break Hive partition paths.
_NODE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
_SEGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def partition_path(table: str, date: str, node: str) -> str:
    return f"{table}/date={date}/node={node}"


def segment_bytes(data: pa.Table, compression: str = "zstd") -> bytes:
    buf = io.BytesIO()
    # Dictionary-encode only the string columns: trying it on float noise columns costs ~3x the write time
    # (the dictionary overflows and Parquet falls back) and makes the files bigger, not smaller.
    strings = [f.name for f in data.schema if pa.types.is_string(f.type)]
    pq.write_table(data, buf, compression=compression, use_dictionary=strings)
    return buf.getvalue()


class DatasetWriter:
    """Writes tables into a dataset root, split into Hive partitions ``table/date=/node=``.

    Each call writes new segment files; nothing is ever appended to or rewritten, so concurrent writers
    (one agent per node) never collide and a reader never sees a half-written file.
    """

    def __init__(self, root: str | Location, *, compression: str = "zstd", s3_client=None):
        self.location = root if isinstance(root, Location) else open_location(root, create=True, s3_client=s3_client)
        self.compression = compression

    def write(self, table: str, data: pa.Table | dict, *, segment: str | None = None) -> list[str]:
        """Write ``data`` (any row order, any dates and nodes) and return the paths written.

        ``segment`` names the files (without extension); by default a time stamp and a random id.
        """
        if table not in SCHEMAS:
            raise UserError(f"unknown table '{table}' (expected one of {', '.join(SCHEMAS)})")
        if segment is not None and not _SEGMENT_NAME.match(segment):
            raise UserError(f"segment name '{segment}' must be letters, digits, '.', '_' or '-' "
                            "and must not start with '.' or '_' (those files are hidden from readers)")
        destination = self.location.display(self.location.path(table))
        data = conform(table, data, where=destination)
        if data.num_rows == 0:
            return []
        # Check everything before writing anything: a bad batch leaves no segment behind.
        validate_values(table, data, destination)
        ts = data.column("ts").cast(pa.int64()).to_numpy()
        days = ts // _MS_PER_DAY
        nodes = data.column("node").combine_chunks().dictionary_encode()
        node_codes = nodes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        node_names = nodes.dictionary.to_pylist()
        for name in node_names:
            if not _NODE_NAME.match(name):
                raise UserError(f"{destination}: column 'node': '{name}' is not a valid node name")
        key = (days - days.min()) * len(node_names) + node_codes
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        bounds = np.flatnonzero(np.diff(sorted_key)) + 1
        written = []
        for rows in np.split(order, bounds):
            # A single partition (the usual case) keeps its row order (stable sort): write it without a copy.
            part = data if not len(bounds) else data.take(pa.array(rows))
            day = int(days[rows[0]])
            date = datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")
            node = node_names[node_codes[rows[0]]]
            name = segment or _default_segment_name(int(ts[rows].min()))
            rel = f"{partition_path(table, date, node)}/{name}.parquet"
            written.append(self.location.write_atomic(rel, segment_bytes(part, self.compression)))
        return written


def _default_segment_name(first_ts_ms: int) -> str:
    stamp = datetime.fromtimestamp(first_ts_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:12]}"

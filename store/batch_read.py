"""The change logs (pods, nodes) and the other small tables, read as one batch.

A week of a 400-node cluster has about 3,000 files in each change log with a few rows each. Read and
checked one at a time (``Dataset.read_fragment``), a file costs about 3 ms, mostly the fixed cost of a
dozen Arrow calls on a few rows; the rows themselves cost nothing. Here every file is opened and its
schema checked on its own, as before, but the value, partition and repeated-row checks run once over the
rows of all of them, with each row's file known.

The batch never decides an error message: when any check finds something (a bad value, a row in the
wrong partition, a repeated row, a file pyarrow cannot read), ``read_batch`` returns None and the caller
reads the files one at a time, which names the file, the column and the value exactly as before.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from store import integrity as checks_integrity
from store.checks import conform_types, validate_schema, validate_values
from store.errors import DataError
from store.schema import SCHEMAS

DAY_MS = 86_400_000


class _Unsure(Exception):
    """Something the per-file reader must look at (it names the file)."""


def read_batch(dataset, table: str, frags: list, start: datetime | None, end: datetime | None,
               columns: list[str] | None, threads: int, keep_dictionary: bool = False) -> pa.Table | None:
    """The validated rows of ``frags`` (``Dataset.read``'s result), or None when a file needs the per-file
    reader's exact message. Schema errors are raised here, with the per-file reader's words."""
    loc = dataset.location
    wanted = list(SCHEMAS[table].names) if columns is None else list(columns)
    needed = wanted + [c for c in checks_integrity.KEY_COLUMNS[table] if c not in wanted]
    keys = [ds.get_partition_keys(f.partition_expression) for f in frags]

    try:
        with ThreadPoolExecutor(max(1, min(threads, len(frags)))) as pool:
            parts = list(pool.map(lambda f: load_file(loc, table, f, needed), frags))
        return _checked(dataset, table, frags, keys, parts, start, end, wanted, keep_dictionary)
    except _Unsure:
        return None


def load_file(loc, table: str, frag, needed: list[str]) -> pa.Table:
    """One file's ``needed`` columns, its schema checked (key strings dictionary-encoded, as Parquet has them)."""
    path = loc.display(frag.path)
    source = pa.BufferReader(loc.read_bytes(frag.path)) if loc.is_s3 else frag.path
    try:
        pf = pq.ParquetFile(source, read_dictionary=[c for c in needed if c in checks_integrity.DICTIONARY_COLUMNS])
        physical = pf.schema_arrow
    except (pa.ArrowException, OSError):
        raise _Unsure() from None
    validate_schema(table, physical, path)
    present = [c for c in needed if physical.get_field_index(c) >= 0]
    try:
        data = pf.read(columns=present, use_threads=False)
    except (pa.ArrowException, OSError):
        raise _Unsure() from None
    for name in needed:
        if name not in present:  # ADDED_COLUMNS an old file lacks
            f = SCHEMAS[table].field(name)
            data = data.append_column(f, pa.nulls(data.num_rows, f.type))
    return data.select(needed)


def _checked(dataset, table, frags, keys, parts, start, end, wanted, keep_dictionary) -> pa.Table:
    sizes = np.array([p.num_rows for p in parts], np.int64)
    try:  # files written by other tools may differ in string and timestamp flavours: one type each
        data = pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowException, ValueError):
        raise _Unsure() from None
    file_of = np.repeat(np.arange(len(parts)), sizes)
    codes = checks_integrity.row_codes(table, data)
    data = conform_types(table, data, keep_dictionary=keep_dictionary)
    try:
        validate_values(table, data, "(batch)")
    except DataError:
        raise _Unsure() from None
    _check_partitions(data, file_of, keys)
    if codes is not None and len(codes):
        _, rank = np.unique(codes, return_inverse=True)
        within = file_of * len(codes) + rank.reshape(-1)
        if len(checks_integrity.repeated_rows(within)[0]):
            raise _Unsure()  # repeated rows are counted (or refused) by the per-file reader
    log = dataset.integrity
    log.record_pods(table, [f.path for f in frags], data)
    keep = np.ones(data.num_rows, bool)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for i, frag in enumerate(frags):
        dataset._clean.add(frag.path)  # every row of it was checked here
        drop = dataset._drop.get(frag.path)
        if drop is not None:  # rows repeating another file of the partition (Dataset.fragments found them)
            keep[offsets[i] + drop] = False
    if not keep.all():
        data = data.filter(pa.array(keep))
    if start is not None or end is not None:
        from store.reader import _time_filter

        data = data.filter(_time_filter(data, start, end))
    return data.select(wanted)


def _check_partitions(data: pa.Table, file_of: np.ndarray, keys: list[dict]) -> None:
    """Every row in its file's ``date=``/``node=`` folder; a row elsewhere goes to the per-file reader."""
    if data.num_rows == 0:
        return
    if "ts" in data.column_names:
        day = np.array([int(datetime.fromisoformat(k["date"]).replace(tzinfo=UTC).timestamp() * 1000) // DAY_MS
                        for k in keys], np.int64)
        ts = data.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
        if not np.array_equal(ts // DAY_MS, day[file_of]):
            raise _Unsure()
    if "node" in data.column_names:
        enc = data.column("node").combine_chunks()
        enc = enc if pa.types.is_dictionary(enc.type) else enc.dictionary_encode()
        names = enc.dictionary.to_pylist()
        node_code = {n: i for i, n in enumerate(names)}
        wanted = np.array([node_code.get(k["node"], -2) for k in keys], np.int64)
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        got = idx >= 0  # a null node is the null check's business
        if not np.array_equal(idx[got], wanted[file_of][got]):
            raise _Unsure()

"""Read a v1 dataset with pyarrow.dataset: partition pruning by date/node, time-range filter, validation.

Every file is checked against the v1 schema before its rows are used; a file that breaks the contract
raises ``DataError`` naming the file and the column (the CLI prints it as one line, exit code 2).
Data that is valid row by row but wrong as a whole (repeated rows, a node's skewed clock, samples of
unknown pods) is handled by store/integrity.py; what it finds is kept in ``Dataset.integrity``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from store import integrity as checks_integrity
from store.checks import DATE_RE, conform_types, validate_partition, validate_schema, validate_values
from store.errors import DataError, UserError
from store.integrity import IntegrityLog
from store.location import Location, open_location
from store.schema import SAMPLE_TABLES, SCHEMAS, TABLES

# Threads for whole-table reads (``Dataset.read``): per-file work is mostly pyarrow with the GIL released,
# and on S3 each file is a request. The pods and nodes tables of a simulated 1,000-GPU week (2.6-2.8 k
# files each) on 2 cores: 1 thread 7.1-7.4 s, 2 threads 3.8-4.9 s, 4 threads 3.9-5.3 s, 8 threads 6.7-8.3 s.
# Each file keeps pyarrow's own decoding threads: turning them off saved ~1 s on these small tables but
# cost 25-35 s end to end on the large partitions of the same week.
READ_THREADS = 4


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
        self.integrity = IntegrityLog()
        self._clean: set[str] = set()                   # files checked: no repeated row inside
        self._drop: dict[str, np.ndarray] = {}          # file -> rows repeating rows of an earlier file
        self._groups_checked: set[tuple[str, ...]] = set()
        self._footers: dict[str, tuple[int | None, int | None, int]] = {}
        self._skew: dict[tuple, set[tuple[str, str]]] = {}

    @property
    def uri(self) -> str:
        return self.location.uri

    # -- discovery ---------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [t for t in TABLES if self.location.exists(t)]

    def fragments(self, table: str, start: datetime | None = None, end: datetime | None = None,
                  nodes: list[str] | None = None) -> list[ds.ParquetFileFragment]:
        """The files of ``table`` whose partitions can hold rows in [start, end) on ``nodes``.

        Pruning uses only the folder names (``date=``, ``node=``); no file is opened. Each fragment's
        ``partition_expression`` carries its keys (``ds.get_partition_keys``); read it with
        ``read_fragment``. A file outside the ``date=YYYY-MM-DD/node=NAME/`` layout is a ``DataError``.
        """
        if table not in SCHEMAS:
            raise UserError(f"unknown table '{table}' (expected one of {', '.join(TABLES)})")
        if not self.location.exists(table):
            return []
        lo = start.astimezone(UTC).strftime("%Y-%m-%d") if start is not None else None
        # end is exclusive: a window ending at midnight does not need that day's partition.
        hi = (end.astimezone(UTC) - timedelta(milliseconds=1)).strftime("%Y-%m-%d") if end is not None else None
        wanted = set(nodes) if nodes else None
        skewed = self._skewed(lo, hi) if table in SAMPLE_TABLES else set()
        out = []
        groups: dict[tuple[str, str], list[str]] = {}
        for path, date, node in self._partition_files(table):
            if (lo is not None and date < lo) or (hi is not None and date > hi):
                continue
            if (wanted is not None and node not in wanted) or (date, node) in skewed:
                continue
            expr = (ds.field("date") == date) & (ds.field("node") == node)
            groups.setdefault((date, node), []).append(path)
            out.append(_FORMAT.make_fragment(path, filesystem=self.location.filesystem, partition_expression=expr))
        for key, paths in groups.items():
            if len(paths) > 1:
                self._check_across_files(table, key, paths)
        return out

    def skewed_fragments(self, table: str, start: datetime | None = None, end: datetime | None = None
                         ) -> list[ds.ParquetFileFragment]:
        """The files ``fragments`` leaves out for a skewed clock (``rightsizer validate`` still checks them)."""
        self.fragments(table, start, end)
        lo = start.astimezone(UTC).strftime("%Y-%m-%d") if start is not None else None
        hi = (end.astimezone(UTC) - timedelta(milliseconds=1)).strftime("%Y-%m-%d") if end is not None else None
        skewed = self._skew.get((lo, hi), set()) if table in SAMPLE_TABLES else set()
        return [_FORMAT.make_fragment(path, filesystem=self.location.filesystem,
                                      partition_expression=(ds.field("date") == date) & (ds.field("node") == node))
                for path, date, node in self._partition_files(table) if (date, node) in skewed]

    def _partition_files(self, table: str) -> list[tuple[str, str, str]]:
        """(path, date, node) of every file of ``table``."""
        base = self.location.path(table)
        return [(path, *_partition_keys(path, base, self.location.display(path)))
                for path in self.location.list_files(table)]

    def _skewed(self, lo: str | None, hi: str | None) -> set[tuple[str, str]]:
        """Sample partitions (date, node) among the window's dates that a skewed clock put far from the rest."""
        if (lo, hi) in self._skew:
            return self._skew[(lo, hi)]
        dates: dict[str, set[str]] = {}
        files: dict[tuple[str, str], list[str]] = {}
        for table in SAMPLE_TABLES:
            if not self.location.exists(table):
                continue
            for path, date, node in self._partition_files(table):
                if (lo is None or date >= lo) and (hi is None or date <= hi):
                    dates.setdefault(node, set()).add(date)
                    files.setdefault((date, node), []).append(path)
        skewed, block = checks_integrity.skewed_partitions(dates)
        if skewed and not self.integrity.skewed:  # the first window read is the one reported
            for date, node in sorted(skewed):
                entry = self.integrity.skewed.setdefault(node, checks_integrity.SkewedNode(node))
                entry.partitions += 1
                entry.rows += sum(self._footer(p)[2] for p in files[(date, node)])
                entry.first_date = min(entry.first_date or date, date)
                entry.last_date = max(entry.last_date or date, date)
            self.integrity.window_dates = block
        self._skew[(lo, hi)] = skewed
        return skewed

    def _footer(self, path: str) -> tuple[int | None, int | None, int]:
        """(first ts ms, last ts ms, rows) of a file from its Parquet footer (None: no statistics)."""
        if path not in self._footers:
            self._footers[path] = _footer_range(self.location.read_tail(path))
        return self._footers[path]

    def _check_across_files(self, table: str, key: tuple[str, str], paths: list[str]) -> None:
        """Rows of a partition's file that repeat rows of an earlier file (by name) are dropped and counted;
        only files whose time ranges overlap (per their footers) are read for it, once per dataset."""
        paths = sorted(paths)
        if tuple(paths) in self._groups_checked:
            return
        ranges = [self._footer(p)[:2] for p in paths]
        overlapping = set()
        for i in range(len(paths)):
            for j in range(i + 1, len(paths)):
                (a0, a1), (b0, b1) = ranges[i], ranges[j]
                if None in (a0, a1, b0, b1) or (a0 <= b1 and b0 <= a1):
                    overlapping |= {i, j}
        if overlapping:
            chosen = [paths[i] for i in sorted(overlapping)]
            tables = [self._read_raw(table, key, p) for p in chosen]
            sizes = [t.num_rows for t in tables]
            data = pa.concat_tables(tables)
            later, earlier = checks_integrity.repeated_rows(checks_integrity.row_codes(table, data))
            owner = np.repeat(np.arange(len(chosen)), sizes)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            cross = owner[later] != owner[earlier]
            if cross.any():
                i = int(np.flatnonzero(cross)[0])
                checks_integrity.check_repeats(table, data, later[cross], earlier[cross],
                                               self.location.display(chosen[owner[later[i]]]),
                                               self.location.display(chosen[owner[earlier[i]]]))
            for k, path in enumerate(chosen):
                mine = np.unique(later[owner[later] == k] - offsets[k])
                self._clean.add(path)  # every row of it was checked here
                if len(mine):
                    self._drop[path] = mine
                    self.integrity.record_duplicates(table, self.location.display(path), len(mine))
        self._groups_checked.add(tuple(paths))

    def _read_raw(self, table: str, key: tuple[str, str], path: str) -> pa.Table:
        """Every row and column of one file, checked but not deduplicated (for the cross-file check)."""
        expr = (ds.field("date") == key[0]) & (ds.field("node") == key[1])
        frag = _FORMAT.make_fragment(path, filesystem=self.location.filesystem, partition_expression=expr)
        return self.read_fragment(table, frag, _raw=True)

    # -- reading -------------------------------------------------------------------------------------
    def read(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
             columns: list[str] | None = None, nodes: list[str] | None = None,
             keep_dictionary: bool = False) -> pa.Table:
        """All rows of ``table`` with start <= ts < end, validated, as one table (v1 column order).

        Files are read on a few threads, in order: the small tables (pods, nodes) are thousands of files
        of a few rows each, where opening and checking a file costs more than its rows, so those are
        checked as one batch (store/batch_read.py) unless a file needs its own message.
        ``keep_dictionary`` as in ``read_fragment`` (a table of millions of rows keyed by a few strings).
        """
        frags = [f for _, group in self.partition_groups(table, start, end, nodes) for f in group]
        unknown = [c for c in (columns or []) if c not in SCHEMAS[table].names]
        if unknown:
            raise UserError(f"table '{table}' has no column '{unknown[0]}'")
        if table not in SAMPLE_TABLES and len(frags) > 1:
            from store.batch_read import read_batch

            batch = read_batch(self, table, frags, start, end, columns, READ_THREADS, keep_dictionary)
            if batch is not None:
                return batch  # else a file needs a closer look: one at a time below, which names it
        with ThreadPoolExecutor(max(1, min(READ_THREADS, len(frags)))) as pool:
            parts = list(pool.map(lambda f: self.read_fragment(table, f, start, end, columns=columns,
                                                               keep_dictionary=keep_dictionary), frags))
        if not parts:
            schema = SCHEMAS[table]
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(parts)

    def iter_partitions(self, table: str, start: datetime | None = None, end: datetime | None = None, *,
                        columns: list[str] | None = None, nodes: list[str] | None = None) -> Iterator[Partition]:
        """Yield one ``Partition`` per (date, node) folder, in date then node order.

        Only one partition is in memory at a time: consumers that stream (profiles, validate) stay
        bounded by the largest partition, not by the dataset.
        """
        for (date, node), frags in self.partition_groups(table, start, end, nodes):
            tables = [self.read_fragment(table, f, start, end, columns=columns) for f in frags]
            yield Partition(table, date, node, pa.concat_tables(tables))

    def partition_groups(self, table: str, start=None, end=None, nodes=None
                         ) -> list[tuple[tuple[str, str], list[ds.ParquetFileFragment]]]:
        """The fragments of ``table`` grouped by (date, node), sorted; nothing is read yet."""
        groups: dict[tuple[str, str], list[ds.ParquetFileFragment]] = {}
        for frag in self.fragments(table, start, end, nodes):
            keys = ds.get_partition_keys(frag.partition_expression)
            groups.setdefault((keys["date"], keys["node"]), []).append(frag)
        return sorted(groups.items())

    def read_fragment(self, table: str, frag: ds.ParquetFileFragment, start=None, end=None, *,
                      columns: list[str] | None = None, keep_dictionary: bool = False,
                      _raw: bool = False) -> pa.Table:
        """Read one segment: check its schema, its values and its partition, filter to [start, end).

        ``keep_dictionary``: the key string columns (``DICTIONARY_COLUMNS``) stay dictionary-encoded as
        Parquet stored them, for readers that group by their codes (``optimizer.scan.column_codes``)
        instead of decoding every row's string and hashing it again.

        Only the requested columns (plus ``ts`` for time filtering) are read and value-checked; the
        schema is always checked in full (footer only). ``rightsizer validate`` reads every column.
        The first read of a file also reads its key columns and drops rows repeating an earlier row of
        the file (counted in ``self.integrity``; the same key with other values is a ``DataError``), and
        every read drops the rows that ``fragments`` found repeating another file of the partition.
        """
        path = self.location.display(frag.path)
        keys = ds.get_partition_keys(frag.partition_expression)
        wanted = list(SCHEMAS[table].names) if columns is None else list(columns)
        unknown = [c for c in wanted if c not in SCHEMAS[table].names]
        if unknown:
            raise UserError(f"table '{table}' has no column '{unknown[0]}'")
        timed = start is not None or end is not None
        needed = wanted + (["ts"] if timed and "ts" not in wanted else [])
        check = not _raw and frag.path not in self._clean
        if check:
            needed += [c for c in checks_integrity.KEY_COLUMNS[table] if c not in needed]
        # Read the file itself, not through the dataset fragment: with a partition expression pyarrow fills
        # the partition columns (node) from the folder name instead of the file, hiding rows filed in the
        # wrong place; and a ParquetFile decodes on the calling thread (the callers read partitions on
        # threads of their own), where the dataset scanner hands each read to its I/O pool and back.
        try:
            if self.location.is_s3:
                source = pa.BufferReader(self.location.read_bytes(frag.path))  # fetched in this thread
            else:
                source = self.location.filesystem.open_input_file(frag.path)
        except OSError as exc:
            raise DataError(path, f"cannot read ({_reason(exc)})") from None
        with source:
            try:
                # key strings come back dictionary-encoded (codes for the repeated-row check)
                pf = pq.ParquetFile(source, read_dictionary=[c for c in needed
                                                             if c in checks_integrity.DICTIONARY_COLUMNS])
                physical = pf.schema_arrow
            except pa.ArrowInvalid as exc:
                raise DataError(path, f"not a readable Parquet file ({_footer_reason(exc)})") from None
            except OSError as exc:
                raise DataError(path, f"cannot read ({_reason(exc)})") from None
            validate_schema(table, physical, path)
            absent = [c for c in needed if physical.get_field_index(c) < 0]  # ADDED_COLUMNS an old file lacks
            try:
                data = pf.read(columns=[c for c in needed if c not in absent], use_threads=False)
            except (pa.ArrowException, OSError) as exc:
                raise DataError(path, f"not a readable Parquet file (corrupt data: {_reason(exc)})") from None
        for name in absent:
            data = data.append_column(SCHEMAS[table].field(name), pa.nulls(data.num_rows, SCHEMAS[table].field(name).type))
        codes = checks_integrity.row_codes(table, data) if check else None
        self.integrity.record_pods(table, frag.path, data)
        data = conform_types(table, data, keep_dictionary=keep_dictionary)
        validate_values(table, data, path)
        validate_partition(data, path, keys.get("date"), keys.get("node"))
        if codes is not None:
            later, earlier = checks_integrity.repeated_rows(codes)
            checks_integrity.check_repeats(table, data, later, earlier, path)
            if len(later):
                self._drop[frag.path] = np.union1d(self._drop.get(frag.path, np.zeros(0, np.int64)), later)
                self.integrity.record_duplicates(table, path, len(self._drop[frag.path]))
            self._clean.add(frag.path)
        if not _raw and frag.path in self._drop:
            keep = np.ones(data.num_rows, dtype=bool)
            keep[self._drop[frag.path]] = False
            data = data.filter(pa.array(keep))
        if timed:
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


_FORMAT = ds.ParquetFileFormat()


def _footer_range(tail: bytes) -> tuple[int | None, int | None, int]:
    """(first ts ms, last ts ms, rows) from the end of a Parquet file; Nones when it has no ts statistics."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(pa.BufferReader(tail))
    except (pa.ArrowException, OSError):
        return None, None, 0  # unreadable here: the read proper names the problem
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "ts" not in names or meta.num_row_groups == 0:
        return None, None, meta.num_rows
    j = names.index("ts")
    lo = hi = None
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(j).statistics
        if st is None or not st.has_min_max:
            return None, None, meta.num_rows
        a, b = (int(v.timestamp() * 1000) if isinstance(v, datetime) else int(v) for v in (st.min, st.max))
        lo, hi = (a if lo is None else min(lo, a)), (b if hi is None else max(hi, b))
    return lo, hi, meta.num_rows


def _partition_keys(path: str, base: str, shown: str) -> tuple[str, str]:
    """``date`` and ``node`` from ``<base>/date=YYYY-MM-DD/node=NAME/<file>``, or a DataError."""
    parts = path[len(base):].strip("/").split("/")
    if (len(parts) == 3 and parts[0].startswith("date=") and parts[1].startswith("node=")
            and DATE_RE.match(parts[0][5:]) and len(parts[1]) > 5):
        date = parts[0][5:]
        try:
            datetime.strptime(date, "%Y-%m-%d")
        except ValueError:
            pass
        else:
            return date, unquote(parts[1][5:])
    raise DataError(shown, "not inside a date=YYYY-MM-DD/node=NAME/ partition folder")


def _footer_reason(exc: BaseException) -> str:
    if "file size is 0 bytes" in str(exc):
        return "empty file, 0 bytes"
    return "no valid Parquet footer: corrupt, truncated or not Parquet"


def _reason(exc: BaseException) -> str:
    """The first line of a pyarrow error, without the file path it sometimes repeats."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("Could not open Parquet input source") and "': " in text:
        text = text.split("': ", 1)[1]
    return text.rstrip(".")


def _time_filter(data: pa.Table, start, end):
    ts = data.column("ts").cast(pa.int64()).to_numpy()
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= int(start.timestamp() * 1000)
    if end is not None:
        mask &= ts < int(end.timestamp() * 1000)
    return pa.array(mask)

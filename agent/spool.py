"""The local spool: v1 segments waiting for upload, in the dataset layout, bounded in size.

Segments are written with the store's atomic writer (temp name, fsync, rename), so a crash never leaves a
half segment; a restart finds the spool as it was and uploads it. Segment names start with the flush time
and a sequence number, so sorting by name is sorting by age.

One flush is all or nothing: if one of its table files cannot be written (disk full), the files already
written for it are removed again, so the retry under a new name never duplicates rows.

The cap drops only *sample* segments (``gpu``, ``container``), oldest first. ``pods`` and ``nodes`` rows are
written once per change and every sample needs them (a node without a nodes row cannot be priced), so
their segments stay until they are shipped, even past the cap; they are a few KiB per flush at most.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

log = logging.getLogger("rightsizer.agent.spool")

# Tables whose rows are written once (at start, on change, once a day) rather than every tick.
METADATA_TABLES = frozenset({"pods", "nodes"})


class SpoolFile(NamedTuple):
    rel: str    # path below the spool root, the same path the segment gets in the sink
    name: str   # file name: flush time, run id, sequence number
    size: int

    @property
    def table(self) -> str:
        return self.rel.split("/", 1)[0]


@dataclass(frozen=True)
class CapResult:
    files: int = 0
    rows: int = 0
    metadata_over_cap: bool = False


class Spool:
    def __init__(self, root: str, max_bytes: int):
        self.root = os.path.abspath(root)
        self.max_bytes = max_bytes
        self._seq = 0
        self._run = uuid.uuid4().hex[:8]
        # Held briefly (never across a network call) by the cap and by the uploader while it reads a file and
        # when it removes one, so a file is never both uploaded and counted as dropped.
        self.lock = threading.Lock()
        self.in_flight: str | None = None
        os.makedirs(self.root, exist_ok=True)

    def segment_name(self, now: float) -> str:
        self._seq += 1
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%S")
        return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{self._run}-{self._seq:06d}"

    def write(self, batch: dict[str, dict[str, list]], now: float) -> list[str]:
        """Write one flush (all tables) as segments sharing one name; returns the files written.

        On any error no file of this flush is left behind and the error is raised.
        """
        from store.writer import DatasetWriter

        writer = DatasetWriter(self.root)
        name = self.segment_name(now)
        written: list[str] = []
        try:
            for table, cols in batch.items():
                written.extend(writer.write(table, cols, segment=name))
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        return written

    def encode(self, batch: dict[str, dict[str, list]], now: float) -> list[tuple[str, bytes, int]]:
        """One flush as (relative path, Parquet bytes, rows) per file, in memory: for a sink when the spool
        itself cannot be written."""
        from store.writer import DatasetWriter

        capture = _captured_base()(uri="memory", filesystem=None, base="")
        object.__setattr__(capture, "files", [])  # Location is frozen
        writer = DatasetWriter(capture)
        name = self.segment_name(now)
        out = []
        for table, cols in batch.items():
            start = len(capture.files)
            writer.write(table, cols, segment=name)
            out.extend(capture.files[start:])
        return out

    def files(self) -> list[SpoolFile]:
        """Every complete segment, oldest first."""
        out = []
        for dirpath, _dirs, names in os.walk(self.root):
            for n in names:
                if n.endswith(".parquet") and not n.startswith("."):
                    full = os.path.join(dirpath, n)
                    try:
                        size = os.path.getsize(full)
                    except OSError:
                        continue
                    out.append(SpoolFile(os.path.relpath(full, self.root).replace(os.sep, "/"), n, size))
        out.sort(key=lambda f: (f.name, f.rel))
        return out

    def size(self) -> int:
        return sum(f.size for f in self.files())

    def rows(self, rel: str) -> int:
        """Rows in one spooled segment (from its Parquet footer); 0 if it cannot be read."""
        import pyarrow.parquet as pq

        try:
            return pq.read_metadata(os.path.join(self.root, rel)).num_rows
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a bad footer
            log.warning("spooled segment %s is unreadable (%s); its rows cannot be counted", rel, exc)
            return 0

    def pending_rows(self) -> tuple[int, int]:
        """(segment files, rows) waiting in the spool."""
        files = self.files()
        return len(files), sum(self.rows(f.rel) for f in files)

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.root, rel))

    def enforce_cap(self) -> CapResult:
        """Delete the oldest sample segments until the spool fits ``max_bytes``; metadata segments stay."""
        with self.lock:
            files = self.files()
            total = sum(f.size for f in files)
            dropped = rows = 0
            for f in files:
                if total <= self.max_bytes:
                    break
                if f.table in METADATA_TABLES or f.rel == self.in_flight:
                    continue
                n = self.rows(f.rel)
                self.remove(f.rel)
                total -= f.size
                dropped += 1
                rows += n
        over = total > self.max_bytes
        if dropped:
            log.warning("spool over %d bytes: dropped the %d oldest sample segment file(s), %d rows "
                        "(counted in dropped_rows_total)", self.max_bytes, dropped, rows)
        if over:
            log.warning("spool holds %d bytes, over its cap of %d, in pods/nodes segments that are kept until "
                        "shipped", total, self.max_bytes)
        return CapResult(dropped, rows, over)


@functools.cache
def _captured_base():
    from store.location import Location

    class Captured(Location):
        """A Location that keeps what is written in memory (``files``: (rel, bytes, rows))."""

        def write_atomic(self, rel: str, data: bytes) -> str:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self.files.append((rel, data, pq.read_metadata(pa.BufferReader(data)).num_rows))
            return rel

    return Captured

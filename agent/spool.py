"""The local spool: v1 segments waiting for upload, in the dataset layout, bounded in size.

Segments are written with the store's atomic writer (temp name, fsync, rename), so a crash never leaves a
half segment; a restart finds the spool as it was and uploads it. Segment names start with the flush time
and a sequence number, so sorting by name is sorting by age.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime

log = logging.getLogger("rightsizer.agent.spool")


class Spool:
    def __init__(self, root: str, max_bytes: int):
        self.root = os.path.abspath(root)
        self.max_bytes = max_bytes
        self._seq = 0
        self._run = uuid.uuid4().hex[:8]
        os.makedirs(self.root, exist_ok=True)

    def segment_name(self, now: float) -> str:
        self._seq += 1
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%S")
        return f"{stamp}.{int(now * 1000) % 1000:03d}Z-{self._run}-{self._seq:06d}"

    def write(self, batch: dict[str, dict[str, list]], now: float) -> list[str]:
        """Write one flush (all tables) as segments sharing one name; returns the files written."""
        from store.writer import DatasetWriter

        writer = DatasetWriter(self.root)
        name = self.segment_name(now)
        written = []
        for table, cols in batch.items():
            written.extend(writer.write(table, cols, segment=name))
        return written

    def files(self) -> list[tuple[str, str, int]]:
        """(relative path, segment name, size) of every complete segment, oldest first."""
        out = []
        for dirpath, _dirs, names in os.walk(self.root):
            for n in names:
                if n.endswith(".parquet") and not n.startswith("."):
                    full = os.path.join(dirpath, n)
                    try:
                        size = os.path.getsize(full)
                    except OSError:
                        continue
                    out.append((os.path.relpath(full, self.root).replace(os.sep, "/"), n, size))
        out.sort(key=lambda f: (f[1], f[0]))
        return out

    def size(self) -> int:
        return sum(f[2] for f in self.files())

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.root, rel))

    def enforce_cap(self) -> int:
        """Delete oldest segments until the spool fits ``max_bytes``; returns how many were dropped."""
        files = self.files()
        total = sum(f[2] for f in files)
        dropped = 0
        for rel, _name, size in files:
            if total <= self.max_bytes:
                break
            self.remove(rel)
            total -= size
            dropped += 1
        if dropped:
            log.warning("spool over %d bytes: dropped the %d oldest segment file(s)", self.max_bytes, dropped)
        return dropped

"""Move spooled segments to the sink (a local folder/PVC or s3://), oldest first, with backoff.

A segment is deleted from the spool only after the sink accepted it, under the same relative path; a crash
between the two steps re-uploads the same path, which overwrites rather than duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agent.spool import Spool

log = logging.getLogger("rightsizer.agent.uploader")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0


class Uploader:
    def __init__(self, spool: Spool, sink: str | object, *, clock: Callable[[], float] = time.time,
                 on_success: Callable[[int], None] | None = None, on_failure: Callable[[], None] | None = None):
        self.spool = spool
        self._sink_uri = sink if isinstance(sink, str) else None
        self._location = None if isinstance(sink, str) else sink
        self.clock = clock
        self.on_success = on_success or (lambda n: None)
        self.on_failure = on_failure or (lambda: None)
        self.backoff_s = 0.0
        self.next_attempt = float("-inf")
        self.failures = 0

    @property
    def location(self):
        if self._location is None:
            from store.location import open_location

            self._location = open_location(self._sink_uri, create=True)
        return self._location

    def run_once(self, *, force: bool = False) -> int:
        """Upload every spooled segment (oldest first) unless backing off; returns how many went up."""
        now = self.clock()
        if not force and now < self.next_attempt:
            return 0
        sent = 0
        for rel, _name, _size in self.spool.files():
            try:
                with open(f"{self.spool.root}/{rel}", "rb") as fh:
                    data = fh.read()
                self.location.write_atomic(rel, data)
            except FileNotFoundError:
                continue  # dropped by the spool cap meanwhile
            except Exception as exc:  # any sink error (OSError, botocore, UserError): back off and retry
                self.failures += 1
                self.backoff_s = min(BACKOFF_MAX_S, max(BACKOFF_START_S, self.backoff_s * 2))
                self.next_attempt = now + self.backoff_s
                self.on_failure()
                log.warning("upload to %s failed (%s); %d segment file(s) wait in the spool, next try in %.0f s",
                            self._sink_uri or "sink", exc, len(self.spool.files()), self.backoff_s)
                if sent:
                    self.on_success(sent)
                return sent
            self.spool.remove(rel)
            sent += 1
        self.backoff_s, self.next_attempt = 0.0, float("-inf")
        self.on_success(sent)  # the sink is caught up
        return sent

"""Move spooled segments to the sink (a local folder/PVC or s3://), oldest first, with backoff.

A segment is deleted from the spool only after the sink accepted it, under the same relative path; a crash
between the two steps re-uploads the same path, which overwrites rather than duplicates.

Every S3 request has connect and read timeouts and a bounded number of attempts (botocore's defaults are
60 s and up to 5 attempts, so one hung endpoint held a shutdown for minutes). Once ``cancel`` is set
(SIGTERM), botocore's own retries of a request in flight are refused and no further file is started.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent.spool import Spool

log = logging.getLogger("rightsizer.agent.uploader")

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0


class UploadCancelled(Exception):
    """A retry refused because the agent is shutting down."""


def s3_client(timeout_s: float, max_attempts: int, cancel: threading.Event):
    """The boto3 S3 client of the uploader: standard credential chain and endpoint settings (including
    ``AWS_ENDPOINT_URL_S3``), bounded timeouts, and retries that stop when ``cancel`` is set."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                              retries={"total_max_attempts": max_attempts, "mode": "standard"}))

    def refuse_retry_after_cancel(request, **_kwargs):
        attempt = (request.context.get("retries") or {}).get("attempt", 1)
        if attempt > 1 and cancel.is_set():
            raise UploadCancelled("shutting down: retry not attempted")

    client.meta.events.register("before-send.s3", refuse_retry_after_cancel)
    return client


class Uploader:
    def __init__(self, spool: Spool, sink: str | object, *, clock: Callable[[], float] = time.time,
                 on_success: Callable[[int, bool], None] | None = None,
                 on_failure: Callable[[], None] | None = None,
                 timeout_s: float = 10.0, max_attempts: int = 2):
        self.spool = spool
        self._sink_uri = sink if isinstance(sink, str) else None
        self._location = None if isinstance(sink, str) else sink
        self.clock = clock
        self.on_success = on_success or (lambda n, caught_up: None)  # files sent; spool empty?
        self.on_failure = on_failure or (lambda: None)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.cancel = threading.Event()
        self.backoff_s = 0.0
        self.next_attempt = float("-inf")
        self.failures = 0

    @property
    def location(self):
        if self._location is None:
            from store.location import open_location

            client = None
            if self._sink_uri.startswith("s3://"):
                client = s3_client(self.timeout_s, self.max_attempts, self.cancel)
            self._location = open_location(self._sink_uri, create=True, s3_client=client)
        return self._location

    def put(self, rel: str, data: bytes) -> None:
        """One object to the sink (used for segments the spool could not take)."""
        self.location.write_atomic(rel, data)

    def run_once(self, *, force: bool = False, deadline: float | None = None) -> int:
        """Upload every spooled segment (oldest first) unless backing off; returns how many went up.

        With ``deadline`` (a ``time.monotonic`` value) no file is started after it. Once ``cancel`` is set no
        file is started either, except by the final run of a shutdown (``force``).
        """
        now = self.clock()
        if not force and now < self.next_attempt:
            return 0
        sent = 0
        for f in self.spool.files():
            if (self.cancel.is_set() and not force) or (deadline is not None and time.monotonic() >= deadline):
                break
            with self.spool.lock:
                try:
                    with open(f"{self.spool.root}/{f.rel}", "rb") as fh:
                        data = fh.read()
                except FileNotFoundError:
                    continue  # dropped by the spool cap meanwhile
                self.spool.in_flight = f.rel
            try:
                self.location.write_atomic(f.rel, data)
            except Exception as exc:  # any sink error (OSError, botocore, UserError): back off and retry
                self.spool.in_flight = None
                self.failures += 1
                self.backoff_s = min(BACKOFF_MAX_S, max(BACKOFF_START_S, self.backoff_s * 2))
                self.next_attempt = now + self.backoff_s
                self.on_failure()
                log.warning("upload to %s failed (%s); %d segment file(s) wait in the spool, next try in %.0f s",
                            self._sink_uri or "sink", exc, len(self.spool.files()), self.backoff_s)
                if sent:
                    self.on_success(sent, False)
                return sent
            with self.spool.lock:
                self.spool.remove(f.rel)
                self.spool.in_flight = None
            sent += 1
        else:
            self.backoff_s, self.next_attempt = 0.0, float("-inf")
            self.on_success(sent, True)  # the sink is caught up
            return sent
        if sent:
            self.on_success(sent, False)
        return sent


class ShutdownProgress:
    """Rows the final-upload thread delivered, closed by the main thread at the deadline: rows the thread
    delivers after that were already counted as lost, so they are not counted twice."""

    def __init__(self):
        self._lock = threading.Lock()
        self._delivered = 0
        self._closed = False
        self.sent = 0

    def delivered(self, n: int) -> None:
        with self._lock:
            if not self._closed:
                self._delivered += n

    def close(self, total: int) -> tuple[int, int]:
        with self._lock:
            self._closed = True
            return self._delivered, total - self._delivered

"""Prometheus metrics (own registry) and the HTTP server for /metrics and /healthz.

Per-device gauges come from a custom collector over the latest tick's rows, so series of pods that went
away disappear at once instead of lingering with their last value.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("rightsizer.agent.metrics")

_LABELS = ("node", "gpu_uuid", "gpu_model", "mig_profile", "namespace", "pod", "container")
_GAUGES = (
    ("rightsizer_gpu_utilization_ratio", "GPU utilization (0..1; per-process share on a shared GPU)", "gpu_util"),
    ("rightsizer_gpu_sm_active_ratio", "GPM SM activity (0..1), Hopper and newer", "sm_active"),
    ("rightsizer_gpu_memory_used_bytes", "GPU memory used by the pod (whole device if unattributed)",
     "mem_used_bytes"),
    ("rightsizer_gpu_memory_total_bytes", "GPU (or MIG slice) memory capacity", "mem_total_bytes"),
    ("rightsizer_gpu_power_watts", "board power draw", "power_w"),
)


class _LatestGpuRows:
    def __init__(self):
        self.rows: list[dict] = []
        self.node = ""

    def collect(self):
        rows = self.rows
        for name, help_, col in _GAUGES:
            fam = GaugeMetricFamily(name, help_, labels=_LABELS)
            for r in rows:
                v = r.get(col)
                if v is not None:
                    fam.add_metric([self.node] + [r.get(k) or "" for k in _LABELS[1:]], float(v))
            yield fam


class AgentMetrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.samples = Counter("rightsizer_agent_samples", "rows sampled (all tables)", registry=r)
        self.ticks = Counter("rightsizer_agent_ticks", "sampling ticks run", registry=r)
        self.tick_seconds = Histogram("rightsizer_agent_tick_seconds", "wall time of one sampling tick",
                                      buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                                      registry=r)
        self.nvml_errors = Counter("rightsizer_agent_nvml_errors", "NVML errors by call and error",
                                   ["call", "error"], registry=r)
        self.gpu_metrics_enabled = Gauge("rightsizer_agent_gpu_metrics_enabled",
                                         "1 when NVML is initialised, 0 when GPU metrics are off", registry=r)
        self.attribution_errors = Counter("rightsizer_agent_attribution_errors",
                                          "pod-resources or Kubernetes API failures", ["source"], registry=r)
        self.flush_failures = Counter("rightsizer_agent_flush_failures", "spool writes that failed", registry=r)
        self.dropped_rows = Counter("rightsizer_agent_dropped_rows",
                                    "rows discarded unsent: sample segments over the spool cap, sample rows past "
                                    "the memory limit while the spool is unwritable, rows neither the spool nor "
                                    "the sink took at shutdown", registry=r)
        self.upload_failures = Counter("rightsizer_agent_upload_failures", "upload attempts that failed",
                                       registry=r)
        self.uploaded_segments = Counter("rightsizer_agent_uploaded_segments", "segment files uploaded",
                                         registry=r)
        self.spool_bytes = Gauge("rightsizer_agent_spool_bytes", "bytes waiting in the spool", registry=r)
        self.dropped_segments = Counter("rightsizer_agent_dropped_segments",
                                        "spooled segment files deleted unsent to respect the spool cap", registry=r)
        self.last_upload = Gauge("rightsizer_agent_last_successful_upload_timestamp_seconds",
                                 "Unix time of the last upload run that left the spool empty", registry=r)
        self.last_tick = Gauge("rightsizer_agent_last_tick_timestamp_seconds", "Unix time of the last tick",
                               registry=r)
        self.latest = _LatestGpuRows()
        r.register(self.latest)

    def nvml_error(self, call: str, error: str) -> None:
        self.nvml_errors.labels(call=call, error=error).inc()

    def dropped_rows_total(self) -> float:
        return self.registry.get_sample_value("rightsizer_agent_dropped_rows_total") or 0.0

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _DeadlineReader:
    """The request side of one connection: every read waits at most until the connection's deadline, so a
    client that sends its request slowly (or never) is cut off, however it spaces its bytes."""

    def __init__(self, raw, sock, deadline: float):
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(left)

    def readline(self, limit: int = -1) -> bytes:
        self._arm()
        return self._raw.readline(limit)

    def read(self, n: int = -1) -> bytes:
        self._arm()
        return self._raw.read(n)

    def close(self) -> None:
        self._raw.close()


class MetricsServer:
    """Serves /metrics and /healthz. /healthz is 200 while ticks keep coming, 503 when the loop stalls.

    Each connection gets ``request_timeout_s`` to send its request (whole, not per byte) and, for each write of
    the answer, that long again to read it; one request per connection (HTTP/1.0). At most ``max_connections``
    are served at once: a client beyond that gets a 503 at once instead of a thread, so slow or idle clients
    can neither exhaust the agent's threads nor keep Prometheus from scraping for longer than the timeout.
    """

    def __init__(self, metrics: AgentMetrics, address: str, port: int, *, stale_after_s: float,
                 request_timeout_s: float = 10.0, max_connections: int = 32):
        self.metrics = metrics
        self.stale_after_s = stale_after_s
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.last_tick_monotonic = time.monotonic()
        self._slots = threading.BoundedSemaphore(max_connections)
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = request_timeout_s  # socket timeout for writes (and the first read)

            def setup(self):
                super().setup()
                self.rfile = _DeadlineReader(self.rfile, self.connection,
                                             time.monotonic() + server.request_timeout_s)

            def handle(self):
                try:
                    super().handle()
                except (TimeoutError, ConnectionError):
                    self.close_connection = True  # a slow or vanished client: drop it, nothing to log

            def do_GET(self):
                self.connection.settimeout(server.request_timeout_s)  # the answer, per write
                if self.path.split("?")[0] == "/metrics":
                    body, ctype, code = server.metrics.text(), CONTENT_TYPE_LATEST, 200
                elif self.path.split("?")[0] in ("/healthz", "/livez", "/readyz"):
                    age = time.monotonic() - server.last_tick_monotonic
                    ok = age <= server.stale_after_s
                    body = (b"ok\n" if ok else f"no tick for {age:.0f} s\n".encode())
                    ctype, code = "text/plain; charset=utf-8", 200 if ok else 503
                else:
                    body, ctype, code = b"not found: try /metrics or /healthz\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):  # keep the agent's log for the agent
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def process_request(self, request, client_address):
                if not server._slots.acquire(blocking=False):
                    _refuse_busy(request)
                    self.shutdown_request(request)
                    return
                super().process_request(request, client_address)

            def handle_error(self, request, client_address):  # a client that vanished mid-answer
                log.debug("metrics client %s: connection error", client_address, exc_info=True)

            def process_request_thread(self, request, client_address):
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    server._slots.release()

        self.httpd = Server((address, port), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("serving /metrics and /healthz on %s:%d", self.httpd.server_address[0], self.port)

    def ticked(self) -> None:
        self.last_tick_monotonic = time.monotonic()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _refuse_busy(sock) -> None:
    body = b"too many connections\n"
    try:
        # Read the request the client sent at once: closing with unread bytes would reset the connection
        # before the client sees the 503. Briefly, because this runs on the accepting thread.
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            sock.recv(65536)
        sock.settimeout(1.0)
        sock.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    except OSError:
        pass

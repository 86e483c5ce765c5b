"""The agent's settings (flags and RIGHTSIZER_* environment variables map onto this)."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    sink: str
    spool_dir: str = "/var/lib/rightsizer/spool"
    spool_max_bytes: int = GIB
    interval_s: float = 1.0
    flush_interval_s: float = 60.0
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 9402
    pod_resources_socket: str = "/var/lib/kubelet/pod-resources/kubelet.sock"
    kubernetes: bool = True
    process_attribution: bool = True
    backend: str = "nvml"
    proc_root: str = "/proc"
    cgroup_root: str = "/sys/fs/cgroup"
    # How often device->pod allocations are re-read from the kubelet (also on every pod add/delete).
    pod_resources_refresh_s: float = 10.0
    # Rows held in memory while the spool cannot be written; beyond this the oldest failed batch is dropped
    # (counted) rather than growing until the pod is OOM-killed. ~200 bytes/row in lists: ~100 MiB.
    max_buffered_rows: int = 500_000
    # A gap longer than this many intervals is a gap, not one long sample.
    max_interval_factor: float = 5.0
    # Connect and read timeout of each request to an s3:// sink: a hung endpoint fails one attempt after
    # this long instead of botocore's 60 s, so the uploader backs off and shutdown stays bounded.
    upload_timeout_s: float = 10.0
    # Attempts botocore makes per request (1 = no retry of its own; the uploader retries with backoff).
    upload_max_attempts: int = 2
    # SIGTERM to exit: the final flush and upload stop after this long (below the pod's grace period,
    # 60 s in the chart, and systemd's TimeoutStopSec=60); what is not shipped by then stays in the spool.
    shutdown_timeout_s: float = 30.0
    # A /metrics or /healthz client must send its request within this many seconds and read the answer
    # at least this fast, or the connection is closed (a slow or idle client cannot hold the server).
    metrics_request_timeout_s: float = 10.0

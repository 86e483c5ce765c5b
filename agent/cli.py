"""``rightsizer-agent``: the node agent's command line (flags, with RIGHTSIZER_* environment fallbacks)."""

from __future__ import annotations

import argparse
import importlib.abc
import logging
import os
import re
import signal
import socket
import sys
import threading

from store.errors import UserError

DESCRIPTION = """\
Sample GPUs (NVML), containers (cgroups) and pods on this node every --interval-s, attribute each GPU
to the pod using it, and ship v1 dataset segments to --sink every --flush-interval-s (through a bounded
local spool, so a sink outage loses nothing). Serves Prometheus /metrics and /healthz.

Every flag can also be set from the environment as RIGHTSIZER_<FLAG> (e.g. RIGHTSIZER_SINK,
RIGHTSIZER_INTERVAL_S); --node-name also reads NODE_NAME (the downward API's spec.nodeName)."""

EPILOG = """\
examples:
  # try it without a GPU or a cluster: scripted fake GPUs, segments every 5 s into ./data
  rightsizer-agent --backend fake --no-kubernetes --sink ./data --spool-dir ./spool \\
      --interval-s 1 --flush-interval-s 5
  # in the DaemonSet (NODE_NAME from the downward API)
  rightsizer-agent --sink s3://my-bucket/rightsizer
fake scenarios: """


# Node names are DNS subdomains (the same rule the dataset writer enforces for partition paths).
_NODE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")


def _env(name: str, default=None):
    return os.environ.get("RIGHTSIZER_" + name.upper().replace("-", "_"), default)


def _bool_env(name: str) -> bool:
    return str(_env(name, "")).lower() in ("1", "true", "yes", "on")


def _size(text: str) -> int:
    units = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
    t = str(text).strip().lower().removesuffix("b")
    num = t.rstrip("kmgti")
    unit = t[len(num):]
    try:
        value = int(float(num) * units[unit])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 1073741824, 512Mi, 1Gi)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rightsizer")
    except PackageNotFoundError:  # run from a source tree that was never pip-installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from agent.gpu.scenarios import SCENARIOS

    epilog = EPILOG + ", ".join(f"{n} ({s.description})" for n, s in SCENARIOS.items())
    p = argparse.ArgumentParser(prog="rightsizer-agent", description=DESCRIPTION, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"rightsizer-agent {package_version()}")
    g = p.add_argument_group("where data goes")
    g.add_argument("--node-name", metavar="NAME", default=_env("node-name", os.environ.get("NODE_NAME")),
                   help="this node's name (default: $NODE_NAME, else the host name)")
    g.add_argument("--sink", metavar="DIR|s3://BUCKET/PREFIX", default=_env("sink"), help="dataset root: a folder (PVC) or s3://bucket/prefix")
    g.add_argument("--spool-dir", metavar="DIR", default=_env("spool-dir", "/var/lib/rightsizer/spool"),
                   help="local spool for segments not yet uploaded (default: %(default)s)")
    g.add_argument("--spool-max-bytes", metavar="SIZE", type=_size, default=_env("spool-max-bytes", "1Gi"),
                   help="spool cap; the oldest segments are dropped (and counted) beyond it (default: 1Gi)")
    g = p.add_argument_group("timing")
    g.add_argument("--interval-s", metavar="SECONDS", type=_positive, default=_env("interval-s", "1"),
                   help="sampling interval in seconds (default: %(default)s)")
    g.add_argument("--flush-interval-s", metavar="SECONDS", type=_positive, default=_env("flush-interval-s", "60"),
                   help="seconds between segments; a kill -9 loses at most this much (default: %(default)s)")
    g.add_argument("--upload-timeout-s", metavar="SECONDS", type=_positive, default=_env("upload-timeout-s", "10"),
                   help="connect and read timeout of each request to an s3:// sink (default: %(default)s)")
    g.add_argument("--shutdown-timeout-s", metavar="SECONDS", type=_positive,
                   default=_env("shutdown-timeout-s", "30"),
                   help="on SIGTERM, stop uploading after this long; the rest stays in the spool for the next "
                        "start. Keep it below the pod's terminationGracePeriodSeconds (default: %(default)s)")
    g = p.add_argument_group("metrics")
    g.add_argument("--metrics-address", metavar="ADDR", default=_env("metrics-address", "0.0.0.0"),
                   help="listen address for /metrics and /healthz (default: %(default)s)")
    g.add_argument("--metrics-port", metavar="PORT", type=int, default=_env("metrics-port", "9402"),
                   help="port for /metrics and /healthz; 0 picks a free one (default: %(default)s)")
    g = p.add_argument_group("sources")
    g.add_argument("--backend", metavar="nvml|fake[:SCENARIO]", default=_env("backend", "nvml"),
                   help="GPU source: nvml, or fake[:SCENARIO] for scripted GPUs (default: %(default)s)")
    g.add_argument("--pod-resources-socket", metavar="PATH", default=_env("pod-resources-socket", "/var/lib/kubelet/pod-resources/kubelet.sock"),
                   help="kubelet pod-resources socket, maps GPUs to pods (default: %(default)s)")
    g.add_argument("--no-kubernetes", action="store_true", default=_bool_env("no-kubernetes"),
                   help="do not call the Kubernetes API (GPUs and processes are still recorded)")
    g.add_argument("--no-process-attribution", action="store_true", default=_bool_env("no-process-attribution"),
                   help="do not map GPU processes to pods through /proc (needs hostPID otherwise)")
    g.add_argument("--proc-root", metavar="DIR", default=_env("proc-root", "/proc"), help="host /proc (default: %(default)s)")
    g.add_argument("--cgroup-root", metavar="DIR", default=_env("cgroup-root", "/sys/fs/cgroup"),
                   help="host cgroup mount (default: %(default)s)")
    p.add_argument("--log-level", default=_env("log-level", "info"),
                   choices=["debug", "info", "warning", "error"], help="(default: %(default)s)")
    return p


def config_from_args(args):
    from agent.config import AgentConfig
    from agent.gpu.scenarios import SCENARIOS

    if not args.sink:
        raise UserError("--sink is required (a folder or s3://bucket/prefix; env RIGHTSIZER_SINK)")
    kind, _, scenario = args.backend.partition(":")
    if kind not in ("nvml", "fake") or (kind == "nvml" and scenario):
        raise UserError(f"--backend {args.backend!r}: expected nvml or fake[:SCENARIO]")
    if kind == "fake" and scenario and scenario not in SCENARIOS:
        raise UserError(f"--backend {args.backend!r}: unknown scenario '{scenario}' "
                        f"(known: {', '.join(SCENARIOS)})")
    if not 0 <= args.metrics_port <= 65535:
        raise UserError(f"--metrics-port {args.metrics_port}: not a port number")
    node = args.node_name or socket.gethostname()
    if not _NODE_NAME.match(node):
        raise UserError(f"--node-name {node!r}: not a valid Kubernetes node name (set NODE_NAME or --node-name)")
    return AgentConfig(node_name=node, sink=args.sink, spool_dir=args.spool_dir, spool_max_bytes=args.spool_max_bytes,
                       interval_s=args.interval_s, flush_interval_s=args.flush_interval_s,
                       upload_timeout_s=args.upload_timeout_s, shutdown_timeout_s=args.shutdown_timeout_s,
                       metrics_address=args.metrics_address, metrics_port=args.metrics_port,
                       pod_resources_socket=args.pod_resources_socket, kubernetes=not args.no_kubernetes,
                       process_attribution=not args.no_process_attribution, backend=args.backend,
                       proc_root=args.proc_root, cgroup_root=args.cgroup_root)


def keep_light() -> None:
    """Keep pandas out of the agent process.

    pyarrow imports pandas (~100 MiB RSS, ~1 s CPU) the first time ``pa.array`` is called, only to ask whether
    the input is a DataFrame. The agent never hands it one, so importing pandas fails here and pyarrow
    skips those checks. Only the agent's own process does this (``main``), never a library import.
    """
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"{name} is kept out of the rightsizer-agent process")
        return None


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM/SIGINT end the loop; the agent then flushes to the spool and uploads (for at most
    --shutdown-timeout-s) before exiting 0."""
    def handler(signum, frame):
        logging.getLogger("rightsizer.agent").info("received %s: final flush and upload", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> int:
    keep_light()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
        from agent.attribution.kubeapi import KubeError
        from agent.loop import Agent
        from agent.metrics import MetricsServer

        try:
            agent = Agent(config)
        except OSError as exc:
            raise UserError(f"--spool-dir {config.spool_dir}: {exc.strerror or exc}") from None
        stop = threading.Event()
        install_signal_handlers(stop)
        try:
            agent.start()
        except KubeError as exc:
            raise UserError(f"Kubernetes API: {exc}") from None
        try:
            server = MetricsServer(agent.metrics, config.metrics_address, config.metrics_port,
                                   stale_after_s=max(30.0, 10 * config.interval_s),
                                   request_timeout_s=config.metrics_request_timeout_s)
        except OSError as exc:
            raise UserError(f"cannot listen on {config.metrics_address}:{config.metrics_port}: {exc}") from None
        server.start()
        agent.run(stop, on_tick=server.ticked)
        server.stop()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

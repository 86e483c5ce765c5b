"""A real Prometheus (the Debian ``prometheus`` binary) serving a simulated cluster's history.

The TSDB is built with ``promtool tsdb create-blocks-from openmetrics`` from the OpenMetrics text that
``exposition.convert`` writes; the server runs on 127.0.0.1 with no scrape targets and a 100-year
retention (the default 15 days would delete the backfilled blocks at once).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.prometheus.cluster import add_mig_and_shared
from tests.prometheus.exposition import convert
from tests.prometheus.llm_cluster import add_llm_servers
from tests.tools import require_tool

START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 2
STEP = 600


@dataclass(frozen=True)
class Original:
    root: str
    start: datetime
    end: datetime
    step_s: int
    mig_parents: dict
    llm: tuple  # llm_cluster.Serving of each LLM serving pod


@dataclass(frozen=True)
class Server:
    url: str
    original: Original
    log: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(log: str) -> str:
    with open(log) as fh:
        return fh.read()[-2000:]


def wait_ready(url: str, proc: subprocess.Popen, log: str, deadline_s: float = 120.0) -> None:
    """Poll /-/ready until the server says so (or exits, or the deadline passes)."""
    give_up = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {proc.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > give_up:
            raise RuntimeError(f"prometheus not ready after {deadline_s:.0f} s: {_tail(log)}")
        time.sleep(0.1)


def start_prometheus(tsdb: str, workdir: str) -> tuple[subprocess.Popen, str, str]:
    prometheus = require_tool("prometheus")
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as fh:
        fh.write("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = os.path.join(workdir, "prometheus.log")
    with open(log, "w") as out:
        proc = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
                                 "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
                                 "--query.max-samples=200000000"],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, url, log


def build_tsdb(openmetrics: str, tsdb: str) -> None:
    promtool = require_tool("promtool")
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=504h",
                           openmetrics, tsdb], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"promtool failed: {done.stderr[-2000:] or done.stdout[-2000:]}")


HPA_CHANGE = START + timedelta(hours=27)  # the second listing: one HPA's minimum lowered, another deleted


def add_autoscalers(root: str) -> None:
    """Two listings of HPAs on the simulated Deployments, as the API returns them (``spec.metrics``)."""
    import pyarrow.compute as pc

    from recommender.autoscalers import HPA, Autoscaler, write_autoscalers
    from store.reader import Dataset

    pods = Dataset(root).read("pods")
    deployments = sorted(set(zip(*(pc.filter(pods.column(c), pc.equal(pods.column("workload_kind"), "Deployment"))
                                   .to_pylist() for c in ("namespace", "workload_name")), strict=True)))
    (ns_a, a), (ns_b, b) = deployments[:2]
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    rps = {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                                    "target": {"type": "AverageValue", "averageValue": "10"}}}
    rps["pods"]["target"]["averageValue"] = "2500m"  # a fractional target: KSM's 2.5, back as the API writes it
    queue = {"type": "External", "external": {"metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": "30"}}}
    first = [Autoscaler(ns_a, HPA, f"{a}-hpa", "Deployment", a, 2, 6, [cpu, rps]),
             Autoscaler(ns_b, HPA, f"{b}-hpa", "Deployment", b, 1, 3, [queue])]
    write_autoscalers(root, first, START)
    write_autoscalers(root, [Autoscaler(ns_a, HPA, f"{a}-hpa", "Deployment", a, 1, 6, [cpu, rps])], HPA_CHANGE)


@pytest.fixture(scope="session")
def original(tmp_path_factory) -> Original:
    from simulator import simulate

    root = str(tmp_path_factory.mktemp("original") / "data")
    simulate(root, nodes=12, days=DAYS, interval_s=STEP, seed=3, start=START, workers=1)
    # The LLM series this fixture exposes are those of its own serving pods (llm_cluster: every server and
    # label dialect); the simulator's TGI rows have no series in the exposition, so they leave the original.
    shutil.rmtree(os.path.join(root, "tokens"), ignore_errors=True)
    parents = add_mig_and_shared(root, START, DAYS, STEP)
    llm = add_llm_servers(root, START, DAYS, STEP)
    add_autoscalers(root)
    return Original(root, START, START + timedelta(days=DAYS), STEP, parents, llm)


@pytest.fixture(scope="session")
def prometheus(original, tmp_path_factory) -> Server:
    require_tool("prometheus")
    require_tool("promtool")
    work = tmp_path_factory.mktemp("prometheus")
    om = str(work / "history.om")
    convert(original.root, om, original.step_s, mig_parents=original.mig_parents,
            end_s=original.end.timestamp(), llm=original.llm)
    tsdb = str(work / "tsdb")
    build_tsdb(om, tsdb)
    proc, url, log = start_prometheus(tsdb, str(work))
    yield Server(url, original, log)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
